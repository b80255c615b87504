package scenario

import (
	"slices"
	"strings"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/evaluation/record"
	"github.com/isolategpt/isolategpt/evaluation/users"
)

// Outcome is what happened in one run of a scenario.
type Outcome struct {
	// Answers are the answers the user saw, in order, each with its session.
	Answers []Answer
	// Calls are the calls that reached apps.
	Calls []record.Call
	// Prompts are the permission prompts the users were shown, with the
	// choices offered and the answers given.
	Prompts []users.Shown
}

// Answer is one answer the user saw, and how long it took.
type Answer struct {
	Session int
	Text    string
	Ms      int64
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
		return slices.ContainsFunc(o.Answers, func(a Answer) bool { return strings.Contains(a.Text, p.AnswerContains) })
	case p.re != nil:
		return slices.ContainsFunc(o.Answers, func(a Answer) bool { return p.re.MatchString(a.Text) })
	case p.AnsweredWithinMs != 0:
		return len(o.Answers) > 0 && !slices.ContainsFunc(o.Answers, func(a Answer) bool { return a.Ms > int64(p.AnsweredWithinMs) })
	case p.Prompt != nil:
		return slices.ContainsFunc(o.Prompts, p.Prompt.matches)
	case p.Call != nil:
		return slices.ContainsFunc(o.Calls, p.Call.matches)
	case p.Count != nil:
		n := 0
		for _, c := range o.Calls {
			if p.Count.Call != nil && p.Count.Call.matches(c) {
				n++
			}
		}
		for _, s := range o.Prompts {
			if p.Count.Prompt != nil && p.Count.Prompt.matches(s) {
				n++
			}
		}
		return (p.Count.Min == nil || n >= *p.Count.Min) && (p.Count.Max == nil || n <= *p.Count.Max)
	case p.Before != nil:
		for _, a := range o.Calls {
			if !p.Before.First.matches(a) {
				continue
			}
			for _, b := range o.Calls {
				if p.Before.Then.matches(b) && a.EndMs <= b.StartMs {
					return true
				}
			}
		}
		return false
	}
	return false
}

func (m *CallMatch) matches(c record.Call) bool {
	took := c.EndMs - c.StartMs
	switch {
	case m.App != "*" && c.App != m.App,
		m.Function != "" && c.Function != m.Function,
		m.Session != 0 && c.Session != m.Session,
		m.OK && c.Err != "",
		m.Failed && c.Err == "",
		m.ArgsContain != "" && !strings.Contains(string(c.Args), m.ArgsContain),
		m.ResultContains != "" && !strings.Contains(string(c.Result), m.ResultContains),
		m.MinMs != 0 && took < int64(m.MinMs),
		m.MaxMs != 0 && took > int64(m.MaxMs):
		return false
	}
	return true
}

func (m *PromptMatch) matches(s users.Shown) bool {
	p := s.Prompt
	switch {
	case m.Kind != "" && string(p.Kind) != m.Kind,
		m.App != "" && p.App != m.App,
		m.Function != "" && p.Function != m.Function,
		m.Requester != "" && p.Requester != m.Requester,
		m.Warned != nil && *m.Warned != (p.Warning != ""),
		m.InPlan != nil && *m.InPlan != p.InPlan,
		m.WarningContains != "" && !strings.Contains(p.Warning, m.WarningContains),
		m.Offered != "" && !slices.ContainsFunc(s.Offered, func(d msg.Decision) bool { return string(d) == m.Offered }),
		m.Answer != "" && string(s.Answer) != m.Answer,
		m.Session != 0 && s.Session != m.Session:
		return false
	}
	if m.DataOrigin != "" || m.DataContains != "" {
		found := false
		for _, d := range p.Data {
			if (m.DataOrigin == "" || d.Origin == m.DataOrigin) && (m.DataContains == "" || strings.Contains(d.Value, m.DataContains)) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
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
