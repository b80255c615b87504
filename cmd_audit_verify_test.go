package main

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/isolategpt/isolategpt/engine/store"
)

// deleteAuditRecord removes one record behind isolategpt's back, as anyone
// with the data folder and a Badger build could.
func deleteAuditRecord(t *testing.T, data, user string, seq uint64) {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(filepath.Join(data, "store")).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	key := binary.BigEndian.AppendUint64([]byte("audit/"+user+"/"), seq)
	err = db.Update(func(txn *badger.Txn) error {
		if _, err := txn.Get(key); err != nil {
			return err
		}
		return txn.Delete(key)
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("delete %q: %v", key, err)
	}
}

func TestAuditVerifyAndHead(t *testing.T) {
	data := t.TempDir()
	if r := command(Ask, "", "--data", data, "--yes", rideQuery); r.code != ExitOK {
		t.Fatalf("ask: %v", r)
	}
	v := command(Audit, "", "verify", "--data", data)
	if v.code != ExitOK || !strings.Contains(v.out, "audit log verified") {
		t.Fatalf("verify of an untouched log: %v", v)
	}
	h := command(Audit, "", "head", "--data", data)
	head, err := store.ParseHead([]byte(strings.TrimSpace(h.out)))
	if h.code != ExitOK || err != nil {
		t.Fatalf("head: %v (%v)", h, err)
	}
	anchor := filepath.Join(t.TempDir(), "head.json")
	if err := os.WriteFile(anchor, []byte(h.out), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := command(Ask, "", "--data", data, "--yes", rideQuery); r.code != ExitOK {
		t.Fatalf("second ask: %v", r)
	}
	if v := command(Audit, "", "verify", "--data", data, "--head", anchor); v.code != ExitOK || !strings.Contains(v.out, "extends the exported head") {
		t.Fatalf("verify against the exported head: %v", v)
	}

	deleteAuditRecord(t, data, "default", head.Seq-2)
	v = command(Audit, "", "verify", "--data", data)
	if v.code != ExitStore || !strings.Contains(v.out, "audit log BROKEN") || !strings.Contains(v.out, "missing") {
		t.Fatalf("verify after a deletion: %v", v)
	}
	j := command(Audit, "", "verify", "--data", data, "--json")
	var rep store.VerifyReport
	if err := json.Unmarshal([]byte(j.out), &rep); j.code != ExitStore || err != nil || rep.Problems[0].Seq != head.Seq-2 || rep.Problems[0].Kind != store.ProblemMissing {
		t.Fatalf("verify --json after a deletion: %v (%v)", j, err)
	}
}

func TestAuditVerifyUsage(t *testing.T) {
	data := t.TempDir()
	bad := filepath.Join(data, "head.json")
	if err := os.WriteFile(bad, []byte(`{"seq":1,"seq":2,"hash":"`+strings.Repeat("0", 64)+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := command(Audit, "", "verify", "--data", data, "--head", bad); r.code != ExitUsage || !strings.Contains(r.err, "duplicate") {
		t.Errorf("a head file with a duplicate key: %v", r)
	}
	if r := command(Audit, "", "verify", "--data", data); r.code != ExitUsage || !strings.Contains(r.err, "no store in") {
		t.Errorf("verify without a store: %v", r)
	}
}

func TestAuditNamesInterruptedWrites(t *testing.T) {
	data := t.TempDir()
	st, err := store.Open(filepath.Join(data, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A mail.send started, and the process gone before its outcome.
	if _, err := st.AuditIntent(store.AuditRecord{User: "alice", QueryID: "q-cut", Kind: "step", App: "mail", Function: "send"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// audit is a reader, but the first open after the crash marks the
	// step interrupted in the log, once, and names it.
	r := command(Audit, "", "--data", data, "--user", "alice")
	if r.code != ExitOK || !strings.Contains(r.out, "interrupted mail.send query=q-cut intent=#1") || !strings.Contains(r.err, "mail.send started as #1 query=q-cut") {
		t.Fatalf("audit after an interrupted write: %v", r)
	}
	// Marked once: the next open finds nothing new to mark.
	st, err = store.Open(filepath.Join(data, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Interruptions(); len(got) != 0 {
		t.Errorf("interruptions marked again at a later open: %+v", got)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	r = command(Audit, "", "--data", data, "--user", "alice")
	if strings.Count(r.out, "interrupted mail.send") != 1 {
		t.Errorf("the interruption is not in the log exactly once: %v", r)
	}
}
