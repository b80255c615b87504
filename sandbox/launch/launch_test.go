package launch

import (
	"golang.org/x/sys/unix"

	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/hubtest"
	"github.com/isolategpt/isolategpt/sandbox/worker"
)

// probeApp is the test app that tries forbidden things from inside.
var probeApp = sandbox.App{ID: "probe", Kind: sandbox.KindBuiltin}

// TestMain makes this test binary the worker when the launcher re-executes
// it, with the probe app registered.
func TestMain(m *testing.M) {
	worker.Register("probe", probeHandler)
	if len(os.Args) > 1 && os.Args[1] == unconfinedStage {
		os.Exit(serveUnconfined())
	}
	if len(os.Args) > 1 && os.Args[1] == probeCommand {
		// exit_group at once: the race detector's exit hook would sleep a
		// second in every probe.
		unix.Exit(probeMain(os.Args[2:]))
	}
	if code, ok := benchStage(os.Args[1:]); ok {
		unix.Exit(code)
	}
	if code, ok := worker.Dispatch(os.Args[1:]); ok {
		os.Exit(code)
	}
	code := m.Run()
	hubtest.Cleanup()
	os.Exit(code)
}

// start launches a probe worker, skipping (with the reason) only when the
// kernel lacks a feature the sandbox needs.
func start(t *testing.T, l *Launcher, dir string, app ...sandbox.App) sandbox.Conn {
	t.Helper()
	a := probeApp
	if len(app) > 0 {
		a = app[0]
	}
	c, err := l.Launch(t.Context(), a, dir)
	if err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "landlock is not available"):
			t.Skip("kernel has no Landlock: " + msg)
		case strings.Contains(msg, "start worker") && (errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL)):
			t.Skip("kernel refuses user namespaces here: " + msg)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func try(t *testing.T, c sandbox.Conn, action, arg string, n int) (probeResult, error) {
	t.Helper()
	args, _ := json.Marshal(probeArgs{Action: action, Arg: arg, N: n})
	out, err := c.CallTool(t.Context(), "try", args)
	if err != nil {
		return probeResult{}, err
	}
	var r probeResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("probe result %s: %v", out, err)
	}
	return r, nil
}

func mustTry(t *testing.T, c sandbox.Conn, action, arg string, n int) probeResult {
	t.Helper()
	r, err := try(t, c, action, arg, n)
	if err != nil {
		t.Fatalf("%s %s: %v", action, arg, err)
	}
	return r
}

func TestLimitsKillTheWorkerAndNameTheLimit(t *testing.T) {
	tests := []struct {
		name, action string
		n            int
		timeout      time.Duration
		want, cause  string
	}{
		{"sleeping forever", "sleep", 0, 2 * time.Second, "wall-clock limit", sandbox.CauseTimeout},
		{"spinning forever", "spin", 0, 2 * time.Second, "wall-clock limit", sandbox.CauseTimeout},
		// Only the size cap may stop this one, however slow the machine.
		{"endless output", "output", 4 << 20, time.Minute, "byte limit", sandbox.CauseOutput},
		{"memory balloon", "alloc", 200, time.Minute, "memory (address-space) limit", sandbox.CauseMemory},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLauncher(t)
			l.CallTimeout, l.MaxMessageBytes = tt.timeout, 1<<20
			c := start(t, l, t.TempDir())
			start := time.Now()
			_, err := try(t, c, tt.action, "", tt.n)
			if err == nil {
				t.Fatalf("%s was not stopped", tt.name)
			}
			t.Logf("contained: %v", err)
			if !errors.Is(err, sandbox.ErrDead) || !strings.Contains(err.Error(), tt.want) || sandbox.Cause(err) != tt.cause {
				t.Errorf("error %q (cause %q), want ErrDead mentioning %q with cause %q", err, sandbox.Cause(err), tt.want, tt.cause)
			}
			if d := time.Since(start); d > tt.timeout+10*time.Second {
				t.Errorf("took %s to contain", d)
			}
			// A fresh worker serves the next call.
			c2 := start2(t, l)
			if r := mustTry(t, c2, "whoami", "", 0); !r.OK {
				t.Errorf("a fresh worker does not answer: %s", r.Err)
			}
		})
	}
}

func start2(t *testing.T, l *Launcher) sandbox.Conn { return start(t, l, t.TempDir()) }

func TestSetupErrorsComeBackBeforeAnyAppCode(t *testing.T) {
	_, err := newLauncher(t).Launch(t.Context(), sandbox.App{ID: "no_such_app", Kind: sandbox.KindBuiltin}, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "set-up") {
		t.Fatalf("err = %v", err)
	}
}

func TestLaunchRefusesASymlinkedDataFolder(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "link")
	if err := os.Symlink("/etc", link); err != nil {
		t.Fatal(err)
	}
	if _, err := newLauncher(t).Launch(context.Background(), probeApp, link); err == nil {
		t.Fatal("a symlinked data folder was accepted")
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestACallGivenUpOnKillsTheWorker(t *testing.T) {
	c := start(t, newLauncher(t), t.TempDir())
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	args, _ := json.Marshal(probeArgs{Action: "sleep"})
	_, err := c.CallTool(ctx, "try", args)
	if sandbox.Cause(err) != sandbox.CauseTimeout || !strings.Contains(err.Error(), "given up on") {
		t.Fatalf("err = %v (cause %q)", err, sandbox.Cause(err))
	}
	pid := c.(sandbox.PIDer).PID()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("worker %d still exists after its call was given up on (kill 0: %v)", pid, err)
	}
}
