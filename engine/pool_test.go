package engine

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/inproc"
)

const fareQuery = `Use metro_hail to estimate the fare from "A" to "B"`

// countingLauncher starts in-process apps, remembers whose each worker is,
// and holds every call while gate is set, so a test can keep a spoke busy.
type countingLauncher struct {
	mu       sync.Mutex
	launches []sandbox.App
	gate     chan struct{}
	started  chan struct{}
	served   []string // per call: the worker's user
}

func (l *countingLauncher) Launch(ctx context.Context, a sandbox.App, dir string) (sandbox.Conn, error) {
	c, err := inproc.Launcher{}.Launch(ctx, a, dir)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.launches = append(l.launches, a)
	return &gatedConn{Conn: c, l: l, user: a.User}, nil
}

func (l *countingLauncher) workers() []sandbox.App {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sandbox.App(nil), l.launches...)
}

type gatedConn struct {
	sandbox.Conn
	l    *countingLauncher
	user string
}

func (c *gatedConn) CallTool(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error) {
	c.l.mu.Lock()
	gate, started := c.l.gate, c.l.started
	c.l.served = append(c.l.served, c.user)
	c.l.mu.Unlock()
	if gate != nil {
		started <- struct{}{}
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return c.Conn.CallTool(ctx, name, args)
}

func askOK(t *testing.T, s *Session) {
	t.Helper()
	a, err := s.Ask(t.Context(), fareQuery)
	if err != nil {
		t.Fatal(err)
	}
	if st := stepOf(t, a, "s1"); st.Status != msg.StatusOK {
		t.Fatalf("step: %+v", st)
	}
}

// TestPooledWorkersNeverCrossUsers: a user's sessions share one worker per
// app; two users never do. With worker_per_user off the pool is keyed by
// the app alone and bob's step runs in the worker started for alice, with
// alice's app folder: the test that shows the defence matters.
func TestPooledWorkersNeverCrossUsers(t *testing.T) {
	for _, off := range []bool{false, true} {
		name := "defence on"
		if off {
			name = "worker_per_user off"
		}
		t.Run(name, func(t *testing.T) {
			var ds defence.Set
			if off {
				ds, _ = defence.Off(defence.WorkerPerUser)
			}
			l := &countingLauncher{}
			e := newEngine(t, Config{Launcher: l, Defences: ds})
			alice1, alice2 := session(t, e, "alice", &recorder{}), session(t, e, "alice", &recorder{})
			bob := session(t, e, "bob", &recorder{})
			askOK(t, alice1)
			askOK(t, alice2)
			askOK(t, bob)
			ws := l.workers()
			l.mu.Lock()
			served := append([]string(nil), l.served...)
			l.mu.Unlock()
			if off {
				if len(ws) != 1 || served[2] != "alice" {
					t.Fatalf("with the defence off bob should be served by alice's worker: workers %d, served by %v", len(ws), served)
				}
				return
			}
			if len(ws) != 2 {
				t.Fatalf("%d workers started, want 2 (alice's shared by her sessions, bob's)", len(ws))
			}
			if want := []string{"alice", "alice", "bob"}; strings.Join(served, ",") != strings.Join(want, ",") {
				t.Fatalf("calls served by the workers of %v, want %v", served, want)
			}
			st, err := e.Status(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, sp := range st.Spokes {
				if sp.User == "alice" && sp.Sessions != 2 {
					t.Errorf("alice's spoke is used by %d sessions, want 2", sp.Sessions)
				}
			}
		})
	}
}

// TestSessionCloseReleasesPooledWorker: the worker stays while any of the
// user's sessions that used it is open, and stops with the last.
func TestSessionCloseReleasesPooledWorker(t *testing.T) {
	e := newEngine(t, Config{Launcher: &countingLauncher{}})
	s1, s2 := session(t, e, "alice", &recorder{}), session(t, e, "alice", &recorder{})
	askOK(t, s1)
	askOK(t, s2)
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.Status(t.Context()); len(st.Spokes) != 1 {
		t.Fatalf("after one of two sessions closed: %d spokes, want 1", len(st.Spokes))
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.Status(t.Context()); len(st.Spokes) != 0 {
		t.Fatalf("after both sessions closed: %d spokes, want 0", len(st.Spokes))
	}
}

// TestCapQueuesThenEvicts: at the global cap a step waits (and the hub
// says so) while the only spoke is busy, runs once that spoke is idle and
// evicted, and nothing starts past the cap.
func TestCapQueuesThenEvicts(t *testing.T) {
	l := &countingLauncher{gate: make(chan struct{}), started: make(chan struct{}, 4)}
	e := newEngine(t, Config{Launcher: l, MaxWorkers: 1})
	alice, bob := session(t, e, "alice", &recorder{}), session(t, e, "bob", &recorder{})
	queued := queuedEvents(t, e)
	done := make(chan error, 2)
	go func() { _, err := alice.Ask(t.Context(), fareQuery); done <- err }()
	waitFor(t, l.started, "alice's call to start")
	go func() { _, err := bob.Ask(t.Context(), fareQuery); done <- err }()
	select {
	case q := <-queued:
		if q.App != "metro_hail" || q.Queued != 1 {
			t.Errorf("queued event %+v", q)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("bob's step was not queued at the cap")
	}
	st, err := e.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Queued != 1 || len(st.Spokes) != 1 || st.MaxSpokes != 1 {
		t.Fatalf("status at the cap: queued %d, spokes %d, cap %d", st.Queued, len(st.Spokes), st.MaxSpokes)
	}
	close(l.gate) // alice's call ends; her spoke is idle, evicted for bob's
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a query did not finish after the cap freed")
		}
	}
	if n := len(l.workers()); n != 2 {
		t.Errorf("%d workers started, want 2 (one after the other)", n)
	}
	started := false
	for _, r := range audit(t, e, "bob") {
		started = started || (r.Kind == "spoke" && r.Outcome == "started")
	}
	if !started {
		t.Error("bob's spoke start is not in the audit log")
	}
	if st, _ := e.Status(t.Context()); st.QueuedTotal != 1 || len(st.Spokes) != 1 {
		t.Errorf("after: queued total %d, spokes %d", st.QueuedTotal, len(st.Spokes))
	}
}

// TestPerUserCap: one user's steps queue at that user's cap while another
// user still gets a worker, even with that user's step already queued (a
// new step once waited behind every queued step: head-of-line blocking).
func TestPerUserCap(t *testing.T) {
	l := &countingLauncher{gate: make(chan struct{}), started: make(chan struct{}, 4)}
	e := newEngine(t, Config{Launcher: l, MaxWorkersPerUser: 1})
	a1, a2 := session(t, e, "alice", &recorder{}), session(t, e, "alice", &recorder{})
	bob := session(t, e, "bob", &recorder{})
	queued := queuedEvents(t, e)
	done := make(chan error, 3)
	go func() { _, err := a1.Ask(t.Context(), fareQuery); done <- err }()
	waitFor(t, l.started, "alice's first call")
	go func() {
		_, err := a2.Ask(t.Context(), `Use quick_ride to estimate the fare from "A" to "B"`)
		done <- err
	}()
	select {
	case q := <-queued:
		if q.App != "quick_ride" || q.Queued != 1 {
			t.Fatalf("queued event %+v, want alice's quick_ride step alone", q)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("alice's second app was not queued at her cap")
	}
	go func() { _, err := bob.Ask(t.Context(), fareQuery); done <- err }()
	waitFor(t, l.started, "bob's call (another user is not held by alice's cap or her queued step)")
	if st, err := e.Status(t.Context()); err != nil || st.Queued != 1 || len(st.Spokes) != 2 {
		t.Fatalf("status with alice at her cap: %+v %v; want 1 queued, 2 spokes", st, err)
	}
	close(l.gate)
	for range 3 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a query did not finish after alice's first call ended")
		}
	}
}

// TestIdleTimeoutShrinksUnderPressure: with the pool at its cap, idle
// spokes stop long before the configured idle time until no more than
// half the cap is live; far below the cap they keep it.
func TestIdleTimeoutShrinksUnderPressure(t *testing.T) {
	const idle = 20 * time.Second
	for _, tc := range []struct {
		name   string
		cap    int
		shrink bool
	}{{"at the cap", 2, true}, {"far below", 100, false}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, Config{Launcher: &countingLauncher{}, MaxWorkers: tc.cap, SpokeIdle: idle})
			s := session(t, e, "alice", &recorder{})
			if _, err := s.Ask(t.Context(), `Use metro_hail and quick_ride to estimate the fare from "A" to "B"`); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(6 * time.Second) // a tenth of idle is 2 s
			for {
				st, err := e.Status(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if len(st.Spokes) <= tc.cap/2 && len(st.Spokes) < 2 {
					if !tc.shrink {
						t.Fatal("spokes stopped before their idle time without pressure")
					}
					return
				}
				if time.Now().After(deadline) {
					if tc.shrink {
						t.Fatalf("%d spokes still live at the cap after 6 s (idle %v)", len(st.Spokes), idle)
					}
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestWorkerCapFromEnvironment: a cap comes from the environment, and a
// bad value is an error that names the variable, never a silent default.
func TestWorkerCapFromEnvironment(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	e := newEngine(t, Config{Launcher: &countingLauncher{}, Getenv: env(map[string]string{EnvMaxWorkers: "3", EnvMaxWorkersPerUser: " 2 "})})
	st, err := e.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.MaxSpokes != 3 || st.MaxSpokesPerUser != 2 {
		t.Fatalf("caps %d/%d, want 3/2", st.MaxSpokes, st.MaxSpokesPerUser)
	}
	for _, bad := range []string{"abc", "0", "-1", "1e3", "100001"} {
		_, err := New(Config{InMemory: true, Launcher: &countingLauncher{}, Getenv: env(map[string]string{EnvMaxWorkers: bad})})
		if err == nil || !strings.Contains(err.Error(), EnvMaxWorkers) {
			t.Errorf("%s=%q: err %v, want one naming the variable", EnvMaxWorkers, bad, err)
		}
	}
	if _, err := New(Config{InMemory: true, Launcher: &countingLauncher{}, MaxWorkers: -1}); err == nil {
		t.Error("a negative cap in the config was accepted")
	}
}

// queuedEvents gathers the hub's StepQueued events until the test ends.
func queuedEvents(t *testing.T, e *Engine) <-chan *msg.StepQueued {
	queued := make(chan *msg.StepQueued, 4)
	sub := e.System().EventStream.Subscribe(func(ev any) {
		if q, ok := ev.(*msg.StepQueued); ok {
			queued <- q
		}
	})
	t.Cleanup(func() { e.System().EventStream.Unsubscribe(sub) })
	return queued
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}
