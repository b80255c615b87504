// Package users are the evaluation's simulated users: front ends that
// answer every permission prompt the same way and count what they were
// shown.
package users

import (
	"context"
	"fmt"
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
)

// All lists the simulated users in table order.
var All = []string{ApprovesAll, DeniesWarned}

// User is a simulated user.
type User struct {
	kind string
	mu   sync.Mutex
	seen []msg.Prompt
}

var _ frontend.Prompter = (*User)(nil)

// New returns the simulated user of that kind.
func New(kind string) (*User, error) {
	switch kind {
	case ApprovesAll, DeniesWarned:
		return &User{kind: kind}, nil
	}
	return nil, fmt.Errorf("unknown simulated user %q (want %s or %s)", kind, ApprovesAll, DeniesWarned)
}

// Prompt answers one prompt.
func (u *User) Prompt(ctx context.Context, r *msg.PromptRequest) (msg.Decision, error) {
	if err := ctx.Err(); err != nil {
		return msg.Deny, err
	}
	u.mu.Lock()
	u.seen = append(u.seen, r.Prompt)
	u.mu.Unlock()
	if u.kind == DeniesWarned && r.Prompt.Warning != "" {
		return msg.Deny, nil
	}
	return msg.AllowOnce, nil
}

// Shown returns the prompts the user was shown, in order.
func (u *User) Shown() []msg.Prompt {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]msg.Prompt(nil), u.seen...)
}

// Warned counts the prompts that carried a warning.
func (u *User) Warned() int {
	n := 0
	for _, p := range u.Shown() {
		if p.Warning != "" {
			n++
		}
	}
	return n
}
