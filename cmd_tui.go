package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/isolategpt/isolategpt/engine/metrics"
	"github.com/isolategpt/isolategpt/tui"
)

// TUI runs `isolategpt tui [flags]` (and `isolategpt` with no arguments):
// the terminal UI over one session, on the offline model unless --llm says
// otherwise. Nothing but the TUI writes to the terminal while it runs: logs
// go to the data folder's isolategpt.log.
func TUI(args []string, stdio IO) int {
	fs := flag.NewFlagSet("tui", flag.ContinueOnError)
	fs.SetOutput(stdio.Err)
	var c common
	c.register(fs, stdio.Getenv)
	metricsAddr := fs.String("metrics-addr", "", "serve Prometheus metrics on this address (for example 127.0.0.1:9464) at /metrics")
	fs.Usage = func() {
		fmt.Fprintln(stdio.Err, "usage: isolategpt [tui] [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return ExitUsage
	}
	out, ok := stdio.Out.(*os.File)
	if !isTerminal(stdio.In) || !ok || !isTerminal(out) {
		fmt.Fprintln(stdio.Err, "isolategpt tui: needs a terminal on stdin and stdout (use ask or batch otherwise)")
		return ExitUsage
	}
	e, closeAll, err := c.open(stdio)
	if err != nil {
		fmt.Fprintf(stdio.Err, "isolategpt tui: %v\n", err)
		return ExitUsage
	}
	defer closeAll()
	col := metrics.New(e.System(), e.Status)
	defer col.Close()
	addr := ""
	if *metricsAddr != "" {
		srv, err := col.Serve(*metricsAddr, e.Logger().With("component", "metrics"))
		if err != nil {
			fmt.Fprintf(stdio.Err, "isolategpt tui: %v\n", err)
			return ExitUsage
		}
		defer srv.Close()
		addr = srv.Addr()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	err = tui.Run(ctx, tui.Options{Engine: e, User: c.user, Metrics: col, MetricsAddr: addr, In: stdio.In, Out: stdio.Out})
	if err != nil {
		// The TUI has left the terminal by now.
		fmt.Fprintf(stdio.Err, "isolategpt tui: %v\n", err)
		return ExitFailed
	}
	return ExitOK
}
