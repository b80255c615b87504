package offline_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/engine/llm/offline"
	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/engine/planner"
	"github.com/isolategpt/isolategpt/specs"
)

const rideQuery = `Use metro_hail and quick_ride to book the cheapest ride from "Main Street" to "Elm Avenue"`

func builtinCatalog(tb testing.TB) *plan.Catalog {
	tb.Helper()
	ms, err := specs.Builtin()
	if err != nil {
		tb.Fatal(err)
	}
	c, err := plan.NewCatalog(ms)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// planFor runs the offline planner on query and returns the plan after the
// hub's own checks, failing the test if the hub would reject it.
func planFor(t *testing.T, c *plan.Catalog, query string) *plan.Plan {
	t.Helper()
	out, err := offline.Plan(planner.Request{Query: query, Memory: []string{}, Catalog: c.PlannerView()})
	if err != nil {
		t.Fatalf("Plan(%q): %v", query, err)
	}
	p, err := plan.Parse([]byte(out))
	if err != nil {
		t.Fatalf("Plan(%q) = %s: parse: %v", query, out, err)
	}
	if _, err := plan.Validate(p, c); err != nil {
		t.Fatalf("Plan(%q) = %s: validate: %v", query, out, err)
	}
	return p
}

func args(t *testing.T, s plan.Step) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, raw := range s.Args {
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("step %s: argument %s = %s is not a string", s.ID, k, raw)
		}
		out[k] = v
	}
	return out
}

func sameArgs(t *testing.T, s plan.Step, want map[string]string) {
	t.Helper()
	got := args(t, s)
	if len(got) != len(want) {
		t.Errorf("step %s: args %v, want %v", s.ID, got, want)
		return
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("step %s: %s = %q, want %q", s.ID, k, got[k], v)
		}
	}
}

var mainToElm = map[string]string{"start_point": "Main Street", "end_point": "Elm Avenue"}

func TestPlanBooksCheapestRide(t *testing.T) {
	c := builtinCatalog(t)
	p := planFor(t, c, rideQuery)
	if len(p.Steps) != 4 {
		t.Fatalf("got %d steps, want 2 estimates, an operator and a booking: %+v", len(p.Steps), p.Steps)
	}
	est1, est2, op, book := p.Steps[0], p.Steps[1], p.Steps[2], p.Steps[3]
	for i, s := range []plan.Step{est1, est2} {
		wantApp := []string{"metro_hail", "quick_ride"}[i]
		if s.Kind() != plan.KindCall || s.App != wantApp || s.Function != "estimate_fare" {
			t.Errorf("step %d = %+v, want a call of %s.estimate_fare", i+1, s, wantApp)
		}
		sameArgs(t, s, mainToElm)
	}
	if op.Kind() != plan.KindOp || op.Op != plan.OpMin || op.Field != "fare" {
		t.Errorf("step 3 = %+v, want min over fare", op)
	}
	if strings.Join(op.Of, ",") != est1.ID+","+est2.ID {
		t.Errorf("operator chooses among %v, want [%s %s]", op.Of, est1.ID, est2.ID)
	}
	if book.Kind() != plan.KindCall || book.On != op.ID || book.App != "" || book.Function != "book_ride" {
		t.Errorf("step 4 = %+v, want book_ride on %q", book, op.ID)
	}
	sameArgs(t, book, mainToElm)
	for _, want := range []string{"{{" + est1.ID + ".fare}}", "{{" + est2.ID + ".fare}}", "{{" + op.ID + ".value}}", "{{" + op.ID + ".app}}", "{{" + book.ID + ".booking_id}}"} {
		if !strings.Contains(p.Answer, want) {
			t.Errorf("answer template lacks %s:\n%s", want, p.Answer)
		}
	}
}

func TestPlanQueries(t *testing.T) {
	c := builtinCatalog(t)
	tests := []struct {
		name  string
		query string
		check func(t *testing.T, p *plan.Plan)
	}{
		{
			name:  "fares without book compare nothing and book nothing",
			query: `Use metro_hail and quick_ride to calculate the fares from "Main Street" to "Elm Avenue"`,
			check: func(t *testing.T, p *plan.Plan) {
				if len(p.Steps) != 2 {
					t.Fatalf("steps %+v, want one estimate per app", p.Steps)
				}
				for i, app := range []string{"metro_hail", "quick_ride"} {
					s := p.Steps[i]
					if s.App != app || s.Function != "estimate_fare" {
						t.Errorf("step %d = %+v, want %s.estimate_fare", i+1, s, app)
					}
					sameArgs(t, s, mainToElm)
				}
			},
		},
		{
			name:  "cheapest without book compares but books nothing",
			query: `Use metro_hail and quick_ride to find the cheapest ride from "Main Street" to "Elm Avenue"`,
			check: func(t *testing.T, p *plan.Plan) {
				if len(p.Steps) != 3 || p.Steps[2].Op != plan.OpMin {
					t.Fatalf("steps %+v, want two estimates and a min", p.Steps)
				}
			},
		},
		{
			name:  "highest",
			query: `Which of metro_hail and quick_ride has the highest fare from "A" to "B"?`,
			check: func(t *testing.T, p *plan.Plan) {
				if len(p.Steps) != 3 || p.Steps[2].Op != plan.OpMax {
					t.Fatalf("steps %+v, want two estimates and a max", p.Steps)
				}
				if !strings.Contains(p.Answer, "Highest fare") {
					t.Errorf("answer %q does not say Highest", p.Answer)
				}
			},
		},
		{
			name:  "one app named, unquoted route",
			query: "Ask metro_hail for the fare from Main Street to Elm Avenue.",
			check: func(t *testing.T, p *plan.Plan) {
				if len(p.Steps) != 1 || p.Steps[0].App != "metro_hail" || p.Steps[0].Function != "estimate_fare" {
					t.Fatalf("steps %+v, want metro_hail.estimate_fare only", p.Steps)
				}
				sameArgs(t, p.Steps[0], mainToElm)
			},
		},
		{
			name:  "app named with spaces",
			query: "What fare does metro hail charge from Irvine to Santa Ana?",
			check: func(t *testing.T, p *plan.Plan) {
				if len(p.Steps) != 1 || p.Steps[0].App != "metro_hail" {
					t.Fatalf("steps %+v, want one metro_hail step", p.Steps)
				}
				sameArgs(t, p.Steps[0], map[string]string{"start_point": "Irvine", "end_point": "Santa Ana"})
			},
		},
		{
			name:  "no app named: function words pick travel_mate, agent for missing args",
			query: "I'd like to book a flight from Irvine to Paris on June 10th.",
			check: func(t *testing.T, p *plan.Plan) {
				if len(p.Steps) != 1 {
					t.Fatalf("steps %+v, want one", p.Steps)
				}
				s := p.Steps[0]
				if s.Kind() != plan.KindAgent || s.App != "travel_mate" {
					t.Fatalf("step %+v, want an agent step on travel_mate (name and email are not in the query)", s)
				}
				if s.Agent != "I'd like to book a flight from Irvine to Paris on June 10th." {
					t.Errorf("agent task %q, want the query", s.Agent)
				}
				if !strings.Contains(p.Answer, "{{"+s.ID+".text}}") {
					t.Errorf("answer %q does not show the agent's text", p.Answer)
				}
			},
		},
		{
			name:  "key = value pairs fill every argument",
			query: "Use travel_mate with name = Ada Lovelace, email = ada@example.com, class of service = economy, special requirements = none; from Irvine to Paris on June 10th",
			check: func(t *testing.T, p *plan.Plan) {
				if len(p.Steps) != 1 || p.Steps[0].Function != "book_flight" {
					t.Fatalf("steps %+v, want travel_mate.book_flight", p.Steps)
				}
				sameArgs(t, p.Steps[0], map[string]string{
					"name": "Ada Lovelace", "email": "ada@example.com", "class_of_service": "economy",
					"special_requirements": "none", "departure_city": "Irvine", "destination_city": "Paris",
					"departure_date": "June 10th",
				})
			},
		},
		{
			name:  "apostrophes quote nothing",
			query: "I'd like metro_hail's fare; it's from Main Street to Elm Avenue, isn't it?",
			check: func(t *testing.T, p *plan.Plan) {
				if len(p.Steps) != 1 || p.Steps[0].Function != "estimate_fare" {
					t.Fatalf("steps %+v, want metro_hail.estimate_fare", p.Steps)
				}
				sameArgs(t, p.Steps[0], mainToElm)
			},
		},
		{
			name:  "argument too long for the schema: agent step",
			query: `Ask metro_hail for the fare from "` + strings.Repeat("x", 201) + `" to "Elm Avenue"`,
			check: func(t *testing.T, p *plan.Plan) {
				if len(p.Steps) != 1 || p.Steps[0].Kind() != plan.KindAgent {
					t.Fatalf("steps %+v, want one agent step (start_point allows 200 characters)", p.Steps)
				}
			},
		},
		{
			name:  "long query: agent task cut to the plan's limit",
			query: "symptom_solver: " + strings.Repeat("ä", plan.MaxAgentTaskLen),
			check: func(t *testing.T, p *plan.Plan) {
				task := p.Steps[0].Agent
				if len(task) > plan.MaxAgentTaskLen || !strings.HasPrefix(task, "symptom_solver: ää") {
					t.Errorf("agent task of %d bytes starts %.40q", len(task), task)
				}
			},
		},
		{
			name:  "prompt app gets an agent step",
			query: "Ask symptom_solver why my head hurts after running",
			check: func(t *testing.T, p *plan.Plan) {
				if len(p.Steps) != 1 || p.Steps[0].Kind() != plan.KindAgent || p.Steps[0].App != "symptom_solver" {
					t.Fatalf("steps %+v, want one agent step on symptom_solver", p.Steps)
				}
			},
		},
		{
			name:  "two prompt apps",
			query: "creative_muse and symptom_solver, tell me a story about a cough",
			check: func(t *testing.T, p *plan.Plan) {
				if len(p.Steps) != 2 || p.Steps[0].App != "creative_muse" || p.Steps[1].App != "symptom_solver" {
					t.Fatalf("steps %+v, want agent steps on creative_muse and symptom_solver", p.Steps)
				}
			},
		},
		{
			name:  "nothing matches",
			query: "What is the weather like today?",
			check: func(t *testing.T, p *plan.Plan) {
				if len(p.Steps) != 0 {
					t.Fatalf("steps %+v, want none", p.Steps)
				}
				if !strings.Contains(p.Answer, offline.Label) {
					t.Errorf("answer %q does not say it is the offline model", p.Answer)
				}
				if !strings.Contains(p.Answer, "metro_hail") {
					t.Errorf("answer %q does not list the installed apps", p.Answer)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, planFor(t, c, tt.query))
		})
	}
}

func TestPlanIsDeterministic(t *testing.T) {
	c := builtinCatalog(t)
	for _, q := range []string{
		rideQuery,
		"I'd like to book a flight from Irvine to Paris on June 10th.",
		"Use travel_mate with name = Ada, email = ada@example.com, class of service = economy, special requirements = none from Irvine to Paris on June 10th",
		"hello",
	} {
		t.Run(q, func(t *testing.T) {
			req := planner.Request{Query: q, Memory: []string{"earlier"}, Catalog: c.PlannerView()}
			first, err := offline.Plan(req)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 100 {
				// A fresh catalog view each time, so map order differs.
				req.Catalog = c.PlannerView()
				got, err := offline.Plan(req)
				if err != nil {
					t.Fatal(err)
				}
				if got != first {
					t.Fatalf("run %d differs:\n%s\nfirst:\n%s", i+2, got, first)
				}
			}
		})
	}
}

func plannerMessages(t *testing.T, c *plan.Catalog, query string, more ...llms.MessageContent) []llms.MessageContent {
	t.Helper()
	body, err := json.Marshal(planner.Request{Query: query, Memory: []string{}, Catalog: c.PlannerView()})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, planner.SystemPrompt),
		llms.TextParts(llms.ChatMessageTypeHuman, string(body)),
	}
	return append(msgs, more...)
}

func TestGenerateContentPlans(t *testing.T) {
	c := builtinCatalog(t)
	resp, err := offline.New().GenerateContent(t.Context(), plannerMessages(t, c, rideQuery))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 1 || len(resp.Choices[0].ToolCalls) != 0 {
		t.Fatalf("response %+v, want one text choice", resp)
	}
	// The catalog went through JSON, as it does from the real planner.
	p, err := plan.Parse([]byte(resp.Choices[0].Content))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plan.Validate(p, c); err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 4 || p.Steps[3].Function != "book_ride" {
		t.Errorf("steps %+v, want the ride plan with its booking", p.Steps)
	}
}

func TestGenerateContentRefusesReplan(t *testing.T) {
	c := builtinCatalog(t)
	msgs := plannerMessages(t, c, rideQuery,
		llms.TextParts(llms.ChatMessageTypeAI, `{"steps":[],"answer":"x"}`),
		llms.TextParts(llms.ChatMessageTypeHuman, planner.RejectionPrefix+"step \"s1\": unknown app. Return a corrected plan."),
	)
	resp, err := offline.New().GenerateContent(t.Context(), msgs)
	if err == nil {
		t.Fatalf("re-plan answered with %+v, want an error", resp)
	}
	if !strings.Contains(err.Error(), "unknown app") {
		t.Errorf("error %q does not carry the hub's reason", err)
	}
}

func TestGenerateContentCancelled(t *testing.T) {
	c := builtinCatalog(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := offline.New().GenerateContent(ctx, plannerMessages(t, c, rideQuery)); err == nil {
		t.Fatal("cancelled context: no error")
	}
}
