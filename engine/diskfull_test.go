package engine

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/isolategpt/isolategpt/engine/store"
)

// TestAskFailsClosedOnAFullDisk: with the disk "full" (a fake statfs) no
// query runs — nothing is planned, no app is called, no record is
// attempted — and the engine stays up and answers again when space is
// back. With the guard off the same query runs: the guard refused it.
func TestAskFailsClosedOnAFullDisk(t *testing.T) {
	for _, guard := range []bool{true, false} {
		var free atomic.Uint64
		free.Store(1 << 40)
		cfg := Config{FreeSpace: func(string) (uint64, error) { return free.Load(), nil }, MinFree: 64 << 20}
		if !guard {
			cfg.MinFree = -1
		}
		e := newEngine(t, cfg)
		s := session(t, e, "alice", &recorder{})
		if _, err := s.Ask(t.Context(), rideQuery); err != nil {
			t.Fatal(err)
		}
		before := len(audit(t, e, "alice"))
		free.Store(1 << 20)
		a, err := s.Ask(t.Context(), rideQuery)
		if !guard {
			if err != nil || len(audit(t, e, "alice")) == before {
				t.Fatalf("guard off: the query did not run (%v): the guard test proves nothing", err)
			}
			continue
		}
		if !errors.Is(err, store.ErrDiskFull) || a != nil {
			t.Fatalf("ask on a full disk: %v, %+v", err, a)
		}
		if n := len(audit(t, e, "alice")); n != before {
			t.Fatalf("%d audit records written on a full disk", n-before)
		}
		free.Store(1 << 40)
		if _, err := s.Ask(t.Context(), rideQuery); err != nil {
			t.Fatalf("space back: %v", err)
		}
	}
}
