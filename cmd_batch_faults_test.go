package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/engine/store"
)

// TestBatchSummaryNamesEarlierInterruptions: a mail.send started by an
// earlier run that died before its outcome is named by the next batch's
// summary ("interrupted, outcome unknown", not retried), as audit and the
// TUI name it; the batch itself runs, and nothing sends the mail again.
func TestBatchSummaryNamesEarlierInterruptions(t *testing.T) {
	data := t.TempDir()
	st, err := store.Open(filepath.Join(data, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AuditIntent(store.AuditRecord{User: "alice", QueryID: "q-cut", Kind: "step", App: "mail", Function: "send"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	in := `{"id":"1","query":"` + strings.ReplaceAll(rideQuery, `"`, `\"`) + `"}` + "\n"
	r := command(Batch, in, "--data", data, "--user", "alice", "--policy", writePolicy(t, allowRides))
	if r.code != ExitOK {
		t.Fatalf("batch: %v", r)
	}
	for _, want := range []string{"1 write step(s) of an earlier run found interrupted, outcome unknown, not retried", "interrupted, outcome unknown", "mail.send started as #1 query=q-cut"} {
		if !strings.Contains(r.err, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.err)
		}
	}
	if strings.Contains(r.out, "mail") {
		t.Errorf("the interrupted send was retried:\n%s", r.out)
	}
	// Named once: the next batch finds nothing new.
	r = command(Batch, in, "--data", data, "--user", "alice", "--policy", writePolicy(t, allowRides))
	if r.code != ExitOK || strings.Contains(r.err, "earlier run") {
		t.Errorf("second batch: %v", r)
	}
}
