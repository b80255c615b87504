package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// writeLog writes n records, alternating users, and returns their seqs.
func writeLog(t *testing.T, s *Store, n int) []AuditRecord {
	t.Helper()
	users := []string{"alice", "bob"}
	var out []AuditRecord
	for i := range n {
		r, err := s.Audit(AuditRecord{User: users[i%2], Kind: "step", Outcome: fmt.Sprintf("o%d", i), Detail: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func verifyT(t *testing.T, s *Store, opts VerifyOptions) VerifyReport {
	t.Helper()
	rep, err := s.VerifyAudit(opts)
	if err != nil {
		t.Fatalf("VerifyAudit: %v", err)
	}
	return rep
}

func hasProblem(rep VerifyReport, kind string, seq uint64) bool {
	for _, p := range rep.Problems {
		if p.Kind == kind && p.Seq == seq {
			return true
		}
	}
	return false
}

// rawRecord reads the stored bytes of record seq of user.
func rawRecord(t *testing.T, s *Store, user string, seq uint64) []byte {
	t.Helper()
	var b []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(auditKey(user, seq))
		if err != nil {
			return err
		}
		b, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		t.Fatalf("read record %d of %s: %v", seq, user, err)
	}
	return b
}

// tamper changes the database behind the store's back, as someone with the
// files and a Badger build could.
func tamper(t *testing.T, s *Store, fn func(txn *badger.Txn) error) {
	t.Helper()
	if err := s.db.Update(fn); err != nil {
		t.Fatalf("tamper: %v", err)
	}
}

func TestAuditChainVerifies(t *testing.T) {
	s := openT(t, t.TempDir())
	recs := writeLog(t, s, 20)
	for i := 1; i < len(recs); i++ {
		if recs[i].Seq != recs[i-1].Seq+1 {
			t.Fatalf("seq %d follows %d: the chain has no gaps", recs[i].Seq, recs[i-1].Seq)
		}
	}
	rep := verifyT(t, s, VerifyOptions{})
	if !rep.OK() || rep.Checked != 20 || rep.Legacy != 0 || rep.Head.Seq != 20 {
		t.Fatalf("clean log: %+v", rep)
	}
	head, err := s.ChainHead()
	if err != nil || head != rep.Head {
		t.Fatalf("ChainHead = %+v, %v; verify saw %+v", head, err, rep.Head)
	}
	if got := chainHash(rawRecord(t, s, "bob", 20)); got != head.Hash {
		t.Fatalf("head hash %s, last record hashes to %s", head.Hash, got)
	}
}

func TestAuditVerifyDetectsTampering(t *testing.T) {
	// Records 1..10: odd seqs are alice's, even bob's.
	cases := []struct {
		name   string
		tamper func(t *testing.T, s *Store) func(*badger.Txn) error
		kind   string
		seq    uint64
		// linksOnly: with the hash checks off, this tampering passes.
		linksOnly bool
	}{
		{"deleted record", func(*testing.T, *Store) func(*badger.Txn) error {
			return func(txn *badger.Txn) error { return txn.Delete(auditKey("alice", 5)) }
		}, ProblemMissing, 5, false},
		{"deleted last record", func(*testing.T, *Store) func(*badger.Txn) error {
			return func(txn *badger.Txn) error { return txn.Delete(auditKey("bob", 10)) }
		}, ProblemMissing, 10, false},
		{"altered record", func(t *testing.T, s *Store) func(*badger.Txn) error {
			b := bytes.Replace(rawRecord(t, s, "alice", 5), []byte(`"outcome":"o4"`), []byte(`"outcome":"ok"`), 1)
			return func(txn *badger.Txn) error { return txn.Set(auditKey("alice", 5), b) }
		}, ProblemAltered, 6, true},
		{"altered last record", func(t *testing.T, s *Store) func(*badger.Txn) error {
			b := bytes.Replace(rawRecord(t, s, "bob", 10), []byte(`"outcome":"o9"`), []byte(`"outcome":"ok"`), 1)
			return func(txn *badger.Txn) error { return txn.Set(auditKey("bob", 10), b) }
		}, ProblemAltered, 10, true},
		{"records swapped", func(t *testing.T, s *Store) func(*badger.Txn) error {
			a, b := rawRecord(t, s, "alice", 3), rawRecord(t, s, "alice", 7)
			return func(txn *badger.Txn) error {
				if err := txn.Set(auditKey("alice", 3), b); err != nil {
					return err
				}
				return txn.Set(auditKey("alice", 7), a)
			}
		}, ProblemReordered, 3, false},
		{"records swapped and renumbered", func(t *testing.T, s *Store) func(*badger.Txn) error {
			a, b := rawRecord(t, s, "alice", 3), rawRecord(t, s, "alice", 7)
			a = bytes.Replace(a, []byte(`"seq":3,`), []byte(`"seq":7,`), 1)
			b = bytes.Replace(b, []byte(`"seq":7,`), []byte(`"seq":3,`), 1)
			return func(txn *badger.Txn) error {
				if err := txn.Set(auditKey("alice", 3), b); err != nil {
					return err
				}
				return txn.Set(auditKey("alice", 7), a)
			}
		}, ProblemReordered, 3, true},
		{"record added after the head", func(t *testing.T, s *Store) func(*badger.Txn) error {
			b := bytes.Replace(rawRecord(t, s, "bob", 10), []byte(`"seq":10,`), []byte(`"seq":11,`), 1)
			return func(txn *badger.Txn) error { return txn.Set(auditKey("bob", 11), b) }
		}, ProblemAfterHead, 11, false},
		{"record moved to another user", func(t *testing.T, s *Store) func(*badger.Txn) error {
			b := rawRecord(t, s, "alice", 5)
			return func(txn *badger.Txn) error {
				if err := txn.Delete(auditKey("alice", 5)); err != nil {
					return err
				}
				return txn.Set(auditKey("carol", 5), b)
			}
		}, ProblemReordered, 5, false},
	}
	for _, c := range cases {
		for _, off := range []bool{false, true} {
			name := c.name
			if off {
				name += "/hash checks off"
			}
			t.Run(name, func(t *testing.T) {
				s := openT(t, t.TempDir())
				writeLog(t, s, 10)
				if rep := verifyT(t, s, VerifyOptions{}); !rep.OK() {
					t.Fatalf("before tampering: %+v", rep.Problems)
				}
				tamper(t, s, c.tamper(t, s))
				rep := verifyT(t, s, VerifyOptions{NoLinks: off})
				if off && c.linksOnly {
					// The defence switched off: the same tampering passes,
					// which is what the chain is for.
					if !rep.OK() {
						t.Fatalf("with hash checks off, %s was still noticed: %+v", c.name, rep.Problems)
					}
					return
				}
				if !hasProblem(rep, c.kind, c.seq) {
					t.Fatalf("want a %q problem at #%d, got %+v", c.kind, c.seq, rep.Problems)
				}
				if rep.Problems[0].Seq > c.seq {
					t.Errorf("first problem at #%d, after the tampered #%d", rep.Problems[0].Seq, c.seq)
				}
			})
		}
	}
}

func TestAuditVerifyAnchor(t *testing.T) {
	s := openT(t, t.TempDir())
	writeLog(t, s, 6)
	anchor, err := s.ChainHead()
	if err != nil {
		t.Fatal(err)
	}
	writeLog(t, s, 4)
	if rep := verifyT(t, s, VerifyOptions{Anchor: &anchor}); !rep.OK() {
		t.Fatalf("log extends its anchor: %+v", rep.Problems)
	}
	// Someone who rewrites the tail and the head consistently: links
	// alone cannot see it, the anchor can.
	tamper(t, s, func(txn *badger.Txn) error {
		for seq := uint64(5); seq <= 10; seq++ {
			user := "alice"
			if seq%2 == 0 {
				user = "bob"
			}
			if err := txn.Delete(auditKey(user, seq)); err != nil {
				return err
			}
		}
		return nil
	})
	last := rawRecord(t, s, "bob", 4)
	hb, _ := json.Marshal(ChainHead{Seq: 4, Hash: chainHash(last), Start: 1})
	tamper(t, s, func(txn *badger.Txn) error { return txn.Set(keyAuditHead, hb) })
	if rep := verifyT(t, s, VerifyOptions{}); !rep.OK() {
		t.Fatalf("without the anchor, a consistent truncation is expected to pass: %+v", rep.Problems)
	}
	rep := verifyT(t, s, VerifyOptions{Anchor: &anchor})
	if !hasProblem(rep, ProblemAnchor, anchor.Seq) {
		t.Fatalf("truncation behind the anchor not reported: %+v", rep.Problems)
	}
}

func TestAuditHeadDeleted(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	writeLog(t, s, 5)
	tamper(t, s, func(txn *badger.Txn) error { return txn.Delete(keyAuditHead) })
	if rep := verifyT(t, s, VerifyOptions{}); !hasProblem(rep, ProblemHead, 0) {
		t.Fatalf("missing head not reported: %+v", rep.Problems)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened, the chain continues from the last record, and the loss
	// of the head stays on record: it is never silently forgotten.
	s = openT(t, dir)
	r, err := s.Audit(AuditRecord{User: "alice", Kind: "step"})
	if err != nil || r.Seq != 7 {
		t.Fatalf("after rebuild: seq %d, %v; want 7 (6 is the rebuild record)", r.Seq, err)
	}
	rep := verifyT(t, s, VerifyOptions{})
	if !hasProblem(rep, ProblemHead, 6) || len(rep.Problems) != 1 {
		t.Fatalf("want exactly the rebuild reported, got %+v", rep.Problems)
	}
}

func TestAuditLegacyStore(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	// A store written before the chain: records without links, numbers
	// with gaps (one lease lost per crash), and no head.
	legacy := []uint64{1, 2, 3, 130, 131, 260}
	tamper(t, s, func(txn *badger.Txn) error {
		for _, seq := range legacy {
			b, _ := json.Marshal(map[string]any{"seq": seq, "at": "2026-01-01T00:00:00Z", "user": "alice", "kind": "step", "outcome": "ok"})
			if err := txn.Set(auditKey("alice", seq), b); err != nil {
				return err
			}
		}
		return txn.Delete(keyAuditHead)
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir)
	head, err := s.ChainHead()
	if err != nil || head.Start != 261 || head.Seq != 261 {
		t.Fatalf("head after migration = %+v, %v; want the chain to start at 261", head, err)
	}
	var start AuditRecord
	if err := json.Unmarshal(rawRecord(t, s, SystemUser, 261), &start); err != nil {
		t.Fatal(err)
	}
	if start.Kind != KindChain || start.Outcome != ChainStarted || !strings.Contains(string(start.Detail), `"legacy_gaps":[[4,129],[132,259]]`) || !strings.Contains(string(start.Detail), `"legacy_records":6`) {
		t.Fatalf("chain start record = %+v %s", start, start.Detail)
	}
	if r, err := s.Audit(AuditRecord{User: "alice", Kind: "step"}); err != nil || r.Seq != 262 {
		t.Fatalf("first chained user record: seq %d, %v", r.Seq, err)
	}
	rep := verifyT(t, s, VerifyOptions{})
	if !rep.OK() || rep.Legacy != len(legacy) || rep.Checked != 2 {
		t.Fatalf("verify after migration: %+v", rep)
	}
	if n := len(collectAudit(t, s, "alice")); n != len(legacy)+1 {
		t.Fatalf("alice has %d records, want %d", n, len(legacy)+1)
	}
}

// crash closes the database as a kill would leave it: nothing released.
func crash(t *testing.T, s *Store) {
	t.Helper()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAuditIntentInterrupted(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	done, err := s.AuditIntent(AuditRecord{User: "alice", QueryID: "q1", Kind: "step", App: "mail", Function: "send", Detail: json.RawMessage(`{"step":"s1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuditOutcome(done.Seq, AuditRecord{User: "alice", QueryID: "q1", Kind: "step", App: "mail", Function: "send", Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	// Killed between the intent and the outcome.
	cut, err := s.AuditIntent(AuditRecord{User: "alice", QueryID: "q2", Kind: "step", App: "mail", Function: "send", Detail: json.RawMessage(`{"step":"s1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if cut.Outcome != OutcomeStarted {
		t.Fatalf("intent outcome %q", cut.Outcome)
	}
	crash(t, s)

	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := s.Interruptions()
	if len(got) != 1 || got[0].Intent != cut.Seq || got[0].QueryID != "q2" || got[0].Outcome != OutcomeInterrupted || got[0].User != "alice" {
		t.Fatalf("interruptions = %+v, want q2's step (intent #%d)", got, cut.Seq)
	}
	recs := collectAudit(t, s, "alice")
	if last := recs[len(recs)-1]; last.Seq != got[0].Seq || !strings.Contains(string(last.Detail), "not retried") {
		t.Fatalf("last record of alice = %+v", last)
	}
	if rep := verifyT(t, s, VerifyOptions{}); !rep.OK() {
		t.Fatalf("verify: %+v", rep.Problems)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Marked once: the next open has nothing to report.
	s = openT(t, dir)
	if got := s.Interruptions(); len(got) != 0 {
		t.Fatalf("interruptions reported again: %+v", got)
	}
}

func TestAuditIntentDefenceOff(t *testing.T) {
	// Without the intent marker (a plain record for "started"), a kill
	// between start and outcome leaves nothing for the next open to
	// report: the marker is what catches it.
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Audit(AuditRecord{User: "alice", QueryID: "q2", Kind: "step", App: "mail", Function: "send", Outcome: OutcomeStarted}); err != nil {
		t.Fatal(err)
	}
	crash(t, s)
	s = openT(t, dir)
	if got := s.Interruptions(); len(got) != 0 {
		t.Fatalf("interruptions without a marker: %+v", got)
	}
}

func TestParseHead(t *testing.T) {
	good := `{"seq":3,"hash":"` + strings.Repeat("ab", 32) + `"}`
	if h, err := ParseHead([]byte(good)); err != nil || h.Seq != 3 {
		t.Fatalf("ParseHead(good) = %+v, %v", h, err)
	}
	for _, bad := range []string{
		`{"seq":3,"seq":4,"hash":"` + strings.Repeat("ab", 32) + `"}`,
		good + `{}`, `null`, `{"seq":0,"hash":"` + strings.Repeat("ab", 32) + `"}`,
		`{"seq":3,"hash":"short"}`, `{"seq":3,"hash":"` + strings.Repeat("zz", 32) + `"}`,
		`{"seq":3,"hash":"` + strings.Repeat("ab", 32) + `","extra":1}`,
	} {
		if _, err := ParseHead([]byte(bad)); err == nil {
			t.Errorf("ParseHead(%s) accepted", bad)
		}
	}
}

func FuzzParseHead(f *testing.F) {
	f.Add([]byte(`{"seq":3,"hash":"` + strings.Repeat("ab", 32) + `","start":1}`))
	f.Add([]byte(`{"seq":3}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHead(b)
		if err != nil {
			return
		}
		again, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		if h2, err := ParseHead(again); err != nil || h2 != h {
			t.Fatalf("round trip %s: %+v, %v", again, h2, err)
		}
	})
}
