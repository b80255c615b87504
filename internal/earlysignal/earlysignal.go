// Package earlysignal catches SIGINT and SIGTERM from the process's first
// moment. A Go program dies of these signals until something asks for
// them, and isolategpt's dependencies take tens of milliseconds to
// initialize (schema compilers, metrics) before main's own code runs; this
// package imports nothing that is slow, and Go initializes packages in
// import-path order among those ready, so it asks for them before those
// dependencies start. The command that runs then takes the catch over or
// gives it back (see the main package's cmd_signals_early.go).
package earlysignal

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Sandbox stages this binary runs as (sandbox/worker, sandbox/spawner):
// their signals are their hub's to send, so they are not caught. A test in
// the main package checks these against the packages' own names.
var Stages = []string{"worker", "worker-confined", "sandbox-spawner"}

var (
	mu sync.Mutex
	ch = catch()
)

// LateEnv, set to 1, leaves signals to the command as before this
// package (caught once ask or batch starts), for the test that shows the
// window it closes.
const LateEnv = "ISOLATEGPT_TEST_LATE_SIGNALS"

func catch() chan os.Signal {
	if os.Getenv(LateEnv) == "1" {
		return nil
	}
	if len(os.Args) > 1 {
		for _, s := range Stages {
			if os.Args[1] == s {
				return nil
			}
		}
	}
	c := make(chan os.Signal, 4)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	return c
}

// Take hands over the catch, with any signal already caught; nil when it
// was taken or released before, or never made (a sandbox stage).
func Take() chan os.Signal {
	mu.Lock()
	defer mu.Unlock()
	c := ch
	ch = nil
	return c
}

// Release gives SIGINT and SIGTERM back to their default, and returns the
// signal that came while they were caught, or nil.
func Release() os.Signal {
	c := Take()
	if c == nil {
		return nil
	}
	signal.Stop(c)
	select {
	case s := <-c:
		return s
	default:
		return nil
	}
}
