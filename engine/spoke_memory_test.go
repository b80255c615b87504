package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/engine/label"
	"github.com/isolategpt/isolategpt/engine/llm/scripted"
)

// TestAssistantSeesItsTasksNotItsAnswers (attacks.md 33): an app's
// assistant is shown its earlier tasks — the planner's words — never its
// own earlier answers, which can quote an injected text and re-arm it after
// the source is gone; what it answers next carries the memory label.
// Switched off, the earlier answer is back in its context.
func TestAssistantSeesItsTasksNotItsAnswers(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(map[bool]string{true: "on", false: "spoke_memory_tasks off"}[on], func(t *testing.T) {
			model := scripted.New(
				scripted.Rule{Name: "planner", Match: scripted.Contains(`"catalog"`), Reply: func(r scripted.Request) scripted.Reply {
					return scripted.Reply{Text: fmt.Sprintf(`{"steps": [{"id": "a", "app": "symptom_solver", "agent": %q}], "answer": "{{a.text}}"}`, lastQuery(r))}
				}},
				scripted.Rule{Name: "spoke", Match: scripted.Always, Reply: scripted.Text("INJECTED-NOTE from the first answer")},
			)
			var ds defence.Set
			if !on {
				ds, _ = defence.Off(defence.SpokeMemoryTasks)
			}
			e := newEngine(t, Config{Model: model, Defences: ds})
			if _, err := session(t, e, "alice", &recorder{}).Ask(t.Context(), "first task"); err != nil {
				t.Fatal(err)
			}
			a, err := session(t, e, "alice", &recorder{}).Ask(t.Context(), "second task")
			if err != nil {
				t.Fatal(err)
			}
			var second string
			for _, c := range model.Calls() {
				if !strings.Contains(c.Text, `"catalog"`) && strings.Contains(c.Text, "second task") {
					second = c.Text
				}
			}
			if !strings.Contains(second, "first task") {
				t.Fatalf("the assistant lost its earlier task: %q", second)
			}
			if got := strings.Contains(second, "INJECTED-NOTE"); got == on {
				t.Errorf("earlier answer in the assistant's context: %v, want %v", got, !on)
			}
			if st := stepOf(t, a, "a"); !st.Labels.Has(label.Memory) {
				t.Errorf("the answer of an assistant that read its memory is not labelled memory: %s", st.Labels)
			}
		})
	}
}
