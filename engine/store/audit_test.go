package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
)

func collectAudit(t testing.TB, s *Store, user string) []AuditRecord {
	t.Helper()
	var out []AuditRecord
	if err := s.AuditLog(user, func(r AuditRecord) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatalf("AuditLog(%s): %v", user, err)
	}
	return out
}

func checkIncreasing(t *testing.T, recs []AuditRecord) {
	t.Helper()
	for i := 1; i < len(recs); i++ {
		if recs[i].Seq <= recs[i-1].Seq {
			t.Fatalf("seq %d at %d not after %d", recs[i].Seq, i, recs[i-1].Seq)
		}
	}
}

func TestAuditSeqAcrossReopen(t *testing.T) {
	cases := []struct {
		name string
		// stop ends the first session: a clean Close, or a crash that
		// leaves the sequence lease unreleased.
		stop func(s *Store) error
	}{
		{"clean close", func(s *Store) error { return s.Close() }},
		{"crash without release", func(s *Store) error {
			s.mu.Lock()
			s.closed = true
			s.mu.Unlock()
			return s.db.Close()
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			var seen []uint64
			for session := range 3 {
				s, err := Open(dir, Options{})
				if err != nil {
					t.Fatal(err)
				}
				for i := range 3 {
					rec, err := s.Audit(AuditRecord{User: "alice", Kind: "step", Outcome: fmt.Sprint(session, i)})
					if err != nil {
						t.Fatal(err)
					}
					if n := len(seen); n > 0 && rec.Seq <= seen[n-1] {
						t.Fatalf("session %d: seq %d after %d", session, rec.Seq, seen[n-1])
					}
					if rec.Seq == 0 {
						t.Fatal("seq 0 assigned")
					}
					seen = append(seen, rec.Seq)
				}
				if err := c.stop(s); err != nil {
					t.Fatal(err)
				}
			}
			s := openT(t, dir)
			recs := collectAudit(t, s, "alice")
			if len(recs) != len(seen) {
				t.Fatalf("AuditLog has %d records, want %d", len(recs), len(seen))
			}
			for i, r := range recs {
				if r.Seq != seen[i] || r.Outcome != fmt.Sprint(i/3, i%3) {
					t.Errorf("record %d = seq %d outcome %q, want seq %d outcome %q", i, r.Seq, r.Outcome, seen[i], fmt.Sprint(i/3, i%3))
				}
			}
		})
	}
}

func TestAuditConcurrent(t *testing.T) {
	s := openT(t, t.TempDir())
	users := []string{"alice", "bob", "carol"}
	const workers, each = 12, 40
	var (
		mu   sync.Mutex
		seqs = map[uint64]string{}
		wg   sync.WaitGroup
		errs = make(chan error, workers)
	)
	for w := range workers {
		wg.Go(func() {
			user := users[w%len(users)]
			for range each {
				rec, err := s.Audit(AuditRecord{User: user, Kind: "step"})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if prev, dup := seqs[rec.Seq]; dup {
					errs <- fmt.Errorf("seq %d given to %s and %s", rec.Seq, prev, user)
				}
				seqs[rec.Seq] = user
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seqs) != workers*each {
		t.Fatalf("%d unique seqs, want %d", len(seqs), workers*each)
	}
	total := 0
	for _, u := range users {
		t.Run(u, func(t *testing.T) {
			recs := collectAudit(t, s, u)
			checkIncreasing(t, recs)
			for _, r := range recs {
				if r.User != u || seqs[r.Seq] != u {
					t.Errorf("record seq %d of %s in %s's log", r.Seq, seqs[r.Seq], u)
				}
			}
			total += len(recs)
		})
	}
	if total != workers*each {
		t.Errorf("AuditLog returned %d records in all, want %d", total, workers*each)
	}
}

func TestAuditLog(t *testing.T) {
	s := openT(t, t.TempDir())
	// More than one page, so paging is exercised.
	const n = auditPage*2 + 7
	for i := range n {
		if _, err := s.Audit(AuditRecord{User: "alice", Kind: "step", Detail: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Audit(AuditRecord{User: "bob", Kind: "plan"}); err != nil {
		t.Fatal(err)
	}

	t.Run("all in order", func(t *testing.T) {
		recs := collectAudit(t, s, "alice")
		if len(recs) != n {
			t.Fatalf("got %d records, want %d", len(recs), n)
		}
		checkIncreasing(t, recs)
		for i, r := range recs {
			if want := fmt.Sprintf(`{"i":%d}`, i); string(r.Detail) != want {
				t.Fatalf("record %d detail %s, want %s", i, r.Detail, want)
			}
		}
	})
	t.Run("other user", func(t *testing.T) {
		recs := collectAudit(t, s, "bob")
		if len(recs) != 1 || recs[0].Kind != "plan" {
			t.Errorf("bob's log = %+v", recs)
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		if recs := collectAudit(t, s, "carol"); len(recs) != 0 {
			t.Errorf("carol's log = %+v", recs)
		}
	})
	t.Run("callback error stops", func(t *testing.T) {
		stop := errors.New("stop")
		calls := 0
		err := s.AuditLog("alice", func(AuditRecord) error {
			calls++
			if calls == 3 {
				return stop
			}
			return nil
		})
		if err != stop || calls != 3 {
			t.Errorf("err = %v after %d calls, want stop after 3", err, calls)
		}
	})
	t.Run("callback may audit", func(t *testing.T) {
		// fn runs outside any transaction or lock, so it can write.
		calls := 0
		err := s.AuditLog("bob", func(AuditRecord) error {
			calls++
			_, err := s.Audit(AuditRecord{User: "bob", Kind: "answer"})
			return err
		})
		if err != nil || calls == 0 {
			t.Errorf("err = %v, calls = %d", err, calls)
		}
	})
	t.Run("invalid detail", func(t *testing.T) {
		if _, err := s.Audit(AuditRecord{User: "alice", Detail: json.RawMessage("{not json")}); err == nil {
			t.Error("invalid JSON detail accepted")
		}
	})
}

func BenchmarkAudit(b *testing.B) {
	s := openT(b, b.TempDir())
	rec := AuditRecord{User: "alice", Kind: "step", App: "metro_hail", Function: "book_ride", Outcome: "ok",
		Detail: json.RawMessage(`{"args":{"from":"home","to":"airport"}}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Audit(rec); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAuditFrom(t *testing.T) {
	s := openT(t, t.TempDir())
	for i := range 5 {
		if _, err := s.Audit(AuditRecord{User: "alice", Kind: "step", Outcome: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	var seqs []uint64
	if err := s.AuditFrom("alice", 3, func(r AuditRecord) error { seqs = append(seqs, r.Seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seqs) != "[3 4 5]" {
		t.Errorf("records from 3: %v", seqs)
	}
}
