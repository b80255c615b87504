package offline_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/specs"
)

// CollabQuery is the original's collaboration query (SecGPT's mail and
// drive case).
const collabQuery = "send an email to John Doe with annual_report.pdf from drive as an attachment"

func argJSON(s plan.Step) map[string]string {
	out := map[string]string{}
	for k, v := range s.Args {
		out[k] = string(v)
	}
	return out
}

func TestPlanMailQueries(t *testing.T) {
	c := builtinCatalog(t)
	type want struct {
		app, function string
		args          map[string]string
	}
	tests := []struct {
		name   string
		query  string
		steps  []want
		answer []string
	}{
		{"collaboration", collabQuery, []want{
			{"mail", "find_contact", map[string]string{"name": `"John Doe"`}},
			{"drive", "retrieve", map[string]string{"query": `"annual_report.pdf"`}},
			{"mail", "send", map[string]string{"to": `{"$ref":"c1.email"}`, "attachment": `{"$ref":"d2"}`, "subject": `"annual_report.pdf"`, "message": `"Please find annual_report.pdf attached."`}},
		}, []string{"{{c1.email}}", "{{d2.name}}", "{{s3.id}}", "{{s3.attachments}}"}},
		{"the seed's wording", `Send an email to John Doe with an attachment of "annual_report.pdf" from Cloud Drive.`, []want{
			{"mail", "find_contact", map[string]string{"name": `"John Doe"`}},
			{"drive", "retrieve", map[string]string{"query": `"annual_report.pdf"`}},
			{"mail", "send", nil},
		}, nil},
		{"an address, a subject and a body, no attachment", `Send an email to jane.smith@example.com with subject "Lunch" saying "Noon works."`, []want{
			{"mail", "send", map[string]string{"to": `"jane.smith@example.com"`, "subject": `"Lunch"`, "message": `"Noon works."`}},
		}, []string{"{{s1.id}}"}},
		{"draft", `Draft an email to Jane Smith saying "Running late" with subject "Today"`, []want{
			{"mail", "find_contact", map[string]string{"name": `"Jane Smith"`}},
			{"mail", "draft", map[string]string{"to": `{"$ref":"c1.email"}`, "subject": `"Today"`, "message": `"Running late"`}},
		}, []string{"drafted"}},
		{"newest", "Summarize the newest email for me.", []want{
			{"mail", "search", map[string]string{"max_results": `1`, "folder": `"inbox"`}},
			{"mail", "read", map[string]string{"id": `{"$ref":"s1.messages.0.id"}`}},
		}, []string{"{{r2.body}}", "{{r2.from}}", "does not summarise"}},
		{"newest sent", "Show my latest sent email", []want{
			{"mail", "search", map[string]string{"max_results": `1`, "folder": `"sent"`}},
			{"mail", "read", nil},
		}, nil},
		{"search", "Find emails about budget", []want{
			{"mail", "search", map[string]string{"query": `"budget"`}},
		}, []string{"{{s1.count}}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := planFor(t, c, tt.query)
			if len(p.Steps) != len(tt.steps) {
				t.Fatalf("steps %s, want %d", p.JSON(), len(tt.steps))
			}
			for i, w := range tt.steps {
				s := p.Steps[i]
				if s.App != w.app || s.Function != w.function {
					t.Errorf("step %d = %s.%s, want %s.%s", i+1, s.App, s.Function, w.app, w.function)
				}
				got := argJSON(s)
				for k, v := range w.args {
					if got[k] != v {
						t.Errorf("step %d argument %s = %s, want %s", i+1, k, got[k], v)
					}
				}
				if w.args != nil && len(got) != len(w.args) {
					t.Errorf("step %d arguments %v, want %v", i+1, got, w.args)
				}
			}
			for _, a := range tt.answer {
				if !strings.Contains(p.Answer, a) {
					t.Errorf("answer %q lacks %q", p.Answer, a)
				}
			}
		})
	}
}

// TestPlanMailNeedsTheApps: without a file source the collaboration query
// plans no half-done send, and without a mailer the mail rules stay out.
func TestPlanMailNeedsTheApps(t *testing.T) {
	full := builtinCatalog(t)
	only := func(ids ...string) *plan.Catalog {
		var ms []*specs.Manifest
		for _, id := range ids {
			m, _ := full.App(id)
			ms = append(ms, m)
		}
		c, err := plan.NewCatalog(ms)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Run("mail without drive", func(t *testing.T) {
		p := planFor(t, only("mail"), collabQuery)
		for _, s := range p.Steps {
			if s.Function == "send" {
				t.Errorf("a send was planned without the file: %s", p.JSON())
			}
		}
	})
	t.Run("drive without mail", func(t *testing.T) {
		p := planFor(t, only("drive"), collabQuery)
		for _, s := range p.Steps {
			if s.App != "drive" {
				t.Errorf("step on %s: %s", s.App, p.JSON())
			}
		}
	})
	t.Run("names too long for the schema", func(t *testing.T) {
		q := "send an email to John " + strings.Repeat("Doe", 40) + " with annual_report.pdf from drive"
		p := planFor(t, full, q)
		b, _ := json.Marshal(p)
		if strings.Contains(string(b), `"find_contact"`) {
			t.Errorf("a lookup that breaks the schema was planned: %s", b)
		}
	})
}
