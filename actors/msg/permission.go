package msg

import (
	"fmt"
	"strings"

	"github.com/isolategpt/isolategpt/engine/label"
)

// Kind is what a permission is for.
type Kind string

// The permission kinds.
const (
	// Exec: run an app's function.
	Exec Kind = "exec"
	// Data: share a value with an app.
	Data Kind = "data"
	// Collab: one app uses another app's function.
	Collab Kind = "collab"
)

// Decision is the user's answer to a prompt.
type Decision string

// The decisions a user can make.
const (
	AllowOnce    Decision = "allow_once"
	AllowSession Decision = "allow_session"
	AllowAlways  Decision = "allow_always"
	Deny         Decision = "deny"
)

// Allows reports whether the decision lets the flow happen.
func (d Decision) Allows() bool {
	return d == AllowOnce || d == AllowSession || d == AllowAlways
}

// ParseDecision reads a decision name.
func ParseDecision(s string) (Decision, error) {
	switch d := Decision(strings.TrimSpace(s)); d {
	case AllowOnce, AllowSession, AllowAlways, Deny:
		return d, nil
	}
	return "", fmt.Errorf("unknown decision %q (want allow_once, allow_session, allow_always or deny)", s)
}

// Prompt is what the user is asked. Every field is written by the hub;
// every value in Data carries the labels of where it came from.
type Prompt struct {
	Kind Kind `json:"kind"`
	// App and Function are what would run, or receive the data.
	App      string `json:"app"`
	Function string `json:"function,omitempty"`
	// Requester is the app asking to use App (collab).
	Requester string `json:"requester,omitempty"`
	// Origin is, for a data prompt, the one source whose values it is
	// about: "query", "memory", or "app.function".
	Origin string     `json:"origin,omitempty"`
	Data   []DataItem `json:"data,omitempty"`
	// Task is the agent task the planner wrote for an agent step, and
	// TaskLabels where its text came from.
	Task       string    `json:"task,omitempty"`
	TaskLabels label.Set `json:"task_labels,omitempty"`
	// Chosen is, for a call on an operator's choice, the labels of the
	// values the hub compared to choose the app.
	Chosen label.Set `json:"chosen,omitempty"`
	// Effect is "write" for functions with side effects; permanent grants
	// are not offered for them.
	Effect string `json:"effect,omitempty"`
	// InPlan is true when the request is a step of the query's plan, run
	// as the plan wrote it. ChosenBy names the app whose spoke, assistant
	// or ISC request chose the action; empty when the plan did.
	InPlan   bool   `json:"in_plan"`
	ChosenBy string `json:"chosen_by,omitempty"`
	// Step is the plan step the request serves ("" for ISC).
	Step    string `json:"step,omitempty"`
	Warning string `json:"warning,omitempty"`
	// Pin is, for a Pin prompt, the hash of the tools that would be pinned.
	Pin string `json:"pin,omitempty"`
}

// DataItem is one value shown in a prompt. Value is the hub's rendering of
// it (engine/untrusted: strings quoted and escaped); Origin its sources
// written out ("query", "planner", "memory", "app.function", comma
// separated); Labels where it came from.
type DataItem struct {
	Name   string    `json:"name"`
	Value  string    `json:"value"`
	Origin string    `json:"origin"`
	Labels label.Set `json:"labels,omitempty"`
}

// Target is "app.function", or "app.*" for an agent step.
func (p Prompt) Target() string {
	if p.Function == "" {
		return p.App + ".*"
	}
	return p.App + "." + p.Function
}

// Key identifies what a grant covers: everything the prompt showed but
// the values — the kind and the flow, who chose it, whether it was the
// plan's step, where each value came from and whether it was warned.
// Session and permanent grants are stored under it; a request that differs
// in any of these is asked again.
func (p Prompt) Key() string {
	by := "plan"
	if p.ChosenBy != "" {
		by = "app:" + p.ChosenBy
	}
	var from label.Set
	for _, d := range p.Data {
		from = from.Union(d.Labels)
	}
	from = from.Union(p.TaskLabels, p.Chosen)
	return fmt.Sprintf("%s|by=%s|in_plan=%t|from=%s|warned=%t", p.LegacyKey(), by, p.InPlan, strings.Join(from.Sources(), ","), p.Warning != "")
}

// LegacyKey is the kind and the flow only: the grant key before labels,
// used only when the evaluation switches the grant_scope defence off.
func (p Prompt) LegacyKey() string {
	switch p.Kind {
	case Data:
		return fmt.Sprintf("data:%s>%s", p.Origin, p.Target())
	case Collab:
		return fmt.Sprintf("collab:%s>%s", p.Requester, p.Target())
	case Pin:
		// A grant covers exactly these tools, never a later change.
		return fmt.Sprintf("pin:%s>%s", p.App, p.Pin)
	default:
		return "exec:" + p.Target()
	}
}

// SessionAllowed reports whether "allow session" may be offered: never for
// a request the hub warns about, nor for a pin.
func (p Prompt) SessionAllowed() bool {
	return p.Kind != Pin && p.Warning == ""
}

// PermanentAllowed reports whether "always allow" may be offered: only
// for a read step of the plan, as the plan wrote it, that the hub does not
// warn about.
func (p Prompt) PermanentAllowed() bool {
	return p.SessionAllowed() && p.Effect != "write" && p.InPlan && p.ChosenBy == ""
}

// Choices are the decisions a prompt offers a person, Deny last: "allow
// session" and "always allow" only where the prompt permits such a grant,
// never on a warned prompt.
func (p Prompt) Choices() []Decision {
	c := []Decision{AllowOnce}
	if p.SessionAllowed() {
		c = append(c, AllowSession)
	}
	if p.PermanentAllowed() {
		c = append(c, AllowAlways)
	}
	return append(c, Deny)
}

// Answerer says who answered a prompt.
type Answerer string

// Who can answer a prompt.
const (
	// ByPerson: a person chose (a terminal, the TUI, a simulated person).
	ByPerson Answerer = "person"
	// ByRule: a rule of a policy file that names this kind of prompt.
	ByRule Answerer = "rule"
	// ByDefault: an answer given without anyone looking at this prompt —
	// --yes, a policy's default.
	ByDefault Answerer = "default"
)
