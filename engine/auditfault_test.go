package engine

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/actors/query"
	"github.com/isolategpt/isolategpt/engine/store"
	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/inproc"
)

// fullAfter runs apps in process and, once function has returned, makes
// the disk look full for the store's next check alone: the effect is
// done, and the record of its outcome is what the full disk refuses.
type fullAfter struct {
	function string
	full     *atomic.Bool
}

func (l fullAfter) Launch(ctx context.Context, a sandbox.App, dir string) (sandbox.Conn, error) {
	c, err := inproc.Launcher{}.Launch(ctx, a, dir)
	if err != nil {
		return nil, err
	}
	return fullAfterConn{c, l}, nil
}

type fullAfterConn struct {
	sandbox.Conn
	l fullAfter
}

func (c fullAfterConn) CallTool(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error) {
	out, err := c.Conn.CallTool(ctx, name, args)
	if name == c.l.function {
		c.l.full.Store(true)
	}
	return out, err
}

// TestNoDoneWithoutTheOutcomeRecord (faults finding 6): the booking is
// made, then the disk is full for the one record of its outcome, then
// space is back. The query must not be done — its answer withheld, its
// status interrupted (as the next open will call the step), its error the
// full disk's — and the restarted store must agree. With the check off
// the same query says done while the log says interrupted.
func TestNoDoneWithoutTheOutcomeRecord(t *testing.T) {
	for _, check := range []bool{true, false} {
		restore := query.SwitchOutcomeCheck(check)
		a, err, interrupted := bookWithOutcomeRefused(t)
		restore()
		if !check {
			if err != nil || a == nil || a.Status != msg.Done || interrupted != 1 {
				t.Fatalf("check off: status %v, err %v, %d interruptions at reopen; want done and 1: the test proves nothing", a.Status, err, interrupted)
			}
			continue
		}
		if !errors.Is(err, store.ErrDiskFull) || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("error = %v, want the full disk's", err)
		}
		if a == nil || a.Status != msg.Interrupted || msg.OutcomeOf(a, err) != msg.Interrupted || a.Store == nil || !strings.Contains(a.Text, "withheld") {
			t.Fatalf("answer = %+v, want interrupted, withheld, with the store error", a)
		}
		if interrupted != 1 {
			t.Fatalf("%d interruptions at reopen, want the booking's", interrupted)
		}
	}
}

// bookWithOutcomeRefused books a ride with the outcome record refused,
// and reopens the folder to count the steps its store calls interrupted.
func bookWithOutcomeRefused(t *testing.T) (*msg.Answer, error, int) {
	t.Helper()
	for try := 0; ; try++ {
		var full atomic.Bool
		dir := t.TempDir()
		free := func(string) (uint64, error) {
			if full.CompareAndSwap(true, false) {
				return 1 << 20, nil
			}
			return 1 << 40, nil
		}
		e, err := New(Config{DataDir: dir, FreeSpace: free, MinFree: 64 << 20, Launcher: fullAfter{"book_ride", &full}})
		if err != nil {
			t.Fatal(err)
		}
		s, err := e.OpenSession(t.Context(), "alice", &recorder{})
		if err != nil {
			t.Fatal(err)
		}
		a, askErr := s.Ask(t.Context(), rideQuery)
		s.Close()
		// The refusal must have hit the outcome record (the guard's own
		// timer may have taken it): the intent is still open.
		open := 0
		for _, r := range audit(t, e, "alice") {
			switch {
			case r.Kind == "step" && r.Outcome == store.OutcomeStarted:
				open++
			case r.Intent != 0:
				open--
			}
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if open != 1 {
			if try < 5 {
				continue
			}
			t.Fatalf("the full disk never hit the outcome record (%d open intents)", open)
		}
		e2, err := New(Config{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		n := len(e2.Interruptions())
		e2.Close()
		return a, askErr, n
	}
}
