// Package scale is the scale benchmark: S concurrent sessions, each asking
// the two-app fare query once, on a fresh engine per row, with the apps
// sandboxed and in process in the same run. It reports throughput, latency
// percentiles, and the hub process's peak RSS, threads, descriptors and
// live workers, plus the cost of starting one worker at a number of live
// workers through a hook the sandbox provides (StartCostFunc).
package scale

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/isolategpt/isolategpt/actors/frontend"
	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine"
	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/inproc"
)

// Query is what every session asks: two apps' fares, compared by the hub.
const Query = `Use metro_hail and quick_ride to estimate the fare from "Main Street" to "Elm Avenue"`

// Mode is how the apps run.
type Mode string

// The modes.
const (
	Sandboxed Mode = "sandboxed"
	InProcess Mode = "in-process"
)

// StartCostFunc measures the cost of starting one more worker with each
// number of live workers in lives, in order. It is the hook for the
// sandbox's own measurement (sandbox/launch Launcher.MeasureStartCost);
// nil leaves the column out and the table says so. It may return the
// costs it measured before an error.
type StartCostFunc func(ctx context.Context, lives []int) ([]StartCost, error)

// StartCost is one worker start measured at Live live workers: a
// sandboxed start and, for the ratio, an unconfined start (fork and exec)
// of the same binary, the hub's CPU per sandboxed start, and the hub's
// threads and descriptors with Live workers alive.
type StartCost struct {
	Live               int
	Sandboxed          time.Duration
	Unconfined         time.Duration
	HubCPU             time.Duration
	HubThreads, HubFDs int
}

// Config is one run.
type Config struct {
	Sessions []int
	Modes    []Mode
	// Users is how many distinct users the sessions belong to (session i
	// is user i mod Users); zero means one user per session, the worst
	// case for pooling.
	Users int
	// MaxWorkers and MaxWorkersPerUser are the engine's caps (zero: its
	// defaults or the environment).
	MaxWorkers, MaxWorkersPerUser int
	// MaxQueries caps the queries running at once (zero: the engine's
	// default).
	MaxQueries  int
	AllowWeaker bool
	// Sandbox starts sandboxed workers; nil is the engine's default
	// launcher (sandbox/launch).
	Sandbox sandbox.Launcher
	// Timeout bounds one row.
	Timeout time.Duration
	// StartCost and StartCostAt: the worker-start column, measured at
	// each number of live workers.
	StartCost   StartCostFunc
	StartCostAt []int
	// Progress gets a line per row as the run goes; nil is silent.
	Progress io.Writer
}

// Row is one (S, mode) measurement.
type Row struct {
	Sessions int
	Mode     Mode
	Users    int
	Answered int
	Failed   int
	FirstErr string
	Wall     time.Duration
	P50, P99 time.Duration
	PeakRSS  int64 // bytes
	PeakThr  int
	PeakFDs  int
	PeakLive int // live spokes, each with at most one worker
	// PeakWorkers is the most workers up at once (started and not yet
	// stopped, from the spokes' WorkerChanged events); PeakProcs the most
	// processes descended from this one (sandboxed workers and the
	// spawner; sampled once a second, zero in process).
	PeakWorkers int
	PeakProcs   int
	Started     int // workers started
	Queued      int // steps that waited for a worker
	// QueriesQueued is how many queries waited to be admitted.
	QueriesQueued int
	// HubCPU is this process's CPU time during the row (getrusage);
	// TreeCPU that of this process and every process descended from it
	// (the spawner and the sandboxed workers, reaped or alive), not of
	// anything else running on the machine.
	HubCPU, TreeCPU time.Duration
	Throughput      float64
}

// Result is a whole run.
type Result struct {
	Rows       []Row
	StartCosts []StartCost
	// StartCostNote says why the start-cost column is missing or partial.
	StartCostNote string
}

// Run runs every row, in-process and sandboxed side by side for each S.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if len(cfg.Sessions) == 0 {
		return nil, errors.New("scale: no session counts")
	}
	if len(cfg.Modes) == 0 {
		cfg.Modes = []Mode{InProcess, Sandboxed}
	}
	res := &Result{}
	for _, s := range cfg.Sessions {
		for _, m := range cfg.Modes {
			row, err := runRow(ctx, cfg, s, m)
			if err != nil {
				return res, fmt.Errorf("scale: S=%d %s: %w", s, m, err)
			}
			res.Rows = append(res.Rows, row)
			if cfg.Progress != nil {
				fmt.Fprintf(cfg.Progress, "S=%d %s: %.1f q/s, p50 %v, p99 %v, failed %d\n", s, m, row.Throughput, row.P50.Round(time.Millisecond), row.P99.Round(time.Millisecond), row.Failed)
			}
			if err := ctx.Err(); err != nil {
				return res, err
			}
		}
	}
	switch {
	case cfg.StartCost == nil:
		res.StartCostNote = "not measured: no start-cost hook is wired (scale.Config.StartCost; sandbox/launch's MeasureStartCost is to fill it)"
	default:
		costs, err := cfg.StartCost(ctx, cfg.StartCostAt)
		res.StartCosts = costs
		if err != nil {
			res.StartCostNote = fmt.Sprintf("stopped after %d of %d live-worker counts: %v", len(costs), len(cfg.StartCostAt), err)
		}
	}
	return res, nil
}

// allow answers every prompt with allow-for-the-session: the benchmark
// measures the engine, not a person.
var allow = frontend.PrompterFunc(func(context.Context, *msg.PromptRequest) (msg.Decision, error) {
	return msg.AllowSession, nil
})

func runRow(ctx context.Context, cfg Config, s int, mode Mode) (Row, error) {
	row := Row{Sessions: s, Mode: mode, Users: cfg.Users}
	if row.Users <= 0 || row.Users > s {
		row.Users = s
	}
	ecfg := engine.Config{
		InMemory: true, LLM: "offline", AllowWeakerSandbox: cfg.AllowWeaker,
		MaxWorkers: cfg.MaxWorkers, MaxWorkersPerUser: cfg.MaxWorkersPerUser, MaxQueries: cfg.MaxQueries,
	}
	switch mode {
	case InProcess:
		ecfg.Launcher = inproc.Launcher{}
	case Sandboxed:
		ecfg.Launcher = cfg.Sandbox
	default:
		return row, fmt.Errorf("unknown mode %q", mode)
	}
	runtime.GC()
	debug.FreeOSMemory()
	e, err := engine.New(ecfg)
	if err != nil {
		return row, err
	}
	defer e.Close()
	var live, peakLive, started, queued, queriesQueued atomic.Int64
	workers := newWorkerCount()
	sub := e.System().EventStream.Subscribe(func(ev any) {
		switch ev := ev.(type) {
		case *msg.SpokeStarted:
			n := live.Add(1)
			for p := peakLive.Load(); n > p && !peakLive.CompareAndSwap(p, n); p = peakLive.Load() {
			}
		case *msg.SpokeStopped:
			live.Add(-1)
		case *msg.WorkerChanged:
			if ev.State == msg.WorkerStarting {
				started.Add(1)
			}
			workers.change(ev)
		case *msg.StepQueued:
			queued.Add(1)
		case *msg.QueryQueued:
			queriesQueued.Add(1)
		}
	})
	defer e.System().EventStream.Unsubscribe(sub)
	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
	}
	sessions := make([]*engine.Session, s)
	for i := range sessions {
		if sessions[i], err = e.OpenSession(ctx, "user"+strconv.Itoa(i%row.Users), allow); err != nil {
			return row, err
		}
	}
	defer func() {
		for _, se := range sessions {
			_ = se.Close()
		}
	}()
	stop := make(chan struct{})
	peaks := make(chan procPeaks, 1)
	go sample(stop, peaks, mode == Sandboxed)
	lat := make([]time.Duration, s)
	errs := make([]error, s)
	var wg sync.WaitGroup
	begin := make(chan struct{})
	start := time.Now()
	for i, se := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-begin
			t := time.Now()
			a, err := se.Ask(ctx, Query)
			lat[i] = time.Since(t)
			if err == nil {
				err = failedStep(a)
			}
			errs[i] = err
		}()
	}
	hub0, kids0 := selfCPU(), descendantsCPU()
	start = time.Now()
	close(begin)
	wg.Wait()
	row.Wall = time.Since(start)
	row.HubCPU = selfCPU() - hub0
	row.TreeCPU = row.HubCPU + max(descendantsCPU()-kids0, 0)
	close(stop)
	pk := <-peaks
	row.PeakRSS, row.PeakThr, row.PeakFDs, row.PeakProcs = pk.rss, pk.threads, pk.fds, pk.procs
	row.PeakLive, row.Started, row.Queued = int(peakLive.Load()), int(started.Load()), int(queued.Load())
	row.PeakWorkers, row.QueriesQueued = workers.peakCount(), int(queriesQueued.Load())
	for _, err := range errs {
		if err != nil {
			row.Failed++
			if row.FirstErr == "" {
				row.FirstErr = err.Error()
			}
		} else {
			row.Answered++
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	row.P50, row.P99 = pct(lat, 0.50), pct(lat, 0.99)
	if row.Wall > 0 {
		row.Throughput = float64(row.Answered) / row.Wall.Seconds()
	}
	return row, nil
}

func failedStep(a *msg.Answer) error {
	if a == nil {
		return errors.New("no answer")
	}
	for _, st := range a.Steps {
		if st.Status != msg.StatusOK {
			return fmt.Errorf("step %s: %s %s", st.Step, st.Status, st.Reason)
		}
	}
	if len(a.Steps) < 2 {
		return fmt.Errorf("%d steps, want the two apps' fares", len(a.Steps))
	}
	return nil
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(p*float64(len(sorted)-1)+0.5)]
}
