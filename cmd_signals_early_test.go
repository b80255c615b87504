package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/internal/earlysignal"
	"github.com/isolategpt/isolategpt/sandbox/spawner"
	"github.com/isolategpt/isolategpt/sandbox/worker"
)

func TestEarlySignalStagesMatch(t *testing.T) {
	if want := []string{worker.Stage1, worker.Stage2, spawner.Stage}; !slices.Equal(earlysignal.Stages, want) {
		t.Fatalf("earlysignal.Stages = %v, want %v", earlysignal.Stages, want)
	}
}

// TestSignalBeforeTheCommandStarts (faults finding 5): SIGINT or SIGTERM
// before ask or batch parsed its flags or opened anything — where a signal
// in the process's first milliseconds lands — ends the command by itself:
// exit 5, "interrupt" on stderr, nothing held or left open. With the early
// catch off (signals caught only once the command runs, as before) the
// same signal kills it. Each case many times, as root and as nobody.
func TestSignalBeforeTheCommandStarts(t *testing.T) {
	asUsers(t, func(t *testing.T, data string, run func(o procOptions, args ...string) *proc) {
		if err := os.WriteFile(filepath.Join(data, "policy.json"), []byte(allowRides), 0o644); err != nil {
			t.Fatal(err)
		}
		trial := func(i int, late bool) *proc {
			env := []string{signalSelf + "=" + []string{"INT", "TERM"}[i/2%2]}
			if late {
				env = append(env, earlysignal.LateEnv+"=1")
			}
			args := []string{"batch", "--data", data, "--policy", "policy.json"}
			if i%2 == 1 {
				args = []string{"ask", "--data", data, "--yes", fareAB}
			}
			p := run(procOptions{stdin: "pipe", dir: data, env: env}, args...)
			p.wait(t)
			return p
		}
		for i := range 4 {
			if p := trial(i, true); p.cmd.ProcessState.Exited() {
				t.Fatalf("early catch off: %v exited %d, not killed by its signal: the test proves nothing\n%s", p.cmd.Args[1], p.cmd.ProcessState.ExitCode(), p.err)
			}
		}
		for i := range 12 {
			p := trial(i, false)
			if !p.cmd.ProcessState.Exited() || p.cmd.ProcessState.ExitCode() != ExitInterrupted || !strings.Contains(p.err.String(), "interrupt") {
				t.Fatalf("trial %d (%v): %v\nstderr: %s", i, p.cmd.Args[1], p.cmd.ProcessState, p.err)
			}
			if _, err := os.Stat(filepath.Join(data, "store")); err == nil {
				t.Fatalf("trial %d (%v): a store was opened:\n%s", i, p.cmd.Args[1], p.err)
			}
		}
	})
}
