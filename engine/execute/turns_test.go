package execute

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/isolategpt/isolategpt/actors/msg"
)

// orderGate records the order of the permission checks; each takes a
// moment, as a person answering does.
type orderGate struct {
	mu    sync.Mutex
	order []string
}

func (g *orderGate) Check(_ context.Context, p msg.Prompt) (bool, string, error) {
	g.mu.Lock()
	g.order = append(g.order, p.Target())
	g.mu.Unlock()
	time.Sleep(time.Millisecond)
	return true, "", nil
}

// Steps that run at once ask in plan order on every run, and still run at
// once: the invoker only answers when all three calls have arrived.
func TestPromptsComeInPlanOrder(t *testing.T) {
	g := graph(t, `{"steps": [
 {"id": "a", "app": "quick_ride", "function": "estimate_fare", "args": {"start_point": "A", "end_point": "B"}},
 {"id": "b", "app": "metro_hail", "function": "estimate_fare", "args": {"start_point": "A", "end_point": "B"}},
 {"id": "c", "app": "mail", "function": "find_contact", "args": {"name": "Jane Smith"}},
 {"id": "d", "app": "metro_hail", "function": "book_ride", "args": {"start_point": "A", "end_point": "B"}}],
 "answer": "{{a.fare}} {{b.fare}} {{c.email}} {{d.booking_id}}"}`)
	want := []string{"quick_ride.estimate_fare", "metro_hail.estimate_fare", "mail.find_contact", "metro_hail.book_ride"}
	for run := range 30 {
		gate := &orderGate{}
		arrived := make(chan struct{}, 4)
		all := make(chan struct{})
		var once sync.Once
		inv := &fakeInvoker{fn: func(i Invocation) (json.RawMessage, error) {
			arrived <- struct{}{}
			if len(arrived) == 4 {
				once.Do(func() { close(all) })
			}
			select {
			case <-all:
			case <-time.After(5 * time.Second):
				return nil, fmt.Errorf("%s ran alone: the calls did not run at once", i.App)
			}
			switch i.Function {
			case "find_contact":
				return json.RawMessage(`{"name": "Jane Smith", "email": "jane@example.com"}`), nil
			case "book_ride":
				return json.RawMessage(`{"booking_id": "X", "fare": 1, "status": "confirmed"}`), nil
			}
			return json.RawMessage(`{"fare": 1, "currency": "USD"}`), nil
		}}
		r := (&Executor{Invoker: inv, Gate: gate}).Run(t.Context(), g)
		if !slices.Equal(gate.order, want) {
			t.Fatalf("run %d: prompts in order %v, want plan order %v", run+1, gate.order, want)
		}
		for _, s := range r.Steps {
			if s.Status != msg.StatusOK {
				t.Fatalf("run %d: step %s %s: %s", run+1, s.Step, s.Status, s.Reason)
			}
		}
	}
}
