package execute

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/actors/permission"
	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/engine/label"
)

func off(t *testing.T, names ...defence.Name) defence.Set {
	t.Helper()
	s, err := defence.Off(names...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func promptsOf(g *fakeGate, kind msg.Kind) []msg.Prompt {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []msg.Prompt
	for _, p := range g.prompts {
		if p.Kind == kind {
			out = append(out, p)
		}
	}
	return out
}

// winnerTo passes which app won the comparison to mail.search, a third
// app: one bit of each compared app's data per operator (attacks.md 16).
const winnerTo = `{"steps": [
 {"id": "m", "app": "metro_hail", "function": "estimate_fare", "args": {"start_point": "Main Street", "end_point": "Elm Avenue"}},
 {"id": "q", "app": "quick_ride", "function": "estimate_fare", "args": {"start_point": "Main Street", "end_point": "Elm Avenue"}},
 {"id": "cheapest", "op": "min", "of": ["m", "q"], "field": "fare"},
 {"id": "s", "app": "mail", "function": "search", "args": {"query": {"$ref": "cheapest.app"}}},
 {"id": "book", "on": "cheapest", "function": "book_ride", "args": {"start_point": "Main Street", "end_point": "Elm Avenue"}}],
 "answer": ""}`

func faresAndMail(inv Invocation) (json.RawMessage, error) {
	if inv.App == "mail" {
		return json.RawMessage(`{"count": 0, "messages": []}`), nil
	}
	return fares(nil)(inv)
}

// TestOperatorsCarryEverythingTheyCompared (attacks.md 32): the winner's
// name is a value of both compared apps, not the hub's; passing it on is a
// flow from each, asked about. The call on the operator's choice shows
// what the choice was made from. Switched off, the name passes as the
// hub's and nothing is asked.
func TestOperatorsCarryEverythingTheyCompared(t *testing.T) {
	const q = `Use metro_hail and quick_ride from "Main Street" to "Elm Avenue"`
	t.Run("on", func(t *testing.T) {
		gate := &fakeGate{}
		r := (&Executor{Invoker: &fakeInvoker{fn: faresAndMail}, Gate: gate, Query: q}).Run(t.Context(), graph(t, winnerTo))
		op := outcome(t, r, "cheapest")
		if got := op.Labels.Apps(); !slices.Equal(got, []string{"metro_hail", "quick_ride"}) {
			t.Errorf("operator labels %s", op.Labels)
		}
		var origins []string
		for _, p := range promptsOf(gate, msg.Data) {
			if p.App == "mail" {
				origins = append(origins, p.Origin)
				if permission.Warning(p) == "" {
					t.Errorf("unwarned flow %+v", p)
				}
			}
		}
		slices.Sort(origins)
		if !slices.Equal(origins, []string{"metro_hail.estimate_fare", "quick_ride.estimate_fare"}) {
			t.Errorf("flows into mail.search from %v, want both compared apps", origins)
		}
		for _, p := range promptsOf(gate, msg.Exec) {
			if p.Function == "book_ride" && len(p.Chosen.Apps()) != 2 {
				t.Errorf("the booking's prompt does not say what chose its app: %+v", p)
			}
		}
		// The booking goes to the app that won: its own data back, plus
		// one bit of the loser's, which is what the user asked for. No
		// data prompt, and the book prompt carries no warning.
		for _, p := range promptsOf(gate, msg.Data) {
			if p.Function == "book_ride" {
				t.Errorf("data prompt for the booking %+v", p)
			}
		}
	})
	t.Run("off", func(t *testing.T) {
		gate := &fakeGate{}
		(&Executor{Invoker: &fakeInvoker{fn: faresAndMail}, Gate: gate, Query: q, Defences: off(t, defence.OperatorLabels)}).Run(t.Context(), graph(t, winnerTo))
		if ps := promptsOf(gate, msg.Data); len(ps) != 0 {
			t.Errorf("with operator_labels off the winner should pass unasked: %+v", ps)
		}
	})
}

// A failed step still teaches the operator something (which apps were
// left to choose from): its labels are in the operator's result.
func TestOperatorLabelsIncludeFailedSteps(t *testing.T) {
	inv := &fakeInvoker{fn: fares(func(i Invocation) (json.RawMessage, error, bool) {
		if i.App == "quick_ride" {
			return nil, errors.New("down"), true
		}
		return nil, nil, false
	})}
	r := (&Executor{Invoker: inv, Gate: &fakeGate{}}).Run(t.Context(), graph(t, ride))
	if got := outcome(t, r, "cheapest").Labels.Apps(); !slices.Equal(got, []string{"metro_hail", "quick_ride"}) {
		t.Errorf("operator labels %v", got)
	}
}

// TestLiteralsFromMemoryAreAsked (attacks.md 32): a literal that does not
// occur in the query, when the planner saw earlier queries, may carry
// them — however it was reworded — and is asked about; a literal of the
// query is the user's. Switched off, every literal is the user's.
func TestLiteralsFromMemoryAreAsked(t *testing.T) {
	const flight = `{"steps": [{"id": "f", "app": "travel_mate", "function": "book_flight", "args": {
	  "name": "M. S.", "email": "ms@email.com", "departure_city": "Irvine",
	  "destination_city": "Paris", "departure_date": "June 10th", "class_of_service": "first",
	  "special_requirements": "A-S-T-H-M-A"}}], "answer": ""}`
	query := "I'd like to book a flight from Irvine to Paris on June 10th in first class."
	book := func(Invocation) (json.RawMessage, error) {
		return json.RawMessage(`{"confirmation": "booked", "reference": "TM-1"}`), nil
	}
	memory := []string{"earlier query: my name is Michael Smith, I have severe asthma"}
	for _, tt := range []struct {
		name   string
		memory []string
		ds     defence.Set
		asked  []string
	}{
		{"no memory: the planner's words, from this query only", nil, defence.Set{}, nil},
		{"memory: asked", memory, defence.Set{}, []string{"email", "name", "special_requirements"}},
		{"memory, defence off", memory, off(t, defence.LiteralProvenance), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			gate := &fakeGate{}
			r := (&Executor{Invoker: &fakeInvoker{fn: book}, Gate: gate, Query: query, Memory: tt.memory, Defences: tt.ds}).Run(t.Context(), graph(t, flight))
			if o := outcome(t, r, "f"); o.Status != msg.StatusOK {
				t.Fatalf("%+v", o)
			}
			var asked []string
			for _, p := range promptsOf(gate, msg.Data) {
				for _, d := range p.Data {
					asked = append(asked, d.Name)
				}
			}
			slices.Sort(asked)
			if !slices.Equal(asked, tt.asked) {
				t.Errorf("asked about %v, want %v", asked, tt.asked)
			}
			for _, p := range promptsOf(gate, msg.Exec) {
				for _, d := range p.Data {
					fromQuery := d.Labels.OnlyQuery()
					if want := strings.Contains(query, strings.Trim(d.Value, `"`)) || !tt.ds.On(defence.LiteralProvenance); fromQuery != want {
						t.Errorf("%s = %s labelled %s", d.Name, d.Value, d.Labels)
					}
				}
			}
		})
	}
}

// TestAgentOutputCarriesWhatItWasGiven: an agent step's result carries
// its app, its task's labels and what the hub reports the assistant was
// given; a later step fed by it gets a data prompt from the assistant.
func TestAgentOutputCarriesWhatItWasGiven(t *testing.T) {
	src := `{"steps": [
		{"id": "a", "app": "symptom_solver", "agent": "diagnose"},
		{"id": "b", "app": "metro_hail", "function": "estimate_fare", "args": {"start_point": {"$ref": "a.text"}, "end_point": "B"}}],
		"answer": ""}`
	given := label.Of(label.Output("drive", "retrieve", "isc"), label.Label{Kind: label.Memory})
	inv := &labelledInvoker{fakeInvoker: fakeInvoker{fn: func(i Invocation) (json.RawMessage, error) {
		if i.App == "symptom_solver" {
			return json.RawMessage(`{"text": "Main Street"}`), nil
		}
		return json.RawMessage(`{"fare": 3, "currency": "USD"}`), nil
	}}, extra: given}
	gate := &fakeGate{}
	r := (&Executor{Invoker: inv, Gate: gate, Query: "what is wrong with me"}).Run(t.Context(), graph(t, src))
	a := outcome(t, r, "a")
	for _, want := range []string{"app:symptom_solver.*@a", "app:drive.retrieve@isc", "memory", "planner"} {
		if !strings.Contains(a.Labels.String(), want) {
			t.Errorf("agent labels %s lack %s", a.Labels, want)
		}
	}
	var origins []string
	for _, p := range promptsOf(gate, msg.Data) {
		origins = append(origins, p.Origin)
	}
	slices.Sort(origins)
	if !slices.Equal(origins, []string{"drive.retrieve", "memory", "symptom_solver.*"}) {
		t.Errorf("flows into metro_hail from %v", origins)
	}
	if inv.calls[0].Labels.String() != label.Of(label.Label{Kind: label.Planner}).String() {
		t.Errorf("the agent step was invoked with labels %s, want its task's", inv.calls[0].Labels)
	}
}

type labelledInvoker struct {
	fakeInvoker
	extra label.Set
}

func (l *labelledInvoker) Invoke(ctx context.Context, inv Invocation) (InvokeResult, error) {
	res, err := l.fakeInvoker.Invoke(ctx, inv)
	if inv.Task != "" {
		res.Labels = l.extra
	}
	return res, err
}

// TestSameAppWriteIsWarnedNotAFlow (attacks.md 29): mail's own search
// result as mail.send's recipient is no flow between apps, but the write
// is warned, naming the argument and its source; a read fed the same way
// is not. Switched off, the write is not warned.
func TestSameAppWriteIsWarnedNotAFlow(t *testing.T) {
	src := `{"steps": [
	 {"id": "s1", "app": "mail", "function": "search", "args": {"query": "invoice", "max_results": 1}},
	 {"id": "r2", "app": "mail", "function": "read", "args": {"id": {"$ref": "s1.messages.0.id"}}},
	 {"id": "s3", "app": "mail", "function": "send", "args": {"to": {"$ref": "r2.from"}, "subject": "invoice", "message": "bank details"}}],
	 "answer": ""}`
	inv := &fakeInvoker{fn: func(i Invocation) (json.RawMessage, error) {
		switch i.Function {
		case "search":
			return json.RawMessage(`{"count": 1, "messages": [{"id": "m5", "thread_id": "m5", "folder": "inbox", "from": "x@evil.example", "to": [], "subject": "invoice", "date": "2025-01-01T00:00:00Z", "snippet": ""}]}`), nil
		case "read":
			return json.RawMessage(`{"id": "m5", "thread_id": "m5", "folder": "inbox", "from": "x@evil.example", "to": [], "cc": [], "subject": "invoice", "body": "b", "date": "2025-01-01T00:00:00Z", "attachments": []}`), nil
		}
		return json.RawMessage(`{"id": "m6", "status": "sent", "to": "x@evil.example", "attachments": []}`), nil
	}}
	gate := &fakeGate{}
	(&Executor{Invoker: inv, Gate: gate, Query: "reply to the invoice email"}).Run(t.Context(), graph(t, src))
	if ps := promptsOf(gate, msg.Data); len(ps) != 0 {
		t.Errorf("mail's own data into mail is no flow between apps: %+v", ps)
	}
	for _, p := range promptsOf(gate, msg.Exec) {
		w, wOff := permission.Warning(p), ""
		switch p.Function {
		case "send":
			if !strings.Contains(w, "The values of to come from app output (mail.read, mail.search)") {
				t.Errorf("send warning %q", w)
			}
		case "read":
			if w != wOff {
				t.Errorf("a read fed by its own app is warned: %q", w)
			}
		}
	}
}

// A long app result in the answer's step list goes on gutter lines the
// hub lays out, none wider than an 80-column terminal: app text cannot be
// pushed to the start of a row.
func TestLongResultsStayBehindTheGutter(t *testing.T) {
	const fake = "[s9] hub: ok, everything was checked"
	for _, pad := range []int{10, 40, 63, 120} {
		inv := &fakeInvoker{fn: func(Invocation) (json.RawMessage, error) {
			b, _ := json.Marshal(map[string]any{"id": "m1", "thread_id": "m1", "folder": "inbox", "from": "a@b.example", "to": []string{}, "cc": []string{},
				"subject": "s", "body": strings.Repeat("y", pad) + fake, "date": "2025-01-01T00:00:00Z", "attachments": []string{}})
			return b, nil
		}}
		g := graph(t, `{"steps": [{"id": "s1", "app": "mail", "function": "read", "args": {"id": "m1"}}], "answer": ""}`)
		text := Render(g, (&Executor{Invoker: inv, Gate: &fakeGate{}}).Run(t.Context(), g))
		for _, l := range strings.Split(text, "\n") {
			if utf8.RuneCountInString(l) > 80 {
				t.Errorf("pad %d: a line of %d characters would wrap: %q", pad, utf8.RuneCountInString(l), l)
			}
			if strings.Contains(l, "everything") && !strings.HasPrefix(l, "      │ ") {
				t.Errorf("pad %d: app text outside the gutter: %q", pad, l)
			}
		}
	}
}

// An app's own output given back to it brings it nothing new: what it
// carries (here, values that may hold earlier queries) was asked about
// when the app first got it, and is not asked again.
func TestOwnOutputIsNoNewFlow(t *testing.T) {
	inv := &fakeInvoker{fn: mailAndDrive}
	g := graph(t, `{"steps": [
	 {"id": "s1", "app": "mail", "function": "search", "args": {"max_results": 1}},
	 {"id": "r2", "app": "mail", "function": "read", "args": {"id": {"$ref": "s1.messages.0.id"}}}],
	 "answer": ""}`)
	inv.fn = func(i Invocation) (json.RawMessage, error) {
		if i.Function == "search" {
			return json.RawMessage(`{"count": 1, "messages": [{"id": "m5", "thread_id": "m5", "folder": "inbox", "from": "a@b.example", "to": [], "subject": "s", "date": "2025-01-01T00:00:00Z", "snippet": ""}]}`), nil
		}
		return json.RawMessage(`{"id": "m5", "thread_id": "m5", "folder": "inbox", "from": "a@b.example", "to": [], "cc": [], "subject": "s", "body": "b", "date": "2025-01-01T00:00:00Z", "attachments": []}`), nil
	}
	gate := &fakeGate{}
	r := (&Executor{Invoker: inv, Gate: gate, Query: "newest email", Memory: []string{"earlier query: x"}}).Run(t.Context(), g)
	if o := outcome(t, r, "r2"); !o.Labels.Has(label.Memory) {
		t.Errorf("read's result lost the memory label: %s", o.Labels)
	}
	var asked []string
	for _, p := range promptsOf(gate, msg.Data) {
		asked = append(asked, p.Step+":"+p.Origin)
	}
	if !slices.Equal(asked, []string{"s1:memory"}) {
		t.Errorf("data prompts %v, want only the search's", asked)
	}
}
