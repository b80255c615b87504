package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/isolategpt/isolategpt/actors/spoke"
	"github.com/isolategpt/isolategpt/engine"
	"github.com/isolategpt/isolategpt/evaluation/scale"
	"github.com/isolategpt/isolategpt/sandbox/launch"
	"github.com/isolategpt/isolategpt/specs"
)

// startCostSamples is how many starts are timed at each live-worker count.
const startCostSamples = 10

// scaleStartCost is the hook for the worker-start column of `eval scale`:
// sandbox/launch's MeasureStartCost for metro_hail in a sandboxed worker of
// this binary, beside unconfined fork/execs of the same binary.
func scaleStartCost(weaker bool) scale.StartCostFunc {
	return func(ctx context.Context, lives []int) ([]scale.StartCost, error) {
		m, err := specs.BuiltinByID("metro_hail")
		if err != nil {
			return nil, err
		}
		dir, err := os.MkdirTemp("", "isolategpt-startcost-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		unconfined, err := unconfinedStart(ctx, startCostSamples)
		if err != nil {
			return nil, err
		}
		costs, err := (&launch.Launcher{AllowWeaker: weaker}).MeasureStartCost(ctx, spoke.LaunchSpec(m), dir, lives, startCostSamples)
		out := make([]scale.StartCost, 0, len(costs))
		for _, c := range costs {
			out = append(out, scale.StartCost{Live: c.Live, Sandboxed: c.Wall, Unconfined: unconfined, HubCPU: c.HubCPU, HubThreads: c.HubThreads, HubFDs: c.HubFDs})
		}
		return out, err
	}
}

// unconfinedStart is the median time of a plain fork, exec and exit of
// this binary (`isolategpt version`), the baseline of a sandboxed start.
func unconfinedStart(ctx context.Context, n int) (time.Duration, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("unconfined start: %w", err)
	}
	ds := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if err := exec.CommandContext(ctx, exe, "version").Run(); err != nil {
			return 0, fmt.Errorf("unconfined start: %w", err)
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}

var evalScaleCmd = &cmdSpec{
	name:    "scale",
	summary: "the scale benchmark: S concurrent sessions, apps sandboxed and in process",
	help: `Each of S sessions asks the two-app fare query once, all at once, on a fresh
in-memory engine with the offline model, first with the apps in process and
then sandboxed. Prints throughput, p50/p99, this (hub) process's peak RSS,
threads and descriptors, live workers and the hub's descendant processes
(the spawner and sandboxed workers), workers started, queries and steps
queued, and
the cost of one sandboxed worker start (sandbox/launch MeasureStartCost) at N
live workers beside an unconfined start of the same binary.`,
	new: func() options { return &scaleOpts{} },
}

type scaleOpts struct {
	sessions, modes, startAt string
	users                    int
	maxWorkers, maxPerUser   int
	maxQueries               int
	weaker                   bool
	timeout                  time.Duration
	cpuProfile               string
}

func (o *scaleOpts) flags(fs *flag.FlagSet, stdio IO) {
	fs.StringVar(&o.sessions, "sessions", "1,10,100,1000", "the session counts S, comma-separated")
	fs.StringVar(&o.modes, "modes", "in-process,sandboxed", "how apps run, comma-separated: in-process, sandboxed")
	fs.IntVar(&o.users, "users", 0, "how many users the sessions belong to; 0 means one user per session (no sharing of pooled workers)")
	fs.IntVar(&o.maxWorkers, "max-workers", 0, "cap on live workers (0: "+engine.EnvMaxWorkers+" or the default)")
	fs.IntVar(&o.maxPerUser, "max-workers-per-user", 0, "cap on one user's live workers (0: "+engine.EnvMaxWorkersPerUser+" or the default)")
	fs.IntVar(&o.maxQueries, "max-queries", 0, "cap on queries running at once (0: "+engine.EnvMaxQueries+" or the default)")
	fs.StringVar(&o.startAt, "start-cost-at", "1,1000,3000", "live worker counts at which to measure one worker start (needs the sandbox's hook)")
	registerWeaker(fs, &o.weaker, stdio.Getenv)
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up on one row after this long; 0 means no limit")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the hub's CPU profile of the whole run to this file (go tool pprof)")
}

func (o *scaleOpts) run(_ []string, stdio IO) int {
	name := "isolategpt eval scale"
	usage := func(format string, args ...any) int {
		fmt.Fprintf(stdio.Err, name+": "+format+"\n", args...)
		return ExitUsage
	}
	sessions, err := positiveInts(o.sessions)
	if err != nil {
		return usage("--sessions: %v", err)
	}
	startAt, err := positiveInts(o.startAt)
	if err != nil {
		return usage("--start-cost-at: %v", err)
	}
	var modes []scale.Mode
	for _, m := range strings.Split(o.modes, ",") {
		switch mode := scale.Mode(strings.TrimSpace(m)); mode {
		case scale.InProcess, scale.Sandboxed:
			modes = append(modes, mode)
		default:
			return usage("--modes: unknown mode %q (in-process, sandboxed)", m)
		}
	}
	if o.users < 0 || o.maxWorkers < 0 || o.maxPerUser < 0 || o.maxQueries < 0 {
		return usage("--users, --max-workers, --max-workers-per-user and --max-queries: want 0 or more")
	}
	if o.timeout < 0 {
		return usage("--timeout: want 0 or more")
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return usage("--cpuprofile: %v", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return usage("--cpuprofile: %v", err)
		}
		defer pprof.StopCPUProfile()
	}
	res, err := scale.Run(stdio.ctx(), scale.Config{
		Sessions: sessions, Modes: modes, Users: o.users,
		MaxWorkers: o.maxWorkers, MaxWorkersPerUser: o.maxPerUser, MaxQueries: o.maxQueries, AllowWeaker: o.weaker,
		Timeout: o.timeout, StartCost: scaleStartCost(o.weaker), StartCostAt: startAt, Progress: stdio.Err,
	})
	if res != nil {
		fmt.Fprint(stdio.Out, res.Table())
	}
	if err != nil {
		fmt.Fprintf(stdio.Err, "%s: %v\n", name, err)
		if res != nil && len(res.Rows) > 0 {
			return ExitPartial
		}
		return ExitFailed
	}
	for _, r := range res.Rows {
		if r.Failed > 0 {
			return ExitPartial
		}
	}
	return ExitOK
}

func positiveInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want positive integers, comma-separated", f)
		}
		out = append(out, n)
	}
	return out, nil
}
