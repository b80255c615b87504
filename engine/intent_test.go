package engine

import (
	"encoding/json"
	"testing"

	"github.com/isolategpt/isolategpt/engine/store"
)

func TestWriteStepIntentBeforeOutcome(t *testing.T) {
	dir := t.TempDir()
	// Closed by the test, not at cleanup: it restarts in the middle.
	e, err := New(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := session(t, e, "alice", &recorder{}).Ask(t.Context(), rideQuery); err != nil {
		t.Fatal(err)
	}
	var started, outcome []store.AuditRecord
	for _, r := range audit(t, e, "alice") {
		switch {
		case r.Kind == "step" && r.Outcome == store.OutcomeStarted:
			started = append(started, r)
		case r.Kind == "step" && r.Intent != 0:
			outcome = append(outcome, r)
		}
	}
	// Only the booking writes; the two fare estimates only read.
	if len(started) != 1 || started[0].App != "metro_hail" || started[0].Function != "book_ride" {
		t.Fatalf("started records = %+v, want metro_hail.book_ride alone", started)
	}
	if len(outcome) != 1 || outcome[0].Intent != started[0].Seq || outcome[0].Seq <= started[0].Seq || outcome[0].Outcome != "ok" {
		t.Fatalf("outcome records = %+v, want one ok closing #%d", outcome, started[0].Seq)
	}
	if got := e.Interruptions(); len(got) != 0 {
		t.Fatalf("interruptions on a fresh folder: %+v", got)
	}
	rep, err := e.Store().VerifyAudit(store.VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %+v, %v", rep.Problems, err)
	}

	// Killed between intent and outcome: the intent is on disk, nothing else.
	cut, err := e.Store().AuditIntent(store.AuditRecord{User: "alice", QueryID: "q-cut", Kind: "step", App: "mail", Function: "send", Detail: json.RawMessage(`{"step":"s1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e2 := newEngine(t, Config{DataDir: dir})
	got := e2.Interruptions()
	if len(got) != 1 || got[0].Intent != cut.Seq || got[0].QueryID != "q-cut" || got[0].Outcome != store.OutcomeInterrupted {
		t.Fatalf("interruptions after restart = %+v, want q-cut's mail.send", got)
	}
	recs := audit(t, e2, "alice")
	if last := recs[len(recs)-1]; last.Outcome != store.OutcomeInterrupted || last.Intent != cut.Seq {
		t.Fatalf("last record = %+v, want the interruption", last)
	}
}
