package engine

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/inproc"
)

func TestSpokeCrashIsContainedAndRecovered(t *testing.T) {
	e := newEngine(t, Config{Launcher: &inproc.FailFirst{Fail: func() (json.RawMessage, error) { panic("app bug") }}})
	s := session(t, e, "alice", &recorder{})
	q := `Use metro_hail to estimate the fare from "A" to "B"`
	a, err := s.Ask(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if st := stepOf(t, a, "s1"); st.Status != msg.StatusFailed || !strings.Contains(st.Reason, "crashed") {
		t.Fatalf("first call: %+v", st)
	}
	a, err = s.Ask(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if st := stepOf(t, a, "s1"); st.Status != msg.StatusOK {
		t.Fatalf("after the crash: %+v", st)
	}
	crash := false
	for _, r := range audit(t, e, "alice") {
		crash = crash || r.Kind == "crash"
	}
	if !crash {
		t.Error("the crash is not in the audit log")
	}
}

func TestSpokeStopsWhenIdle(t *testing.T) {
	e := newEngine(t, Config{SpokeIdle: 50 * time.Millisecond})
	s := session(t, e, "alice", &recorder{})
	q := `Use metro_hail to estimate the fare from "A" to "B"`
	for i := 0; i < 2; i++ {
		if _, err := s.Ask(t.Context(), q); err != nil {
			t.Fatal(err)
		}
		// Wait until the spoke is gone before asking again.
		deadline := time.Now().Add(5 * time.Second)
		for {
			res, err := e.system.Root.RequestFuture(e.hub, &msg.StatusRequest{}, time.Second).Result()
			if err == nil && len(res.(*msg.StatusReply).Spokes) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the spoke did not stop when idle: %+v %v", res, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	started := 0
	for _, r := range audit(t, e, "alice") {
		if r.Kind == "spoke" && r.Outcome == "started" {
			started++
		}
	}
	if started != 2 {
		t.Errorf("spoke started %d times, want 2 (once per query, stopped when idle in between)", started)
	}
}

func TestDeadWorkerIsASupervisedFailure(t *testing.T) {
	e := newEngine(t, Config{Launcher: &inproc.FailFirst{Fail: func() (json.RawMessage, error) {
		return nil, fmt.Errorf("%w: passed its 30s wall-clock limit; worker killed", sandbox.ErrDead)
	}}})
	s := session(t, e, "alice", &recorder{})
	q := `Use metro_hail to estimate the fare from "A" to "B"`
	a, err := s.Ask(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if st := stepOf(t, a, "s1"); st.Status != msg.StatusFailed || !strings.Contains(st.Reason, "wall-clock limit") {
		t.Fatalf("first call: %+v", st)
	}
	a, err = s.Ask(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if st := stepOf(t, a, "s1"); st.Status != msg.StatusOK {
		t.Fatalf("after the worker died: %+v", st)
	}
	supervised := false
	for _, r := range audit(t, e, "alice") {
		supervised = supervised || (r.Kind == "crash" && strings.Contains(string(r.Detail), "wall-clock limit"))
	}
	if !supervised {
		t.Error("the dead worker is not in the audit log as a supervised failure")
	}
}
