package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isolategpt/isolategpt/sandbox/cgroup"
	"github.com/isolategpt/isolategpt/sandbox/hubtest"
	"github.com/isolategpt/isolategpt/sandbox/worker"
)

// capture runs run(args) with stdout and stderr sent to files.
func capture(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	dir := t.TempDir()
	open := func(name string) *os.File {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	outF, errF := open("stdout"), open("stderr")
	oldOut, oldErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = outF, errF
	code = run(args)
	os.Stdout, os.Stderr = oldOut, oldErr
	outF.Close()
	errF.Close()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	return code, read("stdout"), read("stderr")
}

func TestRunDispatch(t *testing.T) {
	empty := t.TempDir()
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
		emptyOut bool
		emptyErr bool
	}{
		// No command opens the TUI, which refuses to start without a terminal.
		{name: "no command", args: nil, wantCode: ExitUsage, wantErr: "needs a terminal", emptyOut: true},
		{name: "flags alone reach the tui command", args: []string{"--data", "x"}, wantCode: ExitUsage, wantErr: "isolategpt tui: needs a terminal", emptyOut: true},
		{name: "tui reaches the tui command", args: []string{"tui", "--data", empty}, wantCode: ExitUsage, wantErr: "isolategpt tui: needs a terminal", emptyOut: true},
		{name: "help", args: []string{"help"}, wantCode: ExitOK, wantOut: "usage: isolategpt COMMAND", emptyErr: true},
		{name: "-h", args: []string{"-h"}, wantCode: ExitOK, wantOut: "commands:", emptyErr: true},
		{name: "--help", args: []string{"--help"}, wantCode: ExitOK, wantOut: "audit", emptyErr: true},
		{name: "unknown command", args: []string{"launch"}, wantCode: ExitUsage, wantErr: `unknown command "launch"`, emptyOut: true},
		{name: "ask reaches the ask command", args: []string{"ask", "--data", empty}, wantCode: ExitUsage, wantErr: "isolategpt ask: missing QUERY", emptyOut: true},
		{name: "audit reaches the audit command", args: []string{"audit", "--data", empty}, wantCode: ExitUsage, wantErr: "isolategpt audit: no store", emptyOut: true},
		{name: "batch reaches the batch command", args: []string{"batch", "--data", empty}, wantCode: ExitUsage, wantErr: "isolategpt batch: --policy FILE is required", emptyOut: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := capture(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out, errs)
			}
			if !strings.Contains(out, tt.wantOut) || !strings.Contains(errs, tt.wantErr) {
				t.Errorf("stdout:\n%s\nstderr:\n%s\nwant stdout with %q, stderr with %q", out, errs, tt.wantOut, tt.wantErr)
			}
			if tt.emptyOut && out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if tt.emptyErr && errs != "" {
				t.Errorf("stderr %q, want nothing", errs)
			}
		})
	}
}

// asMain makes this test binary run as isolategpt itself, for the tests
// that start several isolategpt processes.
const asMain = "ISOLATEGPT_TEST_AS_MAIN"

// signalSelf (INT or TERM) makes a child sent as main signal itself
// before it runs the command.
const signalSelf = "ISOLATEGPT_TEST_SIGNAL_SELF"

// noRelayInterrupts (1) makes a child sent as main hang up on its first
// signal when another process runs its command, as before.
const noRelayInterrupts = "ISOLATEGPT_TEST_NO_RELAY_INTERRUPTS"

// TestMain lets this test binary serve as the sandbox worker, and as
// isolategpt when asMain is set.
// weakerFlags opts into a weaker sandbox where this host cannot give the
// hub its cgroups (an ordinary user on cgroup v1): without it no app
// starts there, which TestSandboxRunNeedsConsent checks.
func weakerFlags() []string {
	if len(cgroup.Detect().Missing()) > 0 {
		return []string{"--allow-weaker-sandbox"}
	}
	return nil
}

func TestMain(m *testing.M) {
	if code, ok := worker.Dispatch(os.Args[1:]); ok {
		os.Exit(code)
	}
	if os.Getenv(asMain) == "1" {
		if os.Getenv(panicAfterLogOpen) == "1" {
			// A crash as it would come: from a goroutine of its own,
			// once the data folder is open.
			afterLogOpen = func() {
				done := make(chan struct{})
				go func() { defer close(done); panic("a bug the test planted") }()
				<-done
			}
		}
		relayInterrupts = os.Getenv(noRelayInterrupts) != "1"
		if sig := os.Getenv(signalSelf); sig != "" {
			// A signal before flags are parsed or anything opened, as
			// one sent in the process's first milliseconds lands; the
			// pause lets it arrive.
			_ = syscall.Kill(os.Getpid(), map[string]syscall.Signal{"INT": syscall.SIGINT, "TERM": syscall.SIGTERM}[sig])
			time.Sleep(50 * time.Millisecond)
		}
		os.Exit(run(os.Args[1:]))
	}
	// The test runner itself keeps the default: Ctrl+C ends it.
	releaseEarly()
	code := m.Run()
	hubtest.Cleanup()
	os.Exit(code)
}
