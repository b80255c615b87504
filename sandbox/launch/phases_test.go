package launch

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/sandbox/confine"
	"github.com/isolategpt/isolategpt/sandbox/policy"
)

// Stages of this test binary for TestStartPhases' baselines.
const (
	benchExit    = "bench-exit"    // Go runtime and package init, then exit
	benchSeccomp = "bench-seccomp" // the same, plus the built-in seccomp profile
)

func benchStage(args []string) (int, bool) {
	if len(args) == 0 {
		return 0, false
	}
	switch args[0] {
	case benchExit:
		return 0, true
	case benchSeccomp:
		if err := confine.Seccomp(policy.BuiltinPolicy()); err != nil {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// forkExit runs this binary's stage with the given namespaces (0: none).
func forkExit(stage string, flags uintptr) error {
	cmd := exec.Command("/proc/self/exe", stage)
	cmd.Env = []string{}
	if flags != 0 {
		uid, gid := hostIDs()
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  flags,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: gid, Size: 1}},
			Credential:  &syscall.Credential{},
		}
	}
	return cmd.Run()
}

// TestStartPhases prints where a sandboxed worker's cold start goes, step
// by step as the hub sees it, beside baselines run in the same rounds:
// an unconfined start of the same binary with the same hand-shake, a bare
// fork/exec/exit of it (Go runtime and package init), the same with every
// worker namespace (and without the network one), and with the seccomp
// profile loaded. Medians of ISOLATEGPT_START_PHASES rounds (it runs only
// when set).
func TestStartPhases(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("ISOLATEGPT_START_PHASES"))
	if n <= 0 {
		t.Skip("set ISOLATEGPT_START_PHASES=<rounds> to measure")
	}
	l := newLauncher(t)
	start(t, l, t.TempDir()).Close()
	dir := t.TempDir()
	got := map[string][]time.Duration{}
	var order []string
	own := newLauncher(t)
	own.NoSharedNet = true
	warm := newLauncher(t)
	warm.Prewarm = 1
	defer warm.Close()
	if err := warm.Warm(probeApp); err != nil {
		t.Fatal(err)
	}
	recording := false
	phases.mu.Lock()
	phases.see = func(step string, d time.Duration) {
		if !recording {
			return
		}
		if _, ok := got[step]; !ok {
			order = append(order, step)
		}
		got[step] = append(got[step], d)
	}
	phases.mu.Unlock()
	defer func() { phases.mu.Lock(); phases.see = nil; phases.mu.Unlock() }()
	timed := func(name string, f func() error) {
		t0 := time.Now()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got[name] = append(got[name], time.Since(t0))
	}
	launch := func(l *Launcher) func() error {
		return func() error {
			c, err := l.Launch(t.Context(), probeApp, dir)
			if err == nil {
				c.Close()
			}
			return err
		}
	}
	base := []struct {
		name string
		f    func() error
	}{
		{"= sandboxed Launch, a network namespace of its own", launch(own)},
		{"= Launch taking a prewarmed worker", func() error {
			waitWarm(t, warm, probeApp) // not counted: the start a user sees when the pool keeps up
			return launch(warm)()
		}},
		{"= unconfined start + initialize", func() error {
			c, cmd, err := unconfined(t.Context())
			if err == nil {
				c.Close()
				cmd.Process.Kill()
				cmd.Wait()
			}
			return err
		}},
		{"fork/exec/exit, no namespaces", func() error { return forkExit(benchExit, 0) }},
		{"fork/exec/exit, worker namespaces", func() error { return forkExit(benchExit, Namespaces) }},
		{"fork/exec/exit, worker namespaces but network", func() error { return forkExit(benchExit, Namespaces&^unix.CLONE_NEWNET) }},
		{"fork/exec/exit + seccomp load", func() error { return forkExit(benchSeccomp, 0) }},
	}
	for i := range n {
		recording = true
		timed("= sandboxed Launch total", launch(l))
		recording = false
		// A different baseline order each round.
		for j := range base {
			b := base[(i+j)%len(base)]
			timed(b.name, b.f)
		}
	}
	med := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[len(s)/2]
	}
	var sum time.Duration
	for _, step := range order {
		sum += med(got[step])
	}
	out := "\n"
	for _, step := range order {
		out += fmt.Sprintf("  %-56s %9v\n", step, med(got[step]).Round(10*time.Microsecond))
	}
	out += fmt.Sprintf("  %-56s %9v\n", "(sum of step medians)", sum.Round(10*time.Microsecond))
	unconf := med(got["= unconfined start + initialize"])
	for _, name := range append([]string{"= sandboxed Launch total"}, func() (ns []string) {
		for _, b := range base {
			ns = append(ns, b.name)
		}
		return ns
	}()...) {
		m := med(got[name])
		out += fmt.Sprintf("  %-56s %9v  %5.2f× unconfined\n", name, m.Round(10*time.Microsecond), float64(m)/float64(unconf))
	}
	out += fmt.Sprintf("  (%d rounds, uid %d)", n, os.Getuid())
	t.Log(out)
}
