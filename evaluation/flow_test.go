package evaluation

import (
	"slices"
	"testing"

	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/evaluation/record"
	"github.com/isolategpt/isolategpt/evaluation/scenario"
	"github.com/isolategpt/isolategpt/evaluation/users"
)

// flowDefences are the information-flow defences (issue #10).
var flowDefences = []defence.Name{
	defence.LiteralProvenance, defence.OperatorLabels, defence.AppChosenActions, defence.AppDataWrites,
	defence.GrantScope, defence.CatalogIdentifiers, defence.SafeText, defence.PinByPerson,
	defence.UniformRefusals, defence.SpokeMemoryTasks, defence.ConsentBound,
}

// needsSessionUser are scenarios whose defence matters only against a
// user who allows a request for the whole session; the simulated users
// here allow once. engine/grants_test.go tries the class with such a user.
var needsSessionUser = []string{"grant_reuse_assistant_send"}

// TestFlowScenariosNeedTheirDefences checks that each scenario resting on
// an information-flow defence is a real test of it: with the defences it
// names switched off, its attack succeeds against the isolated
// architecture — against the user who denies warned requests when the
// claim is "warned", against some user when it is "structural" — and
// with them on it does not (TestAttackSuite). In the sandbox too, for the
// classes whose values come out of real app processes.
func TestFlowScenariosNeedTheirDefences(t *testing.T) {
	scs, err := Scenarios()
	if err != nil {
		t.Fatal(err)
	}
	sandboxed := []string{"isc_error_text_channel", "same_app_reply_hijack", "spoke_memory_rearm", "operator_winner_to_third_app", "render_line_separator"}
	n := 0
	for _, sc := range scs {
		if !slices.ContainsFunc(sc.ReliesOn, func(d defence.Name) bool { return slices.Contains(flowDefences, d) }) {
			continue
		}
		n++
		modes := []bool{false}
		if slices.Contains(sandboxed, sc.ID) {
			modes = append(modes, true)
		}
		for _, sandbox := range modes {
			name := sc.ID
			if sandbox {
				name += "/sandbox"
			}
			t.Run(name, func(t *testing.T) {
				if slices.Contains(needsSessionUser, sc.ID) {
					t.Skip("needs a simulated user who allows for the session; see engine/grants_test.go")
				}
				off, err := defence.Off(sc.ReliesOn...)
				if err != nil {
					t.Fatal(err)
				}
				who := []string{users.DeniesWarned}
				if sc.Defence == scenario.DefenceStructural {
					who = users.All
				}
				succeeded := false
				for _, u := range who {
					r, err := RunScenario(t.Context(), sc, Isolated, u, Options{TempDir: t.TempDir(), Sandboxed: sandbox, defences: off})
					if err != nil {
						t.Fatal(err)
					}
					succeeded = succeeded || r.AttackSucceeded
					if sandbox && slices.ContainsFunc(r.Calls, func(c record.Call) bool { return !c.Sandboxed }) {
						t.Errorf("a call did not run in a worker process: %+v", r.Calls)
					}
				}
				if !succeeded {
					t.Errorf("with %v off the attack still fails: the scenario does not test them", sc.ReliesOn)
				}
				if !sandbox {
					return
				}
				// And with every defence on, in the sandbox, it fails.
				for _, u := range users.All {
					r, err := RunScenario(t.Context(), sc, Isolated, u, Options{TempDir: t.TempDir(), Sandboxed: true})
					if err != nil {
						t.Fatal(err)
					}
					claimed := sc.Defence == scenario.DefenceStructural || u == users.DeniesWarned
					if claimed && r.AttackSucceeded {
						t.Errorf("attack succeeded in the sandbox with every defence on (%s): %q", u, r.Answers)
					}
				}
			})
		}
	}
	if n < 20 {
		t.Errorf("only %d scenarios rest on an information-flow defence", n)
	}
}
