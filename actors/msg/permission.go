package msg

import (
	"fmt"
	"strings"
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
// values in Data that came from an app are marked by their Origin.
type Prompt struct {
	Kind Kind `json:"kind"`
	// App and Function are what would run, or receive the data.
	App      string `json:"app"`
	Function string `json:"function,omitempty"`
	// Requester is the app asking to use App (collab).
	Requester string `json:"requester,omitempty"`
	// Origin is where the data comes from: "user", or "app.function".
	Origin string     `json:"origin,omitempty"`
	Data   []DataItem `json:"data,omitempty"`
	// Task is the agent task the planner wrote for an agent step.
	Task string `json:"task,omitempty"`
	// Effect is "write" for functions with side effects; permanent grants
	// are not offered for them.
	Effect string `json:"effect,omitempty"`
	// InPlan is true when the flow is a step of the query's plan.
	InPlan  bool   `json:"in_plan"`
	Warning string `json:"warning,omitempty"`
	// Pin is, for a Pin prompt, the hash of the tools that would be pinned.
	Pin string `json:"pin,omitempty"`
}

// DataItem is one value shown in a prompt.
type DataItem struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Origin string `json:"origin"`
}

// Target is "app.function", or "app" for an agent step.
func (p Prompt) Target() string {
	if p.Function == "" {
		return p.App + ".*"
	}
	return p.App + "." + p.Function
}

// Key identifies what a grant covers: the kind and the flow, never the
// values. Session and permanent grants are stored under it.
func (p Prompt) Key() string {
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

// PermanentAllowed reports whether "always allow" may be offered: not for
// actions with side effects, and not for flows outside the plan.
func (p Prompt) PermanentAllowed() bool {
	return p.Kind != Pin && p.Effect != "write" && p.InPlan
}
