package execute

import (
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/actors/msg"
)

// A line that needs a step which did not succeed says so once, after the
// words that introduce it; the other lines are filled as usual.
func TestRenderDeniedStepOnce(t *testing.T) {
	g := graph(t, `{"steps": [
 {"id": "m", "app": "metro_hail", "function": "estimate_fare", "args": {"start_point": "A", "end_point": "B"}},
 {"id": "q", "app": "quick_ride", "function": "estimate_fare", "args": {"start_point": "A", "end_point": "B"}},
 {"id": "choice", "op": "min", "of": ["m", "q"], "field": "fare"},
 {"id": "act", "on": "choice", "function": "book_ride", "args": {"start_point": "A", "end_point": "B"}}],
 "answer": "metro_hail fare: {{m.fare}}\nLowest fare: {{choice.value}} from {{choice.app}}.\nbook ride with {{choice.app}}: booking_id {{act.booking_id}}, fare {{act.fare}}, status {{act.status}}"}`)
	inv := &fakeInvoker{fn: fares(nil)}
	gate := &fakeGate{deny: func(p msg.Prompt) bool { return p.Function == "book_ride" }}
	text := Render(g, (&Executor{Invoker: inv, Gate: gate}).Run(t.Context(), g))
	for _, want := range []string{
		"metro_hail fare: 51.8\n",
		"Lowest fare: 51.8 from \"metro_hail\".\n",
		"book ride with \"metro_hail\": ⟨step act was denied⟩\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("answer lacks %q:\n%s", want, text)
		}
	}
	if strings.Count(text, "⟨") != 1 {
		t.Errorf("the denied step is marked more than once:\n%s", text)
	}
}
