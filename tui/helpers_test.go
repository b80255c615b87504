package tui

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine"
	"github.com/isolategpt/isolategpt/sandbox/inproc"
	"github.com/isolategpt/isolategpt/sandbox/worker"
)

// updating reports -update, the flag teatest's golden package already
// defines: it rewrites the golden frames in testdata/.
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// TestMain lets this binary serve as the sandbox worker for the test that
// runs real sandboxed apps.
func TestMain(m *testing.M) {
	if code, ok := worker.Dispatch(os.Args[1:]); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// clock is a settable clock for the dialog's grace period and event stamps.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newEngine starts an engine on dir with in-process apps: the given ones,
// or every built-in app.
func newEngine(t *testing.T, dir string, apps ...string) *engine.Engine {
	t.Helper()
	e, err := engine.New(engine.Config{DataDir: dir, LLM: "offline", Launcher: inproc.Launcher{}, Apps: apps})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func openSession(t *testing.T, e *engine.Engine, p *Prompter) *engine.Session {
	t.Helper()
	s, err := e.OpenSession(t.Context(), "alice", p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// decisions collects the permission decisions the engine publishes.
func decisions(t *testing.T, e *engine.Engine) <-chan *msg.PermissionDecided {
	ch := make(chan *msg.PermissionDecided, 64)
	sub := e.System().EventStream.Subscribe(func(ev any) {
		if d, ok := ev.(*msg.PermissionDecided); ok {
			ch <- d
		}
	})
	t.Cleanup(func() { e.System().EventStream.Unsubscribe(sub) })
	return ch
}

func nextDecision(t *testing.T, ch <-chan *msg.PermissionDecided) *msg.PermissionDecided {
	t.Helper()
	select {
	case d := <-ch:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no permission decision within 10s")
		return nil
	}
}

// waitOutput waits until the program has drawn want.
func waitOutput(t *testing.T, tm *teatest.TestModel, want string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(want)) },
		teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
}

// fence returns once the program has handled every message sent before it:
// the program takes one message at a time, so the fence's own Send returns
// only after the previous message's Update.
type fenceMsg struct{}

func fence(tm *teatest.TestModel) {
	tm.Send(fenceMsg{})
	tm.Send(fenceMsg{})
}

func keys(tm *teatest.TestModel, ks ...tea.KeyType) {
	for _, k := range ks {
		tm.Send(tea.KeyMsg{Type: k})
	}
}

// golden compares a frame with testdata/NAME.golden (-update rewrites it).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if updating() {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./tui -update to create it)", err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Errorf("line %d:\n got  %q\n want %q", i+1, g, w)
			}
		}
		t.Fatalf("frame %s differs from %s (run with -update if the change is intended)", name, path)
	}
}
