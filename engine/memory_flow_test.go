package engine

import (
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/execute"
	"github.com/isolategpt/isolategpt/engine/llm/scripted"
	"github.com/isolategpt/isolategpt/sandbox/inproc"
)

// A value the planner carries over from an earlier query into an app's
// arguments is a flow of the user's earlier data: the user is asked, with
// the hub's warning, and denying it stops the step.
func TestValuesFromEarlierQueriesAreAWarnedFlow(t *testing.T) {
	first := `{"steps": [{"id": "s1", "app": "metro_hail", "function": "estimate_fare", "args": {"start_point": "Old Harbor Road", "end_point": "Elm Avenue"}}], "answer": "{{s1.fare}}"}`
	model := scripted.New(scripted.Rule{Match: scripted.Always, Reply: scripted.Text(first)})
	e := newEngine(t, Config{Model: model, Launcher: inproc.Launcher{}})
	if _, err := session(t, e, "alice", &recorder{}).Ask(t.Context(), `Use metro_hail to estimate the fare from "Old Harbor Road" to "Elm Avenue"`); err != nil {
		t.Fatal(err)
	}
	// A later query that does not name the street; the plan takes it from
	// the hub memory the planner was shown.
	rec := &recorder{decide: func(p msg.Prompt) msg.Decision {
		if p.Kind == msg.Data {
			return msg.Deny
		}
		return msg.AllowOnce
	}}
	a, err := session(t, e, "alice", rec).Ask(t.Context(), `Use metro_hail to estimate my usual ride to "Elm Avenue"`)
	if a == nil {
		t.Fatal(err)
	}
	var asked bool
	for _, p := range rec.list() {
		if p.Kind == msg.Data && p.Origin == execute.OriginMemory {
			asked = true
			if !strings.Contains(p.Warning, "earlier queries") {
				t.Errorf("memory flow prompt without the hub's warning: %+v", p)
			}
		}
	}
	if !asked {
		t.Fatalf("no data prompt for the value from an earlier query; prompts: %+v", rec.list())
	}
	if st := stepOf(t, a, "s1"); st.Status == msg.StatusOK {
		t.Errorf("the step ran though the flow was denied: %+v", st)
	}
}
