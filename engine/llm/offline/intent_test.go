package offline_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/engine/llm/offline"
	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/specs"
)

// withFiles is the built-in catalog plus the npm filesystem server's
// manifest, installed as the app "files".
func withFiles(t *testing.T) *plan.Catalog {
	t.Helper()
	ms, err := specs.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "specs", "apps", "mcp", "files.json"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := specs.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	c, err := plan.NewCatalog(append(ms, files))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPlanRefusesWhatItCannotRepresent: negations, actions no function
// performs, misspelt app names and values it cannot tell apart become a
// plan with no step and an answer that says why — never a write.
func TestPlanRefusesWhatItCannotRepresent(t *testing.T) {
	c := withFiles(t)
	tests := []struct {
		name, query, reason string
	}{
		{"negated booking", `do NOT book a metro_hail ride from "A" to "B"`, `says "not"`},
		{"don't", `Don't book a ride with quick_ride from "A" to "B"`, `says "don't"`},
		{"never", `never use metro_hail to book a ride from "A" to "B"`, `says "never"`},
		{"without", `book the cheapest ride from "A" to "B" with metro_hail and quick_ride without asking`, `says "without"`},
		{"negation excluding an app", `Use metro_hail and quick_ride, but not quick_ride, to estimate the fare from "A" to "B"`, `says "not"`},
		{"cancel", `cancel my metro_hail booking from "A" to "B"`, "asks to cancel"},
		{"cancelled", `I want my quick_ride ride from "A" to "B" cancelled`, "asks to cancel"},
		{"reschedule", `Use health_companion to reschedule my appointment with name = Ada, dob = 1990-01-01, city = Boston, email = a@example.com, preferred date = 2026-12-15, medical issues = none`, "asks to reschedule"},
		{"delete read as a read", "Delete the newest email", "asks to delete"},
		{"refund", `Use metro_hail to refund the ride from "A" to "B"`, "asks to refund"},
		{"near-miss name", `Use metro_hale to book a ride from "A" to "B"`, `"metro_hale", which is not an installed app (did you mean metro_hail?)`},
		{"plural near-miss", `Use quick_rides to book a ride from "A" to "B"`, `did you mean quick_ride?`},
		{"values without roles", `Use metro_hail to book a ride between "A" and "B"`, `"A", "B" but does not say which`},
		{"file values without roles", `Use files to write "notes/a.txt" "hello world"`, `does not say which is`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := planFor(t, c, tt.query)
			if len(p.Steps) != 0 {
				t.Fatalf("planned %s, want a refusal", p.JSON())
			}
			if !strings.HasPrefix(p.Answer, offline.Refused) || !strings.Contains(p.Answer, tt.reason) {
				t.Errorf("answer %q, want %q… saying %q", p.Answer, offline.Refused, tt.reason)
			}
		})
	}
}

// TestPlanReadsWhatItCanRepresent: the same words where they do not change
// the intent — inside quoted values and key = value pairs, in question tags —
// or an action a function does perform, still plan.
func TestPlanReadsWhatItCanRepresent(t *testing.T) {
	c := withFiles(t)
	tests := []struct {
		name, query, function string
	}{
		{"negation inside a quoted body", `Send an email to jane.smith@example.com with subject "Lunch" saying "I can't make it, not today"`, "send"},
		{"negation inside a pair value", "Use travel_mate to book a flight with name = Ada Lovelace, email = ada@example.com, departure city = Boston, destination city = Paris, departure date = 2026-12-20, class of service = economy, special requirements = none (not vegan)", "book_flight"},
		{"question tag", `It's metro_hail's fare from "A" to "B" I want, isn't it?`, "estimate_fare"},
		{"delete that a function does", `Use mail to delete the message "m0002"`, "delete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := planFor(t, c, tt.query)
			found := false
			for _, s := range p.Steps {
				found = found || s.Function == tt.function
			}
			if !found {
				t.Errorf("plan %s lacks %s (answer %q)", p.JSON(), tt.function, p.Answer)
			}
		})
	}
}

// TestPlanArgumentRoles: each quoted value goes to the parameter the words
// before it name, in whatever order the query gives them.
func TestPlanArgumentRoles(t *testing.T) {
	c := withFiles(t)
	tests := []struct {
		name, query, app, function string
		args                       map[string]string
	}{
		{"file then content", `Use files to write the file "notes/a.txt" with content "hello world"`, "files", "write_file",
			map[string]string{"path": "notes/a.txt", "content": "hello world"}},
		{"content then file", `Use files to write "hello world" into the file "notes/a.txt"`, "files", "write_file",
			map[string]string{"path": "notes/a.txt", "content": "hello world"}},
		{"named", `Use files to write a file named "b.txt" containing "x y z"`, "files", "write_file",
			map[string]string{"path": "b.txt", "content": "x y z"}},
		{"to before from", `Use metro_hail to book a ride to "Elm Avenue" from "Main Street"`, "metro_hail", "book_ride", mainToElm},
		{"from before to", `Use metro_hail to book a ride from "Main Street" to "Elm Avenue"`, "metro_hail", "book_ride", mainToElm},
		{"one value, one parameter", `Use drive to retrieve "meeting_notes.txt"`, "drive", "retrieve", map[string]string{"query": "meeting_notes.txt"}},
		{"directory", `Use files to create the directory "notes"`, "files", "create_directory", map[string]string{"path": "notes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := planFor(t, c, tt.query)
			if len(p.Steps) != 1 || p.Steps[0].App != tt.app || p.Steps[0].Function != tt.function {
				t.Fatalf("plan %s (answer %q), want one %s.%s step", p.JSON(), p.Answer, tt.app, tt.function)
			}
			sameArgs(t, p.Steps[0], tt.args)
		})
	}
}

// TestPlanAppNamesAreNames: an app whose id is a common word is planned
// only where the query uses it as a name, or where no app is named.
func TestPlanAppNamesAreNames(t *testing.T) {
	c := withFiles(t)
	tests := []struct {
		name, query string
		apps        []string
	}{
		{"files as a word, drive as a name", "list my files in drive", []string{"drive"}},
		{"in my drive", "list my files in my drive", []string{"drive"}},
		{"files as a name", `Use files to list the directory "notes"`, []string{"files"}},
		{"the files app", `list the directory "notes" with the files app`, []string{"files"}},
		{"two names and a word", `Use metro_hail to estimate the fare from "A" to "B" and use drive to list my files`, []string{"drive", "metro_hail"}}, // catalog order
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := planFor(t, c, tt.query)
			var got []string
			for _, s := range p.Steps {
				got = append(got, s.App)
			}
			if strings.Join(got, ",") != strings.Join(tt.apps, ",") {
				t.Errorf("apps %v, want %v (plan %s)", got, tt.apps, p.JSON())
			}
		})
	}
}
