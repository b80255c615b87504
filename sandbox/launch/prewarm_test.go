package launch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/sandbox"
)

// waitWarm waits until a warm worker for app waits.
func waitWarm(t testing.TB, l *Launcher, a sandbox.App) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if idle, _ := l.waiting(a); idle > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no warm worker after 30 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPrewarmedWorkers: a worker started ahead serves the folder of the
// Launch that takes it and no other, with every layer in place; one that
// died while it waited is replaced by a cold start.
func TestPrewarmedWorkers(t *testing.T) {
	hubModes(t, func(t *testing.T) {
		l := newLauncher(t)
		start(t, l, t.TempDir()).Close() // skips where the kernel cannot
		l.Prewarm = 1
		t.Cleanup(func() { l.Close() })
		if err := l.Warm(probeApp); err != nil {
			t.Fatal(err)
		}
		for i, user := range []string{"alice", "bob"} {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, user), []byte(user), 0o644); err != nil {
				t.Fatal(err)
			}
			waitWarm(t, l, probeApp)
			c := start(t, l, dir)
			if _, handed := l.waiting(probeApp); handed != i+1 {
				t.Fatalf("launch %d was not given a warm worker (%d handed out)", i+1, handed)
			}
			got := mustTry(t, c, "ls", sandbox.DataPath, 0).Out
			if !strings.Contains(got, user) || strings.Contains(got, map[string]string{"alice": "bob", "bob": "alice"}[user]) {
				t.Errorf("%s's worker sees %q in its folder", user, got)
			}
			mustTry(t, c, "write", filepath.Join(sandbox.DataPath, "out"), 0)
			c.Close()
			if _, err := os.Stat(filepath.Join(dir, "out")); err != nil {
				t.Errorf("%s's folder did not get what the app wrote: %v", user, err)
			}
			checkLayers(t, l)
		}

		// A warm worker killed while it waits: Launch starts another.
		waitWarm(t, l, probeApp)
		l.pool.mu.Lock()
		for _, ws := range l.pool.idle {
			for _, w := range ws {
				w.b.p.kill()
			}
		}
		l.pool.mu.Unlock()
		c := start(t, l, t.TempDir())
		mustTry(t, c, "whoami", "", 0)
		c.Close()
	})
}

// TestPrewarmOnDemand: a configuration launched once gets no worker
// started ahead (a one-shot command wastes none); at its second Launch one
// is started, a third Launch takes it, and Close kills the one waiting
// then.
func TestPrewarmOnDemand(t *testing.T) {
	hubModes(t, func(t *testing.T) {
		l := newLauncher(t)
		l.Prewarm = 1
		t.Cleanup(func() { l.Close() })
		start(t, l, t.TempDir()).Close()
		time.Sleep(100 * time.Millisecond)
		l.pool.mu.Lock()
		started := 0
		for _, n := range l.pool.filling {
			started += n
		}
		for _, ws := range l.pool.idle {
			started += len(ws)
		}
		l.pool.mu.Unlock()
		if started != 0 {
			t.Fatalf("%d workers started ahead after one Launch", started)
		}
		start(t, l, t.TempDir()).Close()
		waitWarm(t, l, probeApp)
		start(t, l, t.TempDir()).Close()
		if _, handed := l.waiting(probeApp); handed != 1 {
			t.Fatalf("the third Launch was not given the warm worker (%d handed out)", handed)
		}
		waitWarm(t, l, probeApp)
		l.pool.mu.Lock()
		var pids []int
		for _, ws := range l.pool.idle {
			for _, w := range ws {
				pids = append(pids, w.b.p.w.PID())
			}
		}
		l.pool.mu.Unlock()
		l.Close()
		for _, pid := range pids {
			deadline := time.Now().Add(5 * time.Second)
			for unix.Kill(pid, 0) == nil {
				if time.Now().After(deadline) {
					t.Fatalf("warm worker %d outlived Close", pid)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	})
}

// BenchmarkColdStartPrewarmed is BenchmarkColdStart with a warm worker
// waiting for each Launch (the time to wait for it is not counted: it is
// the start a user sees when the pool keeps up).
func BenchmarkColdStartPrewarmed(b *testing.B) {
	l := &Launcher{Prewarm: 1}
	defer l.Close()
	if err := l.Warm(probeApp); err != nil {
		b.Fatal(err)
	}
	benchStarts(b, l, "prewarmed", func() { waitWarm(b, l, probeApp) })
}
