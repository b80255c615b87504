package users

import (
	"testing"

	"github.com/isolategpt/isolategpt/actors/msg"
)

func TestUsers(t *testing.T) {
	warned := &msg.PromptRequest{Prompt: msg.Prompt{Kind: msg.Collab, Warning: "not part of the plan"}}
	plain := &msg.PromptRequest{Prompt: msg.Prompt{Kind: msg.Exec}}
	cases := []struct {
		kind        string
		warned, all msg.Decision
	}{
		{ApprovesAll, msg.AllowOnce, msg.AllowOnce},
		{DeniesWarned, msg.Deny, msg.AllowOnce},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			u, err := New(tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			if d, _ := u.Prompt(t.Context(), warned); d != tc.warned {
				t.Errorf("warned prompt: %s", d)
			}
			if d, _ := u.Prompt(t.Context(), plain); d != tc.all {
				t.Errorf("plain prompt: %s", d)
			}
			if len(u.Shown()) != 2 || u.Warned() != 1 {
				t.Errorf("shown %d warned %d", len(u.Shown()), u.Warned())
			}
		})
	}
	if _, err := New("trusting"); err == nil {
		t.Error("unknown user accepted")
	}
}
