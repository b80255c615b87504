package offline_test

import (
	"testing"

	"github.com/isolategpt/isolategpt/engine/llm/offline"
	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/engine/planner"
)

// FuzzPlan feeds arbitrary queries to the offline planner: whatever the user
// types, the plan it writes must be one the hub accepts, and the same query
// must give the same plan.
func FuzzPlan(f *testing.F) {
	for _, seed := range []string{
		rideQuery,
		`Use metro_hail and quick_ride to calculate the fares from "Main Street" to "Elm Avenue"`,
		"I'd like to book a flight from Irvine to Paris on June 10th.",
		"Use travel_mate with name = Ada, email = ada@example.com, class of service = economy, special requirements = none from Irvine to Paris on June 10th",
		"health_companion: name = Bo, dob = 1990-01-01, city = Irvine, email = bo@example.com, preferred date = 2025-03-01, symptoms = cough",
		"symptom_solver: my head hurts",
		collabQuery,
		`Send an email to John Doe with an attachment of "annual_report.pdf" from Cloud Drive.`,
		`Draft an email to Jane Smith saying "Running late" with subject "Today"`,
		"Summarize the newest email for me.",
		"Find emails about budget",
		"book the cheapest appointment_flight estimate_fare from 'x' to “y”",
		"metro_hail from \xff\xfe to \"\x00\"",
		"",
	} {
		f.Add(seed)
	}
	c := builtinCatalog(f)
	view := c.PlannerView()
	f.Fuzz(func(t *testing.T, q string) {
		req := planner.Request{Query: q, Memory: []string{}, Catalog: view}
		out, err := offline.Plan(req)
		if err != nil {
			t.Fatalf("Plan(%q): %v", q, err)
		}
		p, err := plan.Parse([]byte(out))
		if err != nil {
			t.Fatalf("Plan(%q) = %s: parse: %v", q, out, err)
		}
		if _, err := plan.Validate(p, c); err != nil {
			t.Fatalf("Plan(%q) = %s: validate: %v", q, out, err)
		}
		again, err := offline.Plan(req)
		if err != nil || again != out {
			t.Fatalf("Plan(%q) not deterministic:\n%s\n%s", q, out, again)
		}
	})
}
