// Package users are the evaluation's simulated users: front ends that
// answer every permission prompt by a fixed habit, as people do, and
// record each prompt they were shown, the choices it offered and their
// answer.
package users

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/isolategpt/isolategpt/actors/frontend"
	"github.com/isolategpt/isolategpt/actors/msg"
)

// The simulated users.
const (
	// ApprovesAll allows every prompt once.
	ApprovesAll = "approves-all"
	// DeniesWarned denies every prompt the hub marks with a warning and
	// allows the others once (the original artifact evaluation's instruction).
	DeniesWarned = "denies-warned"
	// SessionUnwarned allows every unwarned prompt for the whole session
	// (once, where the session is not offered) and denies warned ones: a
	// careful user who wants fewer prompts.
	SessionUnwarned = "session-unwarned"
	// AlwaysAllow takes the broadest choice offered: "always", else
	// "session", else "once"; it never denies.
	AlwaysAllow = "always-allow"
	// Fatigued denies warned prompts like DeniesWarned for the first
	// FatigueAfter prompts of a query, then allows everything once.
	Fatigued = "fatigued"
)

// FatigueAfter is how many prompts of one query a fatigued user reads.
const FatigueAfter = 3

// All lists the simulated users in table order.
var All = []string{ApprovesAll, DeniesWarned, SessionUnwarned, AlwaysAllow, Fatigued}

// Describe says in a line how a simulated user answers.
func Describe(kind string) string {
	switch kind {
	case ApprovesAll:
		return "allows every prompt once"
	case DeniesWarned:
		return "denies every warned prompt, allows the others once"
	case SessionUnwarned:
		return "allows every unwarned prompt for the session, denies warned ones"
	case AlwaysAllow:
		return `takes the broadest choice offered ("always", else "session", else "once"), never denies`
	case Fatigued:
		return fmt.Sprintf("denies warned prompts for the first %d prompts of a query, then allows everything once", FatigueAfter)
	}
	return ""
}

// Known reports whether kind names a simulated user.
func Known(kind string) bool { return Describe(kind) != "" }

// Shown is one prompt as the user saw it, and what they answered.
type Shown struct {
	// Session is the scenario session it was shown in (1-based), QueryID
	// the query it was for.
	Session int        `json:"session"`
	QueryID string     `json:"query_id"`
	Prompt  msg.Prompt `json:"prompt"`
	// Offered are the choices the prompt offered, Deny last.
	Offered []msg.Decision `json:"offered"`
	Answer  msg.Decision   `json:"answer"`
}

// User is a simulated user.
type User struct {
	kind    string
	mu      sync.Mutex
	session int
	seen    []Shown
	perQ    map[string]int
}

var _ frontend.Prompter = (*User)(nil)

// New returns the simulated user of that kind.
func New(kind string) (*User, error) {
	if !Known(kind) {
		return nil, fmt.Errorf("unknown simulated user %q (want %s)", kind, strings.Join(All, ", "))
	}
	return &User{kind: kind, perQ: map[string]int{}}, nil
}

// Kind is the user's habit.
func (u *User) Kind() string { return u.kind }

// SetSession numbers the prompts that follow (1-based).
func (u *User) SetSession(n int) {
	u.mu.Lock()
	u.session = n
	u.mu.Unlock()
}

// Prompt answers one prompt.
func (u *User) Prompt(ctx context.Context, r *msg.PromptRequest) (msg.Decision, error) {
	if err := ctx.Err(); err != nil {
		return msg.Deny, err
	}
	offered := r.Prompt.Choices()
	u.mu.Lock()
	defer u.mu.Unlock()
	u.perQ[r.QueryID]++
	d := u.decide(r.Prompt, offered, u.perQ[r.QueryID])
	u.seen = append(u.seen, Shown{Session: u.session, QueryID: r.QueryID, Prompt: r.Prompt, Offered: offered, Answer: d})
	return d, nil
}

// decide is the habit; nth counts this query's prompts, this one included.
func (u *User) decide(p msg.Prompt, offered []msg.Decision, nth int) msg.Decision {
	warned := p.Warning != ""
	switch u.kind {
	case DeniesWarned:
		if warned {
			return msg.Deny
		}
	case SessionUnwarned:
		if warned {
			return msg.Deny
		}
		return broadest(offered, msg.AllowSession)
	case AlwaysAllow:
		return broadest(offered, msg.AllowAlways, msg.AllowSession)
	case Fatigued:
		if warned && nth <= FatigueAfter {
			return msg.Deny
		}
	}
	return msg.AllowOnce
}

// broadest is the first of the wanted choices the prompt offers, or
// "allow once", which every prompt offers.
func broadest(offered []msg.Decision, want ...msg.Decision) msg.Decision {
	for _, w := range want {
		if slices.Contains(offered, w) {
			return w
		}
	}
	return msg.AllowOnce
}

// Shown returns the prompts the user was shown, in order.
func (u *User) Shown() []Shown {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Shown(nil), u.seen...)
}

// Warned counts the prompts that carried a warning.
func (u *User) Warned() int {
	n := 0
	for _, s := range u.Shown() {
		if s.Prompt.Warning != "" {
			n++
		}
	}
	return n
}
