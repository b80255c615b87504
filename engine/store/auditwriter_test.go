package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestAuditAsyncFlush(t *testing.T) {
	s := openT(t, t.TempDir())
	since := s.AuditTicket()
	const workers, each = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if _, err := s.AuditAsync(AuditRecord{User: fmt.Sprintf("u%d", w), Kind: "step", Outcome: fmt.Sprint(i)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := s.FlushAudit(since); err != nil {
		t.Fatal(err)
	}
	// Everything queued before the flush is committed, in queue order
	// per user, as one unbroken chain.
	for w := range workers {
		recs := collectAudit(t, s, fmt.Sprintf("u%d", w))
		if len(recs) != each {
			t.Fatalf("u%d has %d records after the flush, want %d", w, len(recs), each)
		}
		for i, r := range recs {
			if r.Outcome != fmt.Sprint(i) {
				t.Fatalf("u%d record %d is %q: out of queue order", w, i, r.Outcome)
			}
		}
	}
	if rep := verifyT(t, s, VerifyOptions{}); !rep.OK() || rep.Checked != workers*each {
		t.Fatalf("verify: %+v", rep)
	}
}

func TestAuditFlushReportsFailure(t *testing.T) {
	s := openT(t, t.TempDir())
	since := s.AuditTicket()
	// A record larger than a value log file can never be committed.
	huge, _ := json.Marshal(map[string]string{"x": strings.Repeat("a", valueLogFileSize+1)})
	if _, err := s.AuditAsync(AuditRecord{User: "alice", Kind: "step", Detail: huge}); err != nil {
		t.Fatalf("queueing: %v", err)
	}
	if _, err := s.AuditAsync(AuditRecord{User: "alice", Kind: "step", Outcome: "small"}); err != nil {
		t.Fatal(err)
	}
	if err := s.FlushAudit(since); err == nil {
		t.Fatal("a record that could not be written went unreported")
	}
	// The failure is the huge record's alone: the small one, queued in
	// the same batch, is committed, and the chain holds.
	recs := collectAudit(t, s, "alice")
	if len(recs) != 1 || recs[0].Outcome != "small" {
		t.Fatalf("alice's records: %+v", recs)
	}
	if rep := verifyT(t, s, VerifyOptions{}); !rep.OK() {
		t.Fatalf("verify: %+v", rep.Problems)
	}
	// A later query's flush does not inherit the failure.
	later := s.AuditTicket()
	if _, err := s.AuditAsync(AuditRecord{User: "alice", Kind: "step"}); err != nil {
		t.Fatal(err)
	}
	if err := s.FlushAudit(later); err != nil {
		t.Fatalf("flush after the failure: %v", err)
	}
}

func BenchmarkAuditParallel(b *testing.B) {
	s := openT(b, b.TempDir())
	rec := AuditRecord{User: "alice", Kind: "step", App: "metro_hail", Function: "book_ride", Outcome: "ok",
		Detail: json.RawMessage(`{"args":{"from":"home","to":"airport"}}`)}
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Audit(rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func TestAuditWriterRefusesAFullDisk(t *testing.T) {
	for _, guard := range []bool{true, false} {
		t.Run(fmt.Sprintf("guard %v", guard), func(t *testing.T) {
			var free atomic.Uint64
			free.Store(1 << 40)
			opts := Options{FreeSpace: func(string) (uint64, error) { return free.Load(), nil }}
			if !guard {
				opts.MinFree = -1
			}
			s, err := Open(t.TempDir(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			free.Store(1 << 20) // below DefaultMinFree
			since := s.AuditTicket()
			_, auditErr := s.Audit(AuditRecord{User: "alice", Kind: "step"})
			if _, err := s.AuditAsync(AuditRecord{User: "alice", Kind: "step"}); err != nil {
				t.Fatal(err)
			}
			flushErr := s.FlushAudit(since)
			if !guard {
				// Switched off, the writer writes on a disk it was told is full.
				if auditErr != nil || flushErr != nil {
					t.Fatalf("guard off: %v, %v", auditErr, flushErr)
				}
				return
			}
			if !errors.Is(auditErr, ErrDiskFull) || !errors.Is(flushErr, ErrDiskFull) {
				t.Fatalf("full disk: audit %v, flush %v; want ErrDiskFull", auditErr, flushErr)
			}
			// Space back: the chain goes on where it stopped.
			free.Store(1 << 40)
			if r, err := s.Audit(AuditRecord{User: "alice", Kind: "step"}); err != nil || r.Seq != 1 {
				t.Fatalf("after space returned: seq %d, %v", r.Seq, err)
			}
			if rep := verifyT(t, s, VerifyOptions{}); !rep.OK() {
				t.Fatalf("verify: %+v", rep.Problems)
			}
		})
	}
}
