package evaluation

import (
	"slices"
	"testing"

	"github.com/isolategpt/isolategpt/evaluation/record"
	"github.com/isolategpt/isolategpt/evaluation/users"
)

// TestFlowScenariosInTheSandbox runs, with every app in its worker
// process, the information-flow scenarios whose values come out of real
// app processes: with the defences they name switched off the attack
// succeeds (TestEveryClaimCanFail does the same in process, for every
// scenario), and with every defence on it fails for every user the claim
// holds against.
func TestFlowScenariosInTheSandbox(t *testing.T) {
	scs := shipped(t)
	sandboxed := []string{"isc_error_text_channel", "same_app_reply_hijack", "spoke_memory_rearm", "operator_winner_to_third_app", "render_line_separator"}
	n := 0
	for _, sc := range scs {
		if !slices.Contains(sandboxed, sc.ID) {
			continue
		}
		n++
		t.Run(sc.ID, func(t *testing.T) {
			o := Options{TempDir: t.TempDir(), Sandboxed: true}
			a, err := ablate(t.Context(), sc, o)
			if err != nil {
				t.Fatal(err)
			}
			if !a.CanFail() {
				t.Errorf("in the sandbox: %s", a.Problem)
			}
			for _, u := range users.All {
				r, err := RunScenario(t.Context(), sc, Isolated, u, o)
				if err != nil {
					t.Fatal(err)
				}
				if slices.ContainsFunc(r.Calls, func(c record.Call) bool { return !c.Sandboxed }) {
					t.Errorf("a call did not run in a worker process: %+v", r.Calls)
				}
				if r.Claimed && r.AttackSucceeded {
					t.Errorf("attack succeeded in the sandbox with every defence on (%s): %q", u, r.Answers)
				}
			}
		})
	}
	if n != len(sandboxed) {
		t.Fatalf("found %d of the %d scenarios %v", n, len(sandboxed), sandboxed)
	}
}
