package launch

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/hubtest"
)

// TestLiveWorkersHoldNoThreads: a live worker holds no OS thread of the
// hub, and as few of its descriptors as the protocol needs (stdin, stdout
// and the app folder's tmpfs).
func TestLiveWorkersHoldNoThreads(t *testing.T) {
	hubtest.Modes(t, func(t *testing.T) {
		l := newLauncher(t)
		start(t, l, t.TempDir()).Close() // skips where the kernel cannot
		const many = 24
		baseline := func(ctx context.Context) error {
			return exec.CommandContext(ctx, "/proc/self/exe", "-test.run=^$").Run()
		}
		costs, err := l.MeasureStartCostWith(t.Context(), probeApp, t.TempDir(), []int{1, many}, 3, baseline)
		if err != nil {
			t.Fatal(err)
		}
		if costs[0].Wall <= 0 || costs[0].Unconfined <= 0 {
			t.Errorf("no start or baseline time measured: %+v", costs[0])
		}
		one, more := costs[0], costs[1]
		t.Logf("1 live: %+v", one)
		t.Logf("%d live: %+v", many, more)
		if d := more.HubThreads - one.HubThreads; d > 4 {
			t.Errorf("%d more live workers took %d more OS threads of the hub", many-1, d)
		}
		if per := float64(more.HubFDs-one.HubFDs) / (many - 1); per > 3 {
			t.Errorf("%.1f hub descriptors per live worker, want at most 3", per)
		}
	})
}

// TestStartCostAtScale prints the cost of a worker start with, by
// default, 1, 1,000 and 3,000 workers alive (ISOLATEGPT_START_COST_LIVE,
// comma-separated), for a built-in app of a built isolategpt binary
// (ISOLATEGPT_BENCH_EXE), or this test binary's probe app, each beside an
// unconfined start of this test binary (the probe app only). It runs only
// when asked: ISOLATEGPT_START_COST=1.
func TestStartCostAtScale(t *testing.T) {
	if os.Getenv("ISOLATEGPT_START_COST") == "" {
		t.Skip("set ISOLATEGPT_START_COST=1 to measure (starts thousands of workers)")
	}
	lives := []int{1, 1000, 3000}
	if v := os.Getenv("ISOLATEGPT_START_COST_LIVE"); v != "" {
		lives = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				t.Fatal(err)
			}
			lives = append(lives, n)
		}
	}
	l := newLauncher(t)
	// ISOLATEGPT_NO_SHARED_NET=1: every worker in a network namespace of
	// its own, to compare.
	l.NoSharedNet = os.Getenv("ISOLATEGPT_NO_SHARED_NET") != ""
	app := probeApp
	if exe := os.Getenv("ISOLATEGPT_BENCH_EXE"); exe != "" {
		l.Exe, app = exe, sandbox.App{ID: "metro_hail", Kind: sandbox.KindBuiltin}
	}
	// Beside each start, an unconfined start of this test binary with the
	// same hand-shake: the machine's own drift over the run, to read the
	// ratios against.
	baseline := func(ctx context.Context) error {
		c, cmd, err := unconfined(ctx)
		if err != nil {
			return err
		}
		c.Close()
		cmd.Process.Kill()
		cmd.Wait() // killed
		return nil
	}
	if os.Getenv("ISOLATEGPT_BENCH_EXE") != "" {
		baseline = nil
	}
	costs, err := l.MeasureStartCostWith(t.Context(), app, t.TempDir(), lives, 30, baseline)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%8s %10s %10s %12s %8s %8s %8s %12s %8s", "live", "wall p50", "hub CPU", "spawner CPU", "threads", "fds", "ratio", "unconfined", "ratio/u")
	for _, c := range costs {
		norm := 0.0
		if c.Unconfined > 0 && costs[0].Unconfined > 0 {
			norm = (float64(c.Wall) / float64(c.Unconfined)) / (float64(costs[0].Wall) / float64(costs[0].Unconfined))
		}
		t.Logf("%8d %10v %10v %12v %8d %8d %8.2f %12v %8.2f", c.Live, c.Wall.Round(10e3), c.HubCPU.Round(10e3), c.SpawnerCPU.Round(10e3), c.HubThreads, c.HubFDs, float64(c.Wall)/float64(costs[0].Wall), c.Unconfined.Round(10e3), norm)
	}
}
