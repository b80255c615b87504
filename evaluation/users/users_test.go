package users

import (
	"slices"
	"testing"

	"github.com/isolategpt/isolategpt/actors/msg"
)

func TestUsersAnswerByHabit(t *testing.T) {
	warned := msg.Prompt{Kind: msg.Collab, Warning: "not part of the plan"}
	plain := msg.Prompt{Kind: msg.Exec, InPlan: true, Effect: "write"}
	readable := msg.Prompt{Kind: msg.Exec, InPlan: true, Effect: "read"}
	cases := []struct {
		kind                    string
		warned, plain, readable msg.Decision
	}{
		{ApprovesAll, msg.AllowOnce, msg.AllowOnce, msg.AllowOnce},
		{DeniesWarned, msg.Deny, msg.AllowOnce, msg.AllowOnce},
		{SessionUnwarned, msg.Deny, msg.AllowSession, msg.AllowSession},
		{AlwaysAllow, msg.AllowOnce, msg.AllowSession, msg.AllowAlways},
		{Fatigued, msg.Deny, msg.AllowOnce, msg.AllowOnce},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			u, err := New(tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range []msg.Prompt{warned, plain, readable} {
				want := []msg.Decision{tc.warned, tc.plain, tc.readable}[i]
				// Each in a query of its own: no fatigue yet.
				d, err := u.Prompt(t.Context(), &msg.PromptRequest{QueryID: string(rune('a' + i)), Prompt: p})
				if err != nil || d != want {
					t.Errorf("prompt %d: %s, %v; want %s", i, d, err, want)
				}
			}
			shown := u.Shown()
			if len(shown) != 3 || u.Warned() != 1 {
				t.Fatalf("shown %d, warned %d", len(shown), u.Warned())
			}
			if !slices.Contains(shown[2].Offered, msg.AllowAlways) || slices.Contains(shown[1].Offered, msg.AllowAlways) {
				t.Errorf("always offered where it may not be, or not where it may: %v / %v", shown[1].Offered, shown[2].Offered)
			}
			if shown[0].Answer != tc.warned {
				t.Errorf("recorded answer %s", shown[0].Answer)
			}
		})
	}
	if _, err := New("gullible"); err == nil {
		t.Error("unknown user accepted")
	}
}

// A fatigued user reads the first FatigueAfter prompts of a query, then
// allows everything; a new query starts afresh.
func TestFatigueCountsPerQuery(t *testing.T) {
	u, _ := New(Fatigued)
	warned := msg.Prompt{Kind: msg.Data, Warning: "w"}
	for i := 1; i <= FatigueAfter+1; i++ {
		d, _ := u.Prompt(t.Context(), &msg.PromptRequest{QueryID: "q1", Prompt: warned})
		want := msg.Deny
		if i > FatigueAfter {
			want = msg.AllowOnce
		}
		if d != want {
			t.Errorf("prompt %d of q1: %s, want %s", i, d, want)
		}
	}
	if d, _ := u.Prompt(t.Context(), &msg.PromptRequest{QueryID: "q2", Prompt: warned}); d != msg.Deny {
		t.Errorf("first prompt of a new query: %s", d)
	}
}

func TestEveryUserIsDescribed(t *testing.T) {
	for _, k := range All {
		if !Known(k) || Describe(k) == "" {
			t.Errorf("%s undescribed", k)
		}
	}
}
