package launch

import (
	"os"
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
		costs, err := l.MeasureStartCost(t.Context(), probeApp, t.TempDir(), []int{1, many}, 3)
		if err != nil {
			t.Fatal(err)
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
// (ISOLATEGPT_BENCH_EXE), or this test binary's probe app. It runs only
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
	app := probeApp
	if exe := os.Getenv("ISOLATEGPT_BENCH_EXE"); exe != "" {
		l.Exe, app = exe, sandbox.App{ID: "metro_hail", Kind: sandbox.KindBuiltin}
	}
	costs, err := l.MeasureStartCost(t.Context(), app, t.TempDir(), lives, 30)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%8s %10s %10s %12s %8s %8s %8s", "live", "wall p50", "hub CPU", "spawner CPU", "threads", "fds", "ratio")
	for _, c := range costs {
		t.Logf("%8d %10v %10v %12v %8d %8d %8.2f", c.Live, c.Wall.Round(10e3), c.HubCPU.Round(10e3), c.SpawnerCPU.Round(10e3), c.HubThreads, c.HubFDs, float64(c.Wall)/float64(costs[0].Wall))
	}
}
