package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/isolategpt/isolategpt/actors/msg"
)

// TestQueryAdmissionFIFO: at the cap on running queries a query waits
// before planning (and the hub says so), waiting queries run first come
// first served as running ones end, and a session's close ends its
// queries' wait with an error. Without the cap (a large one) the second
// query would start its step while the first's is held: the test fails.
func TestQueryAdmissionFIFO(t *testing.T) {
	for _, maxQ := range []int{1, 100} {
		t.Run(map[int]string{1: "cap 1", 100: "cap 100"}[maxQ], func(t *testing.T) {
			l := &countingLauncher{gate: make(chan struct{}), started: make(chan struct{}, 8)}
			e := newEngine(t, Config{Launcher: l, MaxQueries: maxQ})
			alice, bob, carol := session(t, e, "alice", &recorder{}), session(t, e, "bob", &recorder{}), session(t, e, "carol", &recorder{})
			queued := make(chan *msg.QueryQueued, 4)
			sub := e.System().EventStream.Subscribe(func(ev any) {
				if q, ok := ev.(*msg.QueryQueued); ok {
					queued <- q
				}
			})
			defer e.System().EventStream.Unsubscribe(sub)
			done := make(chan error, 3)
			go func() { _, err := alice.Ask(t.Context(), fareQuery); done <- err }()
			waitFor(t, l.started, "alice's call to start")
			go func() { _, err := bob.Ask(t.Context(), fareQuery); done <- err }()
			if maxQ > 1 {
				// No cap in the way: bob's step starts while alice's is held.
				waitFor(t, l.started, "bob's call to start")
				close(l.gate)
				for range 2 {
					if err := <-done; err != nil {
						t.Fatal(err)
					}
				}
				return
			}
			select {
			case q := <-queued:
				if q.Queued != 1 {
					t.Errorf("queued event %+v, want 1 waiting", q)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("bob's query was not queued at the cap")
			}
			carolErr := make(chan error, 1)
			go func() { _, err := carol.Ask(t.Context(), fareQuery); carolErr <- err }()
			<-queued
			st, err := e.Status(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if st.QueriesQueued != 2 || st.MaxQueries != 1 || st.Queries != 1 {
				t.Fatalf("status at the cap: %d queries waiting, cap %d, %d running; want 2, 1, 1", st.QueriesQueued, st.MaxQueries, st.Queries)
			}
			select {
			case <-l.started:
				t.Fatal("a waiting query's step started past the cap")
			case <-time.After(50 * time.Millisecond):
			}
			if err := carol.Close(); err != nil {
				t.Fatal(err)
			}
			if err := <-carolErr; err == nil || !strings.Contains(err.Error(), "admitted") {
				t.Fatalf("carol's waiting query after her session closed: %v", err)
			}
			close(l.gate)
			for range 2 {
				select {
				case err := <-done:
					if err != nil {
						t.Fatal(err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("a query did not finish after the first one ended")
				}
			}
			l.mu.Lock()
			served := strings.Join(l.served, ",")
			l.mu.Unlock()
			if served != "alice,bob" {
				t.Errorf("calls served for %s, want alice then bob", served)
			}
			if st, _ := e.Status(t.Context()); st.QueriesQueued != 0 || st.QueriesQueuedTotal != 2 {
				t.Errorf("after: %d waiting, %d ever waited; want 0, 2", st.QueriesQueued, st.QueriesQueuedTotal)
			}
		})
	}
}

// TestQueryWaitBoundedByTimeLimit: a query that waited to be admitted
// longer than the query time limit is not started (its asker has given up
// by then); it gets an error that says why. With a cap of one, carol's
// query waits for alice's and then bob's, each held until its time limit.
func TestQueryWaitBoundedByTimeLimit(t *testing.T) {
	l := &countingLauncher{gate: make(chan struct{}), started: make(chan struct{}, 8)}
	defer close(l.gate)
	const limit = 400 * time.Millisecond
	e := newEngine(t, Config{Launcher: l, MaxQueries: 1, QueryTimeout: limit})
	alice, bob, carol := session(t, e, "alice", &recorder{}), session(t, e, "bob", &recorder{}), session(t, e, "carol", &recorder{})
	go func() { _, _ = alice.Ask(t.Context(), fareQuery) }()
	waitFor(t, l.started, "alice's call to start")
	go func() { _, _ = bob.Ask(t.Context(), fareQuery) }()
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	_, err := carol.Ask(t.Context(), fareQuery)
	if err == nil || !strings.Contains(err.Error(), "waited longer") {
		t.Fatalf("carol's query after waiting %v: %v", time.Since(start), err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, u := range l.served {
		if u == "carol" {
			t.Error("carol's query ran after its wait passed the time limit")
		}
	}
}

// TestQueryAdmissionPerUser: one user's queries at that user's cap on
// running queries wait while another user's query runs; with the cap
// lifted (ten per user) alice's second query runs at once instead.
func TestQueryAdmissionPerUser(t *testing.T) {
	for _, perUser := range []int{1, 10} {
		t.Run(map[int]string{1: "per-user cap 1", 10: "per-user cap 10"}[perUser], func(t *testing.T) {
			l := &countingLauncher{gate: make(chan struct{}), started: make(chan struct{}, 8)}
			e := newEngine(t, Config{Launcher: l, MaxQueries: 4, MaxQueriesPerUser: perUser})
			a1, a2, bob := session(t, e, "alice", &recorder{}), session(t, e, "alice", &recorder{}), session(t, e, "bob", &recorder{})
			done := make(chan error, 3)
			ask := func(s *Session) { _, err := s.Ask(t.Context(), fareQuery); done <- err }
			go ask(a1)
			waitFor(t, l.started, "alice's first call to start")
			go ask(a2)
			if perUser > 1 {
				waitFor(t, l.started, "alice's second call to start")
			} else {
				deadline := time.Now().Add(10 * time.Second)
				for {
					st, err := e.Status(t.Context())
					if err != nil {
						t.Fatal(err)
					}
					if st.QueriesQueued == 1 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("alice's second query is not waiting: %+v", st)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			go ask(bob)
			waitFor(t, l.started, "bob's call to start past alice's waiting query")
			close(l.gate)
			for range 3 {
				select {
				case err := <-done:
					if err != nil {
						t.Fatal(err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("a query did not finish")
				}
			}
			l.mu.Lock()
			served := strings.Join(l.served, ",")
			l.mu.Unlock()
			want := map[int]string{1: "alice,bob,alice", 10: "alice,alice,bob"}[perUser]
			if served != want {
				t.Errorf("calls served for %s, want %s", served, want)
			}
		})
	}
}
