package evaluation

import (
	"slices"
	"sync"
	"testing"

	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/evaluation/scenario"
	"github.com/isolategpt/isolategpt/evaluation/users"
)

// The suite and the ablation are run once for the tests that read them,
// and once more by the test that checks two runs print the same tables.
var (
	suiteOnce    sync.Once
	suiteRes     []Result
	suiteErr     error
	ablationOnce sync.Once
	ablationRes  []Ablation
	ablationErr  error
)

func shipped(t *testing.T) []*scenario.Scenario {
	t.Helper()
	scs, err := Scenarios()
	if err != nil {
		t.Fatal(err)
	}
	return scs
}

func suite(t *testing.T) ([]*scenario.Scenario, []Result) {
	t.Helper()
	scs := shipped(t)
	suiteOnce.Do(func() {
		suiteRes, suiteErr = RunAttacks(t.Context(), scs, Options{TempDir: t.TempDir(), Parallel: testParallel})
	})
	if suiteErr != nil {
		t.Fatal(suiteErr)
	}
	return scs, suiteRes
}

func ablation(t *testing.T) []Ablation {
	t.Helper()
	scs := shipped(t)
	ablationOnce.Do(func() {
		ablationRes, ablationErr = RunAblation(t.Context(), scs, Options{TempDir: t.TempDir(), Parallel: testParallel})
	})
	if ablationErr != nil {
		t.Fatal(ablationErr)
	}
	return ablationRes
}

// testParallel runs two scenarios at a time: the machine's two cores.
const testParallel = 2

// TestAttackSuite runs every scenario on isolategpt with every simulated
// user and on the baseline, and fails if any attack the design claims to
// stop succeeds against a user the claim holds against. The baseline's
// results are logged as they come out, not asserted — but every scenario
// must reach the attacker's script there, or it tests nothing.
func TestAttackSuite(t *testing.T) {
	scs, rs := suite(t)
	t.Log("\n" + AttackTable(scs, rs))
	ran := 0
	for _, r := range rs {
		t.Run(r.Scenario+"/"+r.Arch+"/"+r.User, func(t *testing.T) {
			if r.Pending != "" {
				t.Skipf("pending, not passed: %s", r.Pending)
			}
			if r.Arch != Isolated {
				if r.AttackerCalls == 0 {
					t.Errorf("no LLM call of the baseline saw the canary: the scenario tests nothing")
				}
				return
			}
			ran++
			if r.Claimed && r.AttackSucceeded {
				t.Errorf("attack succeeded against the isolated architecture (defence %s, user %s)\nanswers: %q\ncalls: %+v\nprompts: %+v", r.Defence, r.User, r.Answers, r.Calls, r.Shown)
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
		if r.BenignDone && (r.User == users.ApprovesAll || r.Arch == Vanilla) {
			done[r.Arch]++
		}
	}
	if done[Isolated] < done[Vanilla] {
		t.Errorf("benign tasks done: isolated %d, baseline %d", done[Isolated], done[Vanilla])
	}
}

// TestEveryClaimCanFail switches off, for every claimed scenario, the
// defences it names, and fails unless the attack then succeeds against a
// user the claim holds against: a claim no ablation can break is not
// tested by its scenario. Every result of the ablation is also one the
// suite's own check flags, so this shows the suite would notice each
// defence breaking.
func TestEveryClaimCanFail(t *testing.T) {
	as := ablation(t)
	t.Log("\n" + AblationTable(as))
	if len(as) == 0 {
		t.Fatal("no claimed scenario")
	}
	for _, a := range as {
		t.Run(a.Scenario, func(t *testing.T) {
			if !a.CanFail() {
				t.Errorf("cannot fail: %s", a.Problem)
			}
			flagged := false
			for _, r := range a.Results {
				flagged = flagged || (r.Claimed && r.AttackSucceeded)
			}
			if a.CanFail() && !flagged {
				t.Errorf("the attack succeeded with %v off, but the suite's check would not flag it", a.Off)
			}
		})
	}
}

// The ablation itself can fail: a scenario that names the wrong defence is
// reported as one that cannot fail.
func TestAblationFlagsAWrongDefence(t *testing.T) {
	scs := shipped(t)
	i := slices.IndexFunc(scs, func(s *scenario.Scenario) bool { return s.ID == "ace_planner_manipulation" })
	if i < 0 {
		t.Fatal("no ace_planner_manipulation")
	}
	sc := *scs[i]
	sc.ReliesOn = []defence.Name{defence.PinCheck}
	sc.HoldsAgainst = []string{users.ApprovesAll}
	a, err := ablate(t.Context(), &sc, Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if a.CanFail() {
		t.Errorf("switching off %v made planner manipulation succeed", sc.ReliesOn)
	}
	sc.ReliesOn = nil
	if a, _ := ablate(t.Context(), &sc, Options{TempDir: t.TempDir()}); a.CanFail() {
		t.Error("a claimed scenario naming no defence passed the ablation")
	}
}

// TestTablesAreDeterministic runs the ablation a second time and compares
// its tables, and the suite a second time with the user whose answers
// depend most on the order of prompts (the fatigued one) and one other.
func TestTablesAreDeterministic(t *testing.T) {
	scs, all := suite(t)
	firstAbl := ablation(t)
	secondAbl, err := RunAblation(t.Context(), scs, Options{TempDir: t.TempDir(), Parallel: testParallel})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := AblationTable(firstAbl), AblationTable(secondAbl); a != b {
		t.Errorf("two runs of the ablation differ:\n%s\n---\n%s", a, b)
	}
	us := []string{users.DeniesWarned, users.Fatigued}
	second, err := RunAttacks(t.Context(), scs, Options{TempDir: t.TempDir(), Parallel: testParallel, Users: us})
	if err != nil {
		t.Fatal(err)
	}
	first := slices.DeleteFunc(slices.Clone(all), func(r Result) bool { return r.Arch == Isolated && !slices.Contains(us, r.User) })
	if a, b := AttackTable(scs, first)+ClassTable(first), AttackTable(scs, second)+ClassTable(second); a != b {
		t.Errorf("two runs of the suite differ:\n%s\n---\n%s", a, b)
	}
}

// TestAttackInTheRealSandbox runs scenarios with every app — the built-in
// ones and the attacker's — in its confined worker process; and two
// ablations there, whose defences the launcher holds too: the output cap
// and the call limit.
func TestAttackInTheRealSandbox(t *testing.T) {
	scs := shipped(t)
	want := []string{"ace_execution_manager_hijack", "app_hangs_and_crashes", "mcp_server_misbehaves", "oversized_output", "rug_pull", "tool_poisoning"}
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
			if sc.ID != "oversized_output" && sc.ID != "app_hangs_and_crashes" {
				return
			}
			off, _ := defence.Off(sc.ReliesOn...)
			r, err = RunScenario(t.Context(), sc, Isolated, users.ApprovesAll, Options{Sandboxed: true, TempDir: t.TempDir(), Defences: off})
			if err != nil {
				t.Fatal(err)
			}
			if !r.AttackSucceeded {
				t.Errorf("with %v off the attack should succeed in the sandbox too: %q", sc.ReliesOn, r.Answers)
			}
		})
	}
	if n != len(want) {
		t.Fatalf("found %d of the %d scenarios %v", n, len(want), want)
	}
}
