package main

import (
	"context"
	"os"
	"os/exec"

	"github.com/isolategpt/isolategpt/evaluation/scale"
	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/launch"
)

// The worker-start column of `eval scale`: sandbox/launch's own
// measurement, a built-in app (metro_hail) started in a sandboxed worker of
// this binary at N live workers, beside a plain fork, exec and exit of the
// same binary (`isolategpt version`) after each start. A host that cannot
// give every layer of the sandbox makes the column an error, never a
// weaker sandbox.
func init() { scaleStartCost = sandboxStartCost }

func sandboxStartCost(ctx context.Context, live int) (scale.StartCost, error) {
	dir, err := os.MkdirTemp("", "isolategpt-startcost-")
	if err != nil {
		return scale.StartCost{}, err
	}
	defer os.RemoveAll(dir)
	exe, err := os.Executable()
	if err != nil {
		return scale.StartCost{}, err
	}
	l := &launch.Launcher{Exe: exe}
	app := sandbox.App{ID: "metro_hail", Kind: sandbox.KindBuiltin}
	baseline := func(ctx context.Context) error { return exec.CommandContext(ctx, exe, "version").Run() }
	costs, err := l.MeasureStartCostWith(ctx, app, dir, []int{live}, 20, baseline)
	if err != nil {
		return scale.StartCost{}, err
	}
	c := costs[0]
	return scale.StartCost{Live: c.Live, Sandboxed: c.Wall, Unconfined: c.Unconfined, HubCPU: c.HubCPU}, nil
}
