package scenario

import (
	"strings"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/evaluation/record"
)

// Outcome is what happened in one run of a scenario.
type Outcome struct {
	// Answers are the answers the user saw, in order, each with its session.
	Answers []Answer
	// Calls are the calls that reached apps.
	Calls []record.Call
	// Prompts are the permission prompts the user was shown.
	Prompts []msg.Prompt
}

// Answer is one answer the user saw.
type Answer struct {
	Session int
	Text    string
}

// Holds reports whether p is true of o.
func (p *Predicate) Holds(o *Outcome) bool {
	switch {
	case p.All != nil:
		for _, c := range p.All {
			if !c.Holds(o) {
				return false
			}
		}
		return true
	case p.Any != nil:
		for _, c := range p.Any {
			if c.Holds(o) {
				return true
			}
		}
		return false
	case p.Not != nil:
		return !p.Not.Holds(o)
	case p.AnswerContains != "":
		for _, a := range o.Answers {
			if strings.Contains(a.Text, p.AnswerContains) {
				return true
			}
		}
		return false
	case p.re != nil:
		for _, a := range o.Answers {
			if p.re.MatchString(a.Text) {
				return true
			}
		}
		return false
	case p.Prompt != nil:
		for _, pr := range o.Prompts {
			if p.Prompt.matches(pr) {
				return true
			}
		}
		return false
	case p.Call != nil:
		for _, c := range o.Calls {
			if p.Call.matches(c) {
				return true
			}
		}
		return false
	}
	return false
}

func (m *CallMatch) matches(c record.Call) bool {
	switch {
	case m.App != "*" && c.App != m.App,
		m.Function != "" && c.Function != m.Function,
		m.Session != 0 && c.Session != m.Session,
		m.OK && c.Err != "",
		m.ArgsContain != "" && !strings.Contains(string(c.Args), m.ArgsContain):
		return false
	}
	return true
}

func (m *PromptMatch) matches(p msg.Prompt) bool {
	switch {
	case m.Kind != "" && string(p.Kind) != m.Kind,
		m.App != "" && p.App != m.App,
		m.Function != "" && p.Function != m.Function,
		m.Warned != nil && *m.Warned != (p.Warning != ""):
		return false
	}
	if m.HubTextContains != "" {
		for _, f := range []string{string(p.Kind), p.App, p.Function, p.Requester, p.Origin, p.Task, p.Warning} {
			if strings.Contains(f, m.HubTextContains) {
				return true
			}
		}
		return false
	}
	return true
}
