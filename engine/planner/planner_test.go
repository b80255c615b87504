package planner_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/engine/llm/scripted"
	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/engine/planner"
	"github.com/isolategpt/isolategpt/specs"
	"github.com/isolategpt/isolategpt/specs/schema"
)

const goodPlan = `{"steps": [
 {"id": "m", "app": "metro_hail", "function": "estimate_fare", "args": {"start_point": "A", "end_point": "B"}},
 {"id": "q", "app": "quick_ride", "function": "estimate_fare", "args": {"start_point": "A", "end_point": "B"}},
 {"id": "cheapest", "op": "min", "of": ["m", "q"], "field": "fare"}],
 "answer": "metro_hail: {{m.fare}}, quick_ride: {{q.fare}}. Lowest: {{cheapest.value}} from {{cheapest.app}}."}`

// badPlan names an app that is not installed.
const badPlan = `{"steps": [{"id": "x", "app": "evil_app", "function": "steal", "args": {}}], "answer": "{{x.loot}}"}`

func builtin(t *testing.T) ([]*specs.Manifest, *plan.Catalog) {
	t.Helper()
	ms, err := specs.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	c, err := plan.NewCatalog(ms)
	if err != nil {
		t.Fatal(err)
	}
	return ms, c
}

func newPlanner(t *testing.T, m llms.Model) *planner.Planner {
	t.Helper()
	_, c := builtin(t)
	return &planner.Planner{Model: m, Catalog: c}
}

func texts(mc llms.MessageContent) string {
	var b strings.Builder
	for _, p := range mc.Parts {
		if tc, ok := p.(llms.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func TestRequestHoldsOnlyTrustedInput(t *testing.T) {
	ms, c := builtin(t)
	m := scripted.New(scripted.Rule{Name: "plan", Reply: scripted.Text(goodPlan)})
	p := &planner.Planner{Model: m, Catalog: c}
	query := "compare metro_hail and quick_ride from A to B"
	memory := []string{"the user lives on Main Street"}
	if _, err := p.Plan(t.Context(), query, memory); err != nil {
		t.Fatal(err)
	}
	calls := m.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d model calls, want 1", len(calls))
	}
	msgs := calls[0].Messages
	if len(msgs) != 2 || msgs[0].Role != llms.ChatMessageTypeSystem || msgs[1].Role != llms.ChatMessageTypeHuman {
		t.Fatalf("messages %+v, want a system prompt and one user message", msgs)
	}

	var req planner.Request
	dec := json.NewDecoder(strings.NewReader(texts(msgs[1])))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		t.Fatalf("user message is not the JSON request: %v\n%s", err, texts(msgs[1]))
	}
	if req.Query != query {
		t.Errorf("query %q, want %q", req.Query, query)
	}
	if !reflect.DeepEqual(req.Memory, memory) {
		t.Errorf("memory %q, want %q", req.Memory, memory)
	}
	var ids []string
	for _, a := range req.Catalog {
		ids = append(ids, a.App)
	}
	if !reflect.DeepEqual(ids, c.IDs()) {
		t.Errorf("catalog apps %v, want %v", ids, c.IDs())
	}
	want, _ := json.Marshal(c.PlannerView())
	got, _ := json.Marshal(req.Catalog)
	if string(got) != string(want) {
		t.Errorf("catalog differs from the planner view:\n got %s\nwant %s", got, want)
	}

	// No app-authored prose anywhere the planner model reads (P3), raw or
	// as it would look inside a JSON string.
	var all strings.Builder
	for _, mc := range msgs {
		all.WriteString(texts(mc))
		all.WriteString("\n")
	}
	everything := all.String()
	checked := 0
	for _, man := range ms {
		prose := map[string]string{man.ID + " description": man.Description, man.ID + " instructions": man.Instructions}
		for _, f := range man.Functions {
			prose[man.ID+"."+f.Name+" description"] = f.Description
			for side, sch := range map[string]*schema.Schema{"input": f.Input, "output": f.Output} {
				for _, name := range sch.PropertyNames() {
					ps, _ := sch.Property(name)
					prose[man.ID+"."+f.Name+" "+side+" "+name] = ps.Description()
				}
			}
		}
		for where, text := range prose {
			if text == "" {
				continue
			}
			checked++
			enc, _ := json.Marshal(text)
			if strings.Contains(everything, text) || strings.Contains(everything, strings.Trim(string(enc), `"`)) {
				t.Errorf("the planner's request holds the %s: %q", where, text)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("checked only %d pieces of app prose: the built-in manifests changed?", checked)
	}
}

func TestNilMemoryIsEmptyList(t *testing.T) {
	m := scripted.New(scripted.Rule{Name: "plan", Reply: scripted.Text(goodPlan)})
	if _, err := newPlanner(t, m).Plan(t.Context(), "q", nil); err != nil {
		t.Fatal(err)
	}
	if got := texts(m.Calls()[0].Messages[1]); !strings.Contains(got, `"memory":[]`) {
		t.Errorf("request %s, want \"memory\":[]", got)
	}
}

func TestAcceptsWrappedPlans(t *testing.T) {
	tests := []struct {
		name, reply string
	}{
		{"bare", goodPlan},
		{"code fence", "```json\n" + goodPlan + "\n```"},
		{"prose around", "Here is the plan you asked for:\n" + goodPlan + "\nIt compares the two fares."},
		{"prose with braces after", goodPlan + "\nThe hub fills {{m.fare}} and {{q.fare}} in."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := scripted.New(scripted.Rule{Name: "plan", Reply: scripted.Text(tt.reply)})
			res, err := newPlanner(t, m).Plan(t.Context(), "compare", nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Attempts != 1 || len(res.Rejections) != 0 {
				t.Errorf("attempts %d, rejections %q; want 1 and none", res.Attempts, res.Rejections)
			}
			if n, ok := res.Graph.Node("cheapest"); !ok || n.Kind != plan.KindOp {
				t.Errorf("graph lacks the operator step: %+v", res.Graph.Nodes)
			}
		})
	}
}

func TestReplanOnce(t *testing.T) {
	tests := []struct {
		name       string
		first      string
		wantReason string
	}{
		{"unknown app", badPlan, `unknown app "evil_app"`},
		{"no JSON", "I cannot help with that.", "no JSON object"},
		{"unknown field", `{"steps": [], "answer": "x", "note": "y"}`, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := scripted.New(scripted.Rule{Name: "plans", Reply: scripted.Sequence(
				scripted.Reply{Text: tt.first}, scripted.Reply{Text: goodPlan})})
			res, err := newPlanner(t, m).Plan(t.Context(), "compare", nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Attempts != 2 || len(res.Rejections) != 1 || !strings.Contains(res.Rejections[0], tt.wantReason) {
				t.Errorf("attempts %d, rejections %q; want 2 and one naming %q", res.Attempts, res.Rejections, tt.wantReason)
			}
			calls := m.Calls()
			if len(calls) != 2 {
				t.Fatalf("%d model calls, want 2", len(calls))
			}
			second := calls[1].Messages
			if len(second) != 4 {
				t.Fatalf("re-plan request has %d messages, want system, query, rejected plan, reason", len(second))
			}
			if second[2].Role != llms.ChatMessageTypeAI || texts(second[2]) != tt.first {
				t.Errorf("re-plan request does not replay the rejected reply: %+v", second[2])
			}
			last := texts(second[3])
			if second[3].Role != llms.ChatMessageTypeHuman || !strings.HasPrefix(last, planner.RejectionPrefix) || !strings.Contains(last, tt.wantReason) {
				t.Errorf("re-plan message %q, want %q… naming %q", last, planner.RejectionPrefix, tt.wantReason)
			}
		})
	}
}

func TestRejectedTwice(t *testing.T) {
	m := scripted.New(scripted.Rule{Name: "bad", Reply: scripted.Text(badPlan)})
	res, err := newPlanner(t, m).Plan(t.Context(), "compare", nil)
	if !errors.Is(err, planner.ErrRejected) {
		t.Fatalf("error %v, want ErrRejected", err)
	}
	if !strings.Contains(err.Error(), "evil_app") {
		t.Errorf("error %q does not give the reason", err)
	}
	if m.CallCount() != 2 {
		t.Errorf("%d model calls, want 2 (one re-plan only)", m.CallCount())
	}
	if res == nil || res.Graph != nil || res.Attempts != 2 || len(res.Rejections) != 2 {
		t.Errorf("result %+v, want 2 attempts, 2 rejections and no graph", res)
	}
}

var errDown = errors.New("model is down")

func TestModelError(t *testing.T) {
	m := scripted.New(scripted.Rule{Name: "down", Reply: func(scripted.Request) scripted.Reply { return scripted.Reply{Err: errDown} }})
	res, err := newPlanner(t, m).Plan(t.Context(), "compare", nil)
	if !errors.Is(err, errDown) {
		t.Fatalf("error %v, want one wrapping the model's", err)
	}
	if errors.Is(err, planner.ErrRejected) || res != nil {
		t.Errorf("a model failure reported as a rejection: %v, %+v", err, res)
	}
}

func TestCancelledContext(t *testing.T) {
	m := scripted.New(scripted.Rule{Name: "plan", Reply: scripted.Text(goodPlan)})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := newPlanner(t, m).Plan(ctx, "compare", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

// noChoice is a model that answers with no choices at all.
type noChoice struct{}

func (noChoice) GenerateContent(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
	return &llms.ContentResponse{}, nil
}

func (noChoice) Call(context.Context, string, ...llms.CallOption) (string, error) { return "", nil }

func TestEmptyChoices(t *testing.T) {
	res, err := newPlanner(t, noChoice{}).Plan(t.Context(), "compare", nil)
	if err == nil || !strings.Contains(err.Error(), "no choice") {
		t.Fatalf("error %v, want one saying the model gave no choice", err)
	}
	if res != nil {
		t.Errorf("result %+v, want nil", res)
	}
}
