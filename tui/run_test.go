package tui

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isolategpt/isolategpt/actors/msg"
)

// syncBuffer is the program's terminal: written by the renderer, read by
// the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) contains(sub string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Contains(s.b.String(), sub)
}

// Run wires the prompter and the event stream to the program: a query typed
// on its input opens a dialog, and Ctrl+C quits, which denies it.
func TestRunWiresPromptsAndQuitDenies(t *testing.T) {
	e := newEngine(t, t.TempDir())
	decided := decisions(t, e)
	in, typed := io.Pipe()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- Run(t.Context(), Options{Engine: e, User: "alice", In: in, Out: out}) }()
	t.Cleanup(func() { typed.Close() })
	if _, err := io.WriteString(typed, fareQuery+"\r"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !out.contains("Permission needed: run metro_hail.estimate_fare") {
		if time.Now().After(deadline) {
			t.Fatal("no dialog within 10s")
		}
		<-tick.C
	}
	if _, err := io.WriteString(typed, "\x03"); err != nil {
		t.Fatal(err)
	}
	if d := nextDecision(t, decided); d.Decision != msg.Deny || !d.Asked {
		t.Fatalf("quitting gave %s (asked %v), want deny", d.Decision, d.Asked)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Ctrl+C")
	}
	if st, err := e.Status(t.Context()); err != nil || st.Sessions != 0 {
		t.Fatalf("after Run: %+v, %v; want its session closed", st, err)
	}
}
