package scale

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestInProcessRows runs small rows in process (sandboxed workers need the
// isolategpt binary, which `isolategpt eval scale` is) and checks that
// every query answered with both fares and that the table says what was
// and was not measured.
func TestInProcessRows(t *testing.T) {
	res, err := Run(t.Context(), Config{Sessions: []int{1, 4}, Modes: []Mode{InProcess}, Users: 2, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 2 {
		t.Fatalf("%d rows", len(res.Rows))
	}
	for _, r := range res.Rows {
		if r.Failed != 0 || r.Answered != r.Sessions {
			t.Fatalf("S=%d: answered %d failed %d (%s)", r.Sessions, r.Answered, r.Failed, r.FirstErr)
		}
		if r.P50 <= 0 || r.P99 < r.P50 || r.PeakRSS <= 0 || r.PeakThr <= 0 || r.PeakFDs <= 0 || r.Throughput <= 0 {
			t.Fatalf("S=%d: implausible figures %+v", r.Sessions, r)
		}
	}
	if r := res.Rows[1]; r.Users != 2 || r.PeakLive > 4 || r.PeakWorkers != 4 {
		t.Fatalf("S=4 over 2 users: users %d, live spokes %d, workers %d (pooled: 2 users × 2 apps)", r.Users, r.PeakLive, r.PeakWorkers)
	}
	for _, r := range res.Rows {
		if r.HubCPU <= 0 || r.TreeCPU < r.HubCPU || r.PeakProcs != 0 {
			t.Fatalf("S=%d: hub CPU %v, with descendants %v, processes %d", r.Sessions, r.HubCPU, r.TreeCPU, r.PeakProcs)
		}
	}
	if !strings.Contains(res.Table(), "no start-cost hook") {
		t.Error("the table does not say the start cost was not measured")
	}
}

// TestStartCostHook: the hook is called at each live count, and its
// failure is reported, not hidden.
func TestStartCostHook(t *testing.T) {
	var asked []int
	hook := func(_ context.Context, lives []int) ([]StartCost, error) {
		var out []StartCost
		for _, live := range lives {
			asked = append(asked, live)
			if live > 10 {
				return out, errors.New("pid limit")
			}
			out = append(out, StartCost{Live: live, Sandboxed: 2 * time.Millisecond, Unconfined: time.Millisecond})
		}
		return out, nil
	}
	res, err := Run(t.Context(), Config{Sessions: []int{1}, Modes: []Mode{InProcess}, StartCost: hook, StartCostAt: []int{1, 10, 1000, 3000}})
	if err != nil {
		t.Fatal(err)
	}
	if len(asked) != 3 || len(res.StartCosts) != 2 {
		t.Fatalf("asked at %v, got %d costs", asked, len(res.StartCosts))
	}
	tab := res.Table()
	if !strings.Contains(tab, "2.00×") || !strings.Contains(tab, "stopped after 2 of 4 live-worker counts: pid limit") {
		t.Fatalf("table:\n%s", tab)
	}
}

// TestQueriesQueuedAtCap: with a cap of one running query, S = 3 queues
// two of them, and the row counts them.
func TestQueriesQueuedAtCap(t *testing.T) {
	res, err := Run(t.Context(), Config{Sessions: []int{3}, Modes: []Mode{InProcess}, MaxQueries: 1, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Rows[0]; r.Answered != 3 || r.QueriesQueued != 2 {
		t.Fatalf("answered %d, queries queued %d; want 3, 2", r.Answered, r.QueriesQueued)
	}
}

// TestProcTree: this test's own child process is counted, with its CPU.
func TestProcTree(t *testing.T) {
	n0, _ := procTree(os.Getpid())
	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if n, _ := procTree(os.Getpid()); n != n0+1 {
		t.Fatalf("descendants %d with a child, %d without", n, n0)
	}
	if countFDs() <= 0 {
		t.Fatal("no descriptors counted")
	}
}
