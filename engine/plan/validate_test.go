package plan

import (
	"errors"
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/specs"
)

func testCatalog(t testing.TB) *Catalog {
	t.Helper()
	ms, err := specs.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCatalog(ms)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const ridePlan = `{"steps": [
 {"id": "m", "app": "metro_hail", "function": "estimate_fare", "args": {"start_point": "Main Street", "end_point": "Elm Avenue"}},
 {"id": "q", "app": "quick_ride", "function": "estimate_fare", "args": {"start_point": "Main Street", "end_point": "Elm Avenue"}},
 {"id": "cheapest", "op": "min", "of": ["m", "q"], "field": "fare"},
 {"id": "book", "on": "cheapest", "function": "book_ride", "args": {"start_point": "Main Street", "end_point": "Elm Avenue"}}],
 "answer": "metro_hail {{m.fare}}, quick_ride {{q.fare}}; booked {{book.booking_id}} with {{cheapest.app}}"}`

func TestValidateAccepts(t *testing.T) {
	c := testCatalog(t)
	tests := []struct {
		name string
		plan string
		deps map[string][]string
	}{
		{"ride", ridePlan, map[string][]string{"m": nil, "q": nil, "cheapest": {"m", "q"}, "book": {"cheapest"}}},
		{"empty plan", `{"steps": [], "answer": "hello"}`, map[string][]string{}},
		{"agent on a prompt app", `{"steps": [{"id": "a", "app": "symptom_solver", "agent": "I feel tired"}], "answer": "{{a.text}}"}`, map[string][]string{"a": nil}},
		{"reference to an earlier result", `{"steps": [
			{"id": "a", "app": "symptom_solver", "agent": "x"},
			{"id": "b", "app": "metro_hail", "function": "estimate_fare", "args": {"start_point": {"$ref": "a.text"}, "end_point": "B"}}],
			"answer": ""}`, map[string][]string{"b": {"a"}}},
		{"steps out of order", `{"steps": [
			{"id": "b", "app": "metro_hail", "function": "estimate_fare", "args": {"start_point": {"$ref": "a.text"}, "end_point": "B"}},
			{"id": "a", "app": "symptom_solver", "agent": "x"}], "answer": ""}`, map[string][]string{"b": {"a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.plan))
			if err != nil {
				t.Fatal(err)
			}
			g, err := Validate(p, c)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			for id, want := range tt.deps {
				n, ok := g.Node(id)
				if !ok {
					t.Fatalf("no node %q", id)
				}
				if strings.Join(n.Deps, ",") != strings.Join(want, ",") {
					t.Errorf("deps of %s = %v, want %v", id, n.Deps, want)
				}
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	c := testCatalog(t)
	call := func(args string) string {
		return `{"steps": [{"id": "a", "app": "metro_hail", "function": "estimate_fare", "args": ` + args + `}], "answer": ""}`
	}
	tests := []struct {
		name, plan, want string
	}{
		{"unknown app", `{"steps": [{"id": "a", "app": "evil", "function": "f", "args": {}}], "answer": ""}`, `unknown app "evil"`},
		{"unknown function", `{"steps": [{"id": "a", "app": "metro_hail", "function": "steal", "args": {}}], "answer": ""}`, "unknown function metro_hail.steal"},
		{"missing argument", call(`{"start_point": "A"}`), `needs argument "end_point"`},
		{"unknown parameter", call(`{"start_point": "A", "end_point": "B", "tip": 5}`), `no parameter "tip"`},
		{"argument of the wrong type", call(`{"start_point": 7, "end_point": "B"}`), "does not fit"},
		{"empty string below minLength", call(`{"start_point": "", "end_point": "B"}`), "does not fit"},
		{"dangling reference", call(`{"start_point": {"$ref": "nowhere.x"}, "end_point": "B"}`), `unknown step "nowhere"`},
		{"reference to a missing field", `{"steps": [
			{"id": "a", "app": "quick_ride", "function": "estimate_fare", "args": {"start_point": "A", "end_point": "B"}},
			{"id": "b", "app": "metro_hail", "function": "estimate_fare", "args": {"start_point": {"$ref": "a.color"}, "end_point": "B"}}], "answer": ""}`, `no field "color"`},
		{"reference type mismatch", `{"steps": [
			{"id": "a", "app": "quick_ride", "function": "estimate_fare", "args": {"start_point": "A", "end_point": "B"}},
			{"id": "b", "app": "metro_hail", "function": "estimate_fare", "args": {"start_point": {"$ref": "a.fare"}, "end_point": "B"}}], "answer": ""}`, "does not fit parameter"},
		{"self reference", call(`{"start_point": {"$ref": "a.fare"}, "end_point": "B"}`), "its own step"},
		{"reference with extra keys", call(`{"start_point": {"$ref": "x", "y": 1}, "end_point": "B"}`), `only the key "$ref"`},
		{"cycle", `{"steps": [
			{"id": "a", "app": "symptom_solver", "agent": "x"},
			{"id": "b", "app": "metro_hail", "function": "estimate_fare", "args": {"start_point": {"$ref": "c.booking_id"}, "end_point": "B"}},
			{"id": "c", "app": "quick_ride", "function": "book_ride", "args": {"start_point": {"$ref": "b.currency"}, "end_point": "B"}}], "answer": ""}`, "cycle"},
		{"duplicate id", `{"steps": [{"id": "a", "app": "symptom_solver", "agent": "x"}, {"id": "a", "app": "creative_muse", "agent": "y"}], "answer": ""}`, "used twice"},
		{"bad id", `{"steps": [{"id": "A!", "app": "symptom_solver", "agent": "x"}], "answer": ""}`, "must match"},
		{"operator over one step", `{"steps": [
			{"id": "m", "app": "metro_hail", "function": "estimate_fare", "args": {"start_point": "A", "end_point": "B"}},
			{"id": "o", "op": "min", "of": ["m"], "field": "fare"}], "answer": ""}`, "at least two"},
		{"operator on a non-number", `{"steps": [
			{"id": "m", "app": "metro_hail", "function": "estimate_fare", "args": {"start_point": "A", "end_point": "B"}},
			{"id": "q", "app": "quick_ride", "function": "estimate_fare", "args": {"start_point": "A", "end_point": "B"}},
			{"id": "o", "op": "min", "of": ["m", "q"], "field": "currency"}], "answer": ""}`, "not a number"},
		{"unknown operator", `{"steps": [{"id": "o", "op": "median", "of": ["a", "b"], "field": "x"}], "answer": ""}`, "unknown operator"},
		{"on a call step", `{"steps": [
			{"id": "m", "app": "metro_hail", "function": "estimate_fare", "args": {"start_point": "A", "end_point": "B"}},
			{"id": "b", "on": "m", "function": "book_ride", "args": {"start_point": "A", "end_point": "B"}}], "answer": ""}`, "not an operator step"},
		{"both app and on", `{"steps": [{"id": "b", "app": "metro_hail", "on": "x", "function": "book_ride", "args": {}}], "answer": ""}`, "exactly one of app or on"},
		{"function on an agent step", `{"steps": [{"id": "a", "app": "travel_mate", "agent": "x", "function": "book_flight"}], "answer": ""}`, "only app and agent"},
		{"template placeholder to unknown step", `{"steps": [], "answer": "{{ghost.x}}"}`, `unknown step "ghost"`},
		{"template field unknown", `{"steps": [{"id": "a", "app": "symptom_solver", "agent": "x"}], "answer": "{{a.secret}}"}`, `no field "secret"`},
		{"unclosed template", `{"steps": [], "answer": "{{a"}`, "unclosed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.plan))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			_, err = Validate(p, c)
			if err == nil {
				t.Fatal("Validate accepted the plan")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := map[string]string{
		"unknown field":  `{"steps": [], "answer": "", "exec": "rm -rf /"}`,
		"duplicate key":  `{"steps": [], "answer": "a", "answer": "b"}`,
		"trailing data":  `{"steps": [], "answer": ""} {}`,
		"not an object":  `[]`,
		"step extra key": `{"steps": [{"id": "a", "app": "x", "shell": "y"}], "answer": ""}`,
		"oversized":      `{"steps": [], "answer": "` + strings.Repeat("a", MaxPlanBytes) + `"}`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(in)); err == nil {
				t.Fatal("Parse accepted it")
			}
		})
	}
}

func TestPlannerViewHasNoAppProse(t *testing.T) {
	c := testCatalog(t)
	view := c.PlannerView()
	b := mustMarshal(t, view)
	for _, id := range c.IDs() {
		m, _ := c.App(id)
		if m.Description != "" && strings.Contains(b, m.Description[:min(40, len(m.Description))]) {
			t.Errorf("planner view contains %s's description", id)
		}
		for _, f := range m.Functions {
			if f.Description != "" && strings.Contains(b, f.Description) {
				t.Errorf("planner view contains %s.%s's description", id, f.Name)
			}
		}
	}
	for _, word := range []string{"description", "$10", "metro_hail, an additional", "instructions", "title"} {
		if strings.Contains(b, word) {
			t.Errorf("planner view contains %q", word)
		}
	}
}

func TestCallsListsEveryCandidate(t *testing.T) {
	p, err := Parse([]byte(ridePlan))
	if err != nil {
		t.Fatal(err)
	}
	g, err := Validate(p, testCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(g.Calls(), " ")
	want := "metro_hail.book_ride metro_hail.estimate_fare quick_ride.book_ride quick_ride.estimate_fare"
	if got != want {
		t.Errorf("Calls() = %q, want %q", got, want)
	}
}

// FuzzValidate feeds arbitrary plans through Parse and Validate: neither
// may panic, and an accepted plan must be internally consistent.
func FuzzValidate(f *testing.F) {
	c := testCatalog(f)
	f.Add([]byte(ridePlan))
	f.Add([]byte(`{"steps": [], "answer": "{{a.b}}"}`))
	f.Add([]byte(`{"steps": [{"id": "a", "app": "symptom_solver", "agent": "x"}], "answer": "{{a}}"}`))
	f.Add([]byte(`{"steps": [{"id": "o", "op": "max", "of": ["o", "o"], "field": "fare"}], "answer": ""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			return
		}
		g, err := Validate(p, c)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("rejection %v does not wrap ErrInvalid", err)
			}
			return
		}
		for _, n := range g.Nodes {
			for _, d := range n.Deps {
				if _, ok := g.Node(d); !ok {
					t.Fatalf("accepted plan: %s depends on missing %s", n.ID, d)
				}
			}
			if n.Kind == KindCall {
				for _, app := range n.Candidates {
					if _, ok := c.Function(app, n.Step.Function); !ok {
						t.Fatalf("accepted plan calls unknown %s.%s", app, n.Step.Function)
					}
				}
			}
		}
		for _, s := range g.Template {
			if s.Ref != nil {
				if _, ok := g.Node(s.Ref.Step); !ok {
					t.Fatalf("accepted template refers to missing %s", s.Ref.Step)
				}
			}
		}
	})
}
