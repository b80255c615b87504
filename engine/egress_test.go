package engine

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/isolategpt/isolategpt/engine/store"
	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/egress"
)

func TestEgressIsAudited(t *testing.T) {
	st, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	audit := egressAudit(func(r store.AuditRecord) {
		if _, err := st.Audit(r); err != nil {
			t.Fatal(err)
		}
	})
	app := sandbox.App{ID: "weather", User: "alice", Session: "s1"}
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	audit(app, egress.Event{App: "weather", Host: "api.example.com", Port: 443, Addr: "93.184.216.34:443", Allowed: true, Reason: egress.ReasonOpened, At: at})
	audit(app, egress.Event{App: "weather", Host: "evil.net", Port: 443, Reason: "egress: evil.net is not a declared domain", At: at})
	var got []store.AuditRecord
	if err := st.AuditLog("alice", func(r store.AuditRecord) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d records, want 2: %+v", len(got), got)
	}
	for i, want := range []struct{ outcome, host string }{{"allowed", "api.example.com"}, {"refused", "evil.net"}} {
		r := got[i]
		var d egressDetail
		if err := json.Unmarshal(r.Detail, &d); err != nil {
			t.Fatal(err)
		}
		if r.Kind != "egress" || r.App != "weather" || r.Session != "s1" || r.Outcome != want.outcome || d.Host != want.host || d.Reason == "" {
			t.Errorf("record %d = %+v (detail %+v), want %s %s", i, r, d, want.outcome, want.host)
		}
	}
}
