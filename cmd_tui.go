package main

import (
	"flag"
	"fmt"
	"os/signal"
	"strings"
	"syscall"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine"
	"github.com/isolategpt/isolategpt/engine/control"
	"github.com/isolategpt/isolategpt/engine/metrics"
	"github.com/isolategpt/isolategpt/tui"
)

var tuiCmd = &cmdSpec{
	name:    "tui",
	summary: "the terminal UI: chat, permission dialogs, live view, metrics, apps (isolategpt with no command)",
	help: `Other isolategpt commands on the same data folder (ask, batch, audit, apps,
grants) run through the TUI while it is open; it shows what they do.
Nothing but the TUI writes to the terminal: logs go to isolategpt.log in the
data folder.`,
	new: func() options { return &tuiOpts{} },
}

type tuiOpts struct {
	c           common
	metricsAddr string
}

func (o *tuiOpts) flags(fs *flag.FlagSet, stdio IO) {
	o.c.register(fs, stdio.Getenv)
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on this `address` (for example 127.0.0.1:9464) at /metrics")
}

// TUI runs `isolategpt tui [flags]` (and `isolategpt` with no arguments):
// the terminal UI over one session, on the offline model unless --llm says
// otherwise.
func TUI(args []string, stdio IO) int { return runCommand(stdio, "tui", args...) }

func (o *tuiOpts) run(_ []string, stdio IO) int {
	c := &o.c
	if !stdio.InTTY || !stdio.OutTTY {
		fmt.Fprintln(stdio.Err, "isolategpt tui: needs a terminal on stdin and stdout (use ask or batch otherwise)")
		return ExitUsage
	}
	// Work other processes submit through this one, for the chat: never
	// blocks the command that reports it.
	remote := make(chan tui.Remote, 256)
	observe := func(ev any) {
		var r tui.Remote
		switch e := ev.(type) {
		case control.Event:
			r = tui.Remote{PID: e.PeerPID, Command: strings.Join(e.Args, " "), Done: e.Done, Code: e.Code}
		case ServedQuery:
			r = tui.Remote{PID: e.PeerPID, Query: e.Query, Done: e.Done, Err: e.Err}
			r.Answer, _ = e.Answer.(*msg.Answer)
		default:
			return
		}
		select {
		case remote <- r:
		default:
		}
	}
	return c.withEngine(stdio, "tui", holdOptions{observe: observe}, func(e *engine.Engine) int {
		col := metrics.New(e.System(), e.Status)
		defer col.Close()
		addr := ""
		if o.metricsAddr != "" {
			srv, err := col.Serve(o.metricsAddr, e.Logger().With("component", "metrics"))
			if err != nil {
				fmt.Fprintf(stdio.Err, "isolategpt tui: %v\n", err)
				return ExitUsage
			}
			defer srv.Close()
			addr = srv.Addr()
		}
		ctx, stop := signal.NotifyContext(stdio.ctx(), syscall.SIGTERM, syscall.SIGHUP)
		defer stop()
		err := tui.Run(ctx, tui.Options{Engine: e, User: c.user, Metrics: col, MetricsAddr: addr, In: stdio.In, Out: stdio.Out, Remote: remote})
		if err != nil {
			// The TUI has left the terminal by now.
			fmt.Fprintf(stdio.Err, "isolategpt tui: %v\n", err)
			return ExitFailed
		}
		return ExitOK
	})
}
