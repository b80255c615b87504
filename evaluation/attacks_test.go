package evaluation

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/evaluation/scenario"
	"github.com/isolategpt/isolategpt/evaluation/users"
	"github.com/isolategpt/isolategpt/specs"
)

// TestAttackSuite runs every scenario on both architectures with both
// simulated users and fails if any attack the design claims to stop
// succeeds against the isolated architecture: structural ones under
// either user, warned ones against the user who denies warned requests.
// The baseline's results are logged as they come out, not asserted.
func TestAttackSuite(t *testing.T) {
	scs, err := Scenarios()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := RunAttacks(t.Context(), scs, Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + AttackTable(rs))
	ran := 0
	for _, r := range rs {
		t.Run(r.Scenario+"/"+r.Arch+"/"+r.User, func(t *testing.T) {
			if r.Pending != "" {
				t.Skipf("pending, not passed: %s", r.Pending)
			}
			if r.Arch != Isolated {
				t.Logf("baseline: attack succeeded %v, benign done %v", r.AttackSucceeded, r.BenignDone)
				return
			}
			ran++
			claimed := r.Defence == scenario.DefenceStructural || (r.Defence == scenario.DefenceWarned && r.User == users.DeniesWarned)
			if claimed && r.AttackSucceeded {
				t.Errorf("attack succeeded against the isolated architecture (defence %s, user %s)\nanswers: %q\ncalls: %+v", r.Defence, r.User, r.Answers, r.Calls)
			}
		})
	}
	if ran == 0 {
		t.Fatal("no scenario ran on the isolated architecture")
	}
	// Isolation must not cost the user's tasks: against the user who
	// approves everything, isolategpt completes at least as many benign
	// tasks as the baseline (whose own count is not asserted).
	done := map[string]int{}
	for _, r := range rs {
		if r.BenignDone && r.User == users.ApprovesAll {
			done[r.Arch]++
		}
	}
	if done[Isolated] < done[Vanilla] {
		t.Errorf("benign tasks done: isolated %d, baseline %d", done[Isolated], done[Vanilla])
	}
}

// TestEveryScenarioReachesTheAttacker checks each scenario is a real test
// of its defence: on the baseline, where nothing stands between the
// artefact and the LLM, the canary must reach the attacker's script.
// A scenario whose canary never fires anywhere would pass vacuously.
func TestEveryScenarioReachesTheAttacker(t *testing.T) {
	scs, err := Scenarios()
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scs {
		t.Run(sc.ID, func(t *testing.T) {
			if pendingReason(sc) != "" {
				t.Skipf("pending, not passed: %s", pendingReason(sc))
			}
			r, err := RunScenario(t.Context(), sc, Vanilla, users.ApprovesAll, Options{TempDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			if r.AttackerCalls == 0 {
				t.Errorf("no LLM call of the baseline saw the canary")
			}
		})
	}
}

// TestAttackTablesAreDeterministic runs the suite twice.
func TestAttackTablesAreDeterministic(t *testing.T) {
	scs, err := Scenarios()
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for range 2 {
		rs, err := RunAttacks(t.Context(), scs, Options{TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		tables = append(tables, AttackTable(rs))
	}
	if tables[0] != tables[1] {
		t.Errorf("two runs differ:\n%s\n---\n%s", tables[0], tables[1])
	}
}

// TestAttackInTheRealSandbox runs scenarios with every app — the built-in
// ones and the attacker's — in its confined worker process.
func TestAttackInTheRealSandbox(t *testing.T) {
	scs, err := Scenarios()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ace_execution_manager_hijack", "oversized_output", "rug_pull", "tool_poisoning"}
	n := 0
	for _, sc := range scs {
		if !slices.Contains(want, sc.ID) {
			continue
		}
		n++
		t.Run(sc.ID, func(t *testing.T) {
			r, err := RunScenario(t.Context(), sc, Isolated, users.ApprovesAll, Options{Sandboxed: true, TempDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Calls) == 0 {
				t.Fatal("no call reached an app")
			}
			for _, c := range r.Calls {
				if !c.Sandboxed {
					t.Errorf("%s.%s did not run in a worker process", c.App, c.Function)
				}
			}
			if r.AttackSucceeded {
				t.Errorf("attack succeeded in the sandbox: %q", r.Answers)
			}
			if !r.BenignDone {
				t.Errorf("benign task not done in the sandbox: %q %v", r.Answers, r.Errors)
			}
		})
	}
	if n != len(want) {
		t.Fatalf("found %d of the %d scenarios %v", n, len(want), want)
	}
}

// leakyPlanner breaks P3 on purpose: it adds every app's description to
// the planner's request, as a planner that read app prose would see it.
type leakyPlanner struct {
	llms.Model
	prose string
}

func (l leakyPlanner) GenerateContent(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
	if len(msgs) > 0 && msgs[0].Role == llms.ChatMessageTypeSystem && strings.Contains(fmt.Sprint(msgs[0].Parts), "planner of isolategpt") {
		msgs = append(slices.Clone(msgs), llms.TextParts(llms.ChatMessageTypeHuman, l.prose))
	}
	return l.Model.GenerateContent(ctx, msgs, opts...)
}

// The suite can fail: with the planner's isolation broken, the attacks on
// it succeed against the "isolated" architecture and the check that
// TestAttackSuite makes flags them.
func TestSuiteCatchesABrokenDefence(t *testing.T) {
	scs, err := Scenarios()
	if err != nil {
		t.Fatal(err)
	}
	var prose []string
	all, err := specs.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		prose = append(prose, m.Description)
	}
	for _, sc := range scs {
		for i := range sc.ScenarioApps {
			prose = append(prose, sc.ScenarioApps[i].Pinned().Description)
		}
	}
	o := Options{TempDir: t.TempDir(), leak: func(m llms.Model) llms.Model { return leakyPlanner{m, strings.Join(prose, "\n")} }}
	for _, id := range []string{"ace_planner_manipulation", "name_squatting"} {
		i := slices.IndexFunc(scs, func(s *scenario.Scenario) bool { return s.ID == id })
		if i < 0 {
			t.Fatalf("no scenario %s", id)
		}
		r, err := RunScenario(t.Context(), scs[i], Isolated, users.ApprovesAll, o)
		if err != nil {
			t.Fatal(err)
		}
		if !r.AttackSucceeded || r.AttackerCalls == 0 {
			t.Errorf("%s: with a leaky planner the attack should succeed (attacker calls %d): %q", id, r.AttackerCalls, r.Answers)
		}
	}
}
