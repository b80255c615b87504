package search

import (
	"os"
	"sync"
	"testing"

	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/evaluation"
	"github.com/isolategpt/isolategpt/evaluation/attackapps"
	"github.com/isolategpt/isolategpt/evaluation/users"
	"github.com/isolategpt/isolategpt/sandbox/worker"
)

// TestMain lets this test binary serve as the sandbox worker.
func TestMain(m *testing.M) {
	attackapps.RegisterWorker()
	if code, ok := worker.Dispatch(os.Args[1:]); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// The bounded search runs once for the tests that read it.
var (
	searchOnce sync.Once
	searchAs   []Attempt
	searchOuts []Outcome
	searchErr  error
)

func bounded(t *testing.T) ([]Attempt, []Outcome) {
	t.Helper()
	searchOnce.Do(func() {
		if searchAs, searchErr = Generate(false); searchErr == nil {
			searchOuts, searchErr = Run(t.Context(), searchAs, Users(false), evaluation.Options{TempDir: t.TempDir(), Parallel: 2})
		}
	})
	if searchErr != nil {
		t.Fatal(searchErr)
	}
	return searchAs, searchOuts
}

// TestSearch runs the bounded search (the one CI runs) and fails if any
// attempt succeeds against a defence the design claims for that user.
func TestSearch(t *testing.T) {
	_, outs := bounded(t)
	t.Log("\n" + Table(outs, Users(false)))
	if len(outs) < 30 {
		t.Errorf("the bounded search ran only %d attempts", len(outs))
	}
	for _, o := range ClaimedLosses(outs) {
		t.Errorf("%s succeeded against %v, which its claim (%s) holds against", o.ID, o.ClaimedLost, o.Defence)
	}
}

// Two bounded searches print the same table.
func TestSearchIsDeterministic(t *testing.T) {
	as, first := bounded(t)
	us := Users(false)
	second, err := Run(t.Context(), as, us, evaluation.Options{TempDir: t.TempDir(), Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := Table(first, us), Table(second, us); a != b {
		t.Errorf("two runs differ:\n%s\n---\n%s", a, b)
	}
}

// The search can fail: with the hub's warnings switched off, the attempts
// the design claims to stop for a user who denies warned requests succeed,
// and the search reports them as claimed losses.
func TestSearchFlagsALostClaim(t *testing.T) {
	as, err := Generate(false)
	if err != nil {
		t.Fatal(err)
	}
	var app []Attempt
	for _, a := range as {
		if a.Class == "app" && a.Scenario.Defence != "none" {
			app = append(app, a)
		}
	}
	if len(app) == 0 {
		t.Fatal("no claimed attempt in the app class")
	}
	off, err := defence.Off(defence.HubWarnings)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := Run(t.Context(), app[:2], []string{users.DeniesWarned}, evaluation.Options{TempDir: t.TempDir(), Defences: off})
	if err != nil {
		t.Fatal(err)
	}
	if len(ClaimedLosses(outs)) != len(outs) {
		t.Errorf("with the warnings off every claimed attempt should be a claimed loss:\n%s", Table(outs, []string{users.DeniesWarned}))
	}
}

// Every attempt is a scenario file of the suite's format, named by its id,
// that the suite's loader reads back.
func TestReproducersAreScenarioFiles(t *testing.T) {
	as, err := Generate(true)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	outs := make([]Outcome, len(as))
	seen := map[string]bool{}
	for i, a := range as {
		if seen[a.Scenario.ID] {
			t.Fatalf("two attempts share the id %s", a.Scenario.ID)
		}
		seen[a.Scenario.ID] = true
		outs[i] = Outcome{ID: a.ID, Succeeded: []string{users.ApprovesAll}}
	}
	if err := WriteReproducers(dir, as, outs); err != nil {
		t.Fatal(err)
	}
	scs, err := evaluation.LoadScenarios(dir)
	if err != nil || len(scs) != len(as) {
		t.Fatalf("loaded %d of %d: %v", len(scs), len(as), err)
	}
}
