package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/isolategpt/isolategpt/engine"
	"github.com/isolategpt/isolategpt/evaluation/scale"
)

// scaleStartCost is the hook for the worker-start column of `eval scale`:
// the sandbox's measurement of one worker start at N live workers
// (sandbox/launch MeasureStartCost). Nil: the column says it was not
// measured.
var scaleStartCost scale.StartCostFunc

var evalScaleCmd = &cmdSpec{
	name:    "scale",
	summary: "the scale benchmark: S concurrent sessions, apps sandboxed and in process",
	help: `Each of S sessions asks the two-app fare query once, all at once, on a fresh
in-memory engine with the offline model, first with the apps in process and
then sandboxed. Prints throughput, p50/p99, this (hub) process's peak RSS,
threads and descriptors, live spokes, workers started and steps queued, and
the worker start cost at N live workers when the sandbox's hook is wired.`,
	new: func() options { return &scaleOpts{} },
}

type scaleOpts struct {
	sessions, modes, startAt string
	users                    int
	maxWorkers, maxPerUser   int
	weaker                   bool
	timeout                  time.Duration
}

func (o *scaleOpts) flags(fs *flag.FlagSet, stdio IO) {
	fs.StringVar(&o.sessions, "sessions", "1,10,100,1000", "the session counts S, comma-separated")
	fs.StringVar(&o.modes, "modes", "in-process,sandboxed", "how apps run, comma-separated: in-process, sandboxed")
	fs.IntVar(&o.users, "users", 0, "how many users the sessions belong to; 0 means one user per session (no sharing of pooled workers)")
	fs.IntVar(&o.maxWorkers, "max-workers", 0, "cap on live workers (0: "+engine.EnvMaxWorkers+" or the default)")
	fs.IntVar(&o.maxPerUser, "max-workers-per-user", 0, "cap on one user's live workers (0: "+engine.EnvMaxWorkersPerUser+" or the default)")
	fs.StringVar(&o.startAt, "start-cost-at", "1,1000,3000", "live worker counts at which to measure one worker start (needs the sandbox's hook)")
	registerWeaker(fs, &o.weaker, stdio.Getenv)
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up on one row after this long; 0 means no limit")
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
	if o.users < 0 || o.maxWorkers < 0 || o.maxPerUser < 0 {
		return usage("--users, --max-workers and --max-workers-per-user: want 0 or more")
	}
	if o.timeout < 0 {
		return usage("--timeout: want 0 or more")
	}
	res, err := scale.Run(stdio.ctx(), scale.Config{
		Sessions: sessions, Modes: modes, Users: o.users,
		MaxWorkers: o.maxWorkers, MaxWorkersPerUser: o.maxPerUser, AllowWeaker: o.weaker,
		Timeout: o.timeout, StartCost: scaleStartCost, StartCostAt: startAt, Progress: stdio.Err,
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
