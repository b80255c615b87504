package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
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
