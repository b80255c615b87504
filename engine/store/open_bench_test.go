package store

import (
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// TestMeasureStoreCost prints what the checks cost, each measured
// interleaved with its baseline: opening and closing the fault tests'
// store with every check against Badger opened directly with the same
// options; and a batch of 200 audit records with the disk guard (a statfs
// per write) against the guard off. Run with STORE_MEASURE=1 go test
// -run MeasureStoreCost -v ./engine/store.
func TestMeasureStoreCost(t *testing.T) {
	if os.Getenv("STORE_MEASURE") != "1" {
		t.Skip("a measurement, not a test: STORE_MEASURE=1 runs it")
	}
	const rounds = 15
	dir := buildStore(t)
	var size int64
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if info, err := e.Info(); err == nil {
			size += info.Size()
		}
	}
	t.Logf("store: %d files, %.1f MiB", len(ents), float64(size)/(1<<20))
	var plain, checked []time.Duration
	for range rounds {
		start := time.Now()
		s, err := openBadger(dir, badger.DefaultOptions(dir), Options{}, false, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		plain = append(plain, time.Since(start))
		start = time.Now()
		if s, err = Open(dir, Options{}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		checked = append(checked, time.Since(start))
	}
	report(t, "open+close, Badger alone", "open+close, checked", plain, checked)

	off, err := Open(t.TempDir(), Options{MinFree: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	on, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer on.Close()
	var tOff, tOn []time.Duration
	batch := func(s *Store) time.Duration {
		start := time.Now()
		for range 200 {
			if _, err := s.Audit(AuditRecord{User: "alice", Kind: "step"}); err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start) / 200
	}
	for range rounds {
		tOff = append(tOff, batch(off))
		tOn = append(tOn, batch(on))
	}
	report(t, "audit record, guard off", "audit record, guard on", tOff, tOn)
}

func report(t *testing.T, baseName, name string, base, got []time.Duration) {
	med := func(d []time.Duration) time.Duration {
		d = slices.Clone(d)
		slices.Sort(d)
		return d[len(d)/2]
	}
	b, g := med(base), med(got)
	t.Logf("%s: median %v; %s: median %v; ratio %.2f (%d rounds interleaved)", baseName, b, name, g, float64(g)/float64(b), len(base))
}
