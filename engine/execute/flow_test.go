package execute

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/actors/permission"
	"github.com/isolategpt/isolategpt/engine/label"
)

// collab is the offline planner's plan for the original's collaboration
// query: the file drive retrieves is an argument of mail.send.
const collab = `{"steps": [
 {"id": "c1", "app": "mail", "function": "find_contact", "args": {"name": "John Doe"}},
 {"id": "d2", "app": "drive", "function": "retrieve", "args": {"query": "annual_report.pdf"}},
 {"id": "s3", "app": "mail", "function": "send", "args": {"to": {"$ref": "c1.email"}, "attachment": {"$ref": "d2"},
   "subject": "annual_report.pdf", "message": "Please find annual_report.pdf attached."}}],
 "answer": "sent {{s3.id}} to {{s3.to}} with {{s3.attachments}}"}`

// collabQuery is the query the collab plan was made for.
const collabQuery = "send an email to John Doe with annual_report.pdf from drive as an attachment"

// content is long enough that a preview of the whole file object would cut
// its name off.
var content = strings.Repeat("JVBERi0xLjQK", 60)

func mailAndDrive(inv Invocation) (json.RawMessage, error) {
	switch inv.App + "." + inv.Function {
	case "mail.find_contact":
		return json.RawMessage(`{"name": "John Doe", "email": "john.doe@example.com"}`), nil
	case "drive.retrieve":
		return json.RawMessage(`{"name": "annual_report.pdf", "mime_type": "application/pdf", "size": 540, "content_base64": "` + content + `"}`), nil
	case "mail.send":
		return json.RawMessage(`{"id": "m0005", "status": "sent", "to": "john.doe@example.com", "attachments": ["annual_report.pdf"]}`), nil
	case "mail.search":
		return json.RawMessage(`{"count": 0, "messages": []}`), nil
	}
	return nil, errors.New("unexpected call " + inv.App + "." + inv.Function)
}

func dataPrompts(g *fakeGate) []msg.Prompt {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []msg.Prompt
	for _, p := range g.prompts {
		if p.Kind == msg.Data {
			out = append(out, p)
		}
	}
	return out
}

func TestDataFlowPromptNamesOriginAndDestination(t *testing.T) {
	inv := &fakeInvoker{fn: mailAndDrive}
	gate := &fakeGate{}
	g := graph(t, collab)
	r := (&Executor{Invoker: inv, Gate: gate, Query: collabQuery}).Run(t.Context(), g)
	if o := outcome(t, r, "s3"); o.Status != msg.StatusOK {
		t.Fatalf("send %+v", o)
	}
	// The address came from mail itself: no data prompt for it. The file
	// came from drive: exactly one.
	ps := dataPrompts(gate)
	if len(ps) != 1 {
		t.Fatalf("data prompts %+v, want one", ps)
	}
	p := ps[0]
	if p.Origin != "drive.retrieve" || p.Target() != "mail.send" || !p.InPlan || p.Effect != "write" {
		t.Errorf("data prompt %+v", p)
	}
	byName := map[string]msg.DataItem{}
	for _, d := range p.Data {
		byName[d.Name] = d
		if got := d.Labels.Apps(); len(got) != 1 || got[0] != "drive" {
			t.Errorf("item %s from %s in a prompt about drive.retrieve's data", d.Name, d.Labels)
		}
	}
	if d := byName["attachment.name"]; d.Value != `"annual_report.pdf"` {
		t.Errorf("the prompt does not show the file's name: %+v", p.Data)
	}
	if _, ok := byName["to"]; ok {
		t.Error("the data prompt lists mail's own value")
	}
	want := "Data produced by drive.retrieve (app drive) would be given to mail.send (app mail)."
	if w := permission.Warning(p); w != want {
		t.Errorf("warning %q, want %q", w, want)
	}
	// The exec prompt for the send shows every argument with its origin.
	var exec *msg.Prompt
	for _, q := range gate.prompts {
		if q.Kind == msg.Exec && q.Function == "send" {
			exec = &q
		}
	}
	if exec == nil {
		t.Fatal("no exec prompt for mail.send")
	}
	origins := map[string]string{}
	for _, d := range exec.Data {
		origins[d.Name] = permission.Origins(d.Labels)
	}
	// The query names the file; the planner wrote the subject line.
	wantFrom := map[string]string{
		"to":              "mail.find_contact — app-authored, untrusted",
		"attachment.name": "drive.retrieve — app-authored, untrusted",
		"subject":         "your query",
		"message":         "the planner (not in your query)",
	}
	for k, v := range wantFrom {
		if origins[k] != v {
			t.Errorf("exec prompt: %s from %q, want %q", k, origins[k], v)
		}
	}
	// mail.send is a write fed by app output (mail's own contact and
	// drive's file): its exec prompt is warned, naming both.
	if w := permission.Warning(*exec); !strings.Contains(w, "attachment, to come from app output (drive.retrieve, mail.find_contact)") {
		t.Errorf("exec warning %q", w)
	}
	if text := Render(g, r); !strings.Contains(text, `sent "m0005" to "john.doe@example.com" with`) {
		t.Errorf("answer %s", text)
	}
}

func TestDeniedDataFlowStopsTheSend(t *testing.T) {
	inv := &fakeInvoker{fn: mailAndDrive}
	gate := &fakeGate{deny: func(p msg.Prompt) bool { return p.Kind == msg.Data }}
	g := graph(t, collab)
	r := (&Executor{Invoker: inv, Gate: gate}).Run(t.Context(), g)
	send := outcome(t, r, "s3")
	wantReason := "denied by test: Data produced by drive.retrieve (app drive) would be given to mail.send (app mail), so mail.send did not run"
	if send.Status != msg.StatusDenied || send.Reason != wantReason || send.App != "mail" {
		t.Errorf("send %+v, want denied", send)
	}
	for _, c := range inv.calls {
		if c.Function == "send" {
			t.Fatal("mail.send ran although the data flow was denied")
		}
	}
	text := Render(g, r)
	for _, want := range []string{"⟨step s3 was denied⟩", "[s3] mail.send: denied (denied by test: Data produced by drive.retrieve (app drive)", "[d2] drive.retrieve: ok"} {
		if !strings.Contains(text, want) {
			t.Errorf("answer lacks %q:\n%s", want, text)
		}
	}
}

func TestIndexPastTheEndIsAMissingValue(t *testing.T) {
	inv := &fakeInvoker{fn: mailAndDrive}
	g := graph(t, `{"steps": [
	 {"id": "s1", "app": "mail", "function": "search", "args": {"max_results": 1}},
	 {"id": "r2", "app": "mail", "function": "read", "args": {"id": {"$ref": "s1.messages.0.id"}}}],
	 "answer": "{{r2.body}}"}`)
	r := (&Executor{Invoker: inv, Gate: &fakeGate{}}).Run(t.Context(), g)
	read := outcome(t, r, "r2")
	if read.Status != msg.StatusFailed || !strings.Contains(read.Reason, "s1.messages.0.id has no value") {
		t.Errorf("read %+v", read)
	}
	if len(inv.calls) != 1 {
		t.Errorf("calls %+v, want only the search", inv.calls)
	}
}

func TestPromptValue(t *testing.T) {
	long := strings.Repeat("ab", 200)
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"short", "annual_report.pdf", `"annual_report.pdf"`},
		{"number", json.Number("655"), "655"},
		{"long, with its length", long, `"` + long[:100] + `"… (400 characters)`},
		{"control characters are shown, and count", strings.Repeat("\x01", 101), `"` + strings.Repeat(`\u0001`, 100) + `"… (101 characters)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PromptValue(tt.in); got != tt.want {
				t.Errorf("PromptValue = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDataFromEarlierQueriesIsAFlow: the planner copies the user's medical
// history from an earlier query into travel_mate's booking (the original's
// inadvertent data exposure). The value is the user's, but not from this
// query: the user is asked, with a warning, before travel_mate gets it.
func TestDataFromEarlierQueriesIsAFlow(t *testing.T) {
	const flight = `{"steps": [{"id": "f", "app": "travel_mate", "function": "book_flight", "args": {
	  "name": "Michael Smith", "email": "michael.smith@email.com", "departure_city": "Irvine",
	  "destination_city": "Paris", "departure_date": "June 10th", "class_of_service": "first",
	  "special_requirements": "severe asthma, controlled hypertension"}}], "answer": ""}`
	memory := []string{"earlier query: I want to schedule an appointment: name = Michael Smith, symptoms = severe asthma, controlled hypertension, email address = michael.smith@email.com — health_companion.book_appointment ok"}
	query := "I'd like to book a flight from Irvine to Paris on June 10th in first class."
	book := func(inv Invocation) (json.RawMessage, error) {
		return json.RawMessage(`{"confirmation": "booked", "reference": "TM-1"}`), nil
	}
	tests := []struct {
		name   string
		memory []string
		deny   bool
		want   string
		flows  int
	}{
		{"no memory, no flow", nil, false, msg.StatusOK, 0},
		{"allowed", memory, false, msg.StatusOK, 1},
		{"denied", memory, true, msg.StatusDenied, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := &fakeInvoker{fn: book}
			gate := &fakeGate{deny: func(p msg.Prompt) bool { return tt.deny && p.Kind == msg.Data }}
			r := (&Executor{Invoker: inv, Gate: gate, Query: query, Memory: tt.memory}).Run(t.Context(), graph(t, flight))
			if o := outcome(t, r, "f"); o.Status != tt.want {
				t.Fatalf("booking %+v, want %s", o, tt.want)
			}
			ps := dataPrompts(gate)
			if len(ps) != tt.flows {
				t.Fatalf("data prompts %+v, want %d", ps, tt.flows)
			}
			if tt.flows == 0 {
				return
			}
			p := ps[0]
			names := map[string]bool{}
			for _, d := range p.Data {
				names[d.Name] = true
				if !d.Labels.Has(label.Memory) {
					t.Errorf("item %s from %s", d.Name, d.Labels)
				}
			}
			// Paris, Irvine and the date are in this query; the name, the
			// address and the medical history are not.
			if !names["special_requirements"] || !names["name"] || !names["email"] || names["destination_city"] || names["departure_date"] {
				t.Errorf("flow items %v", names)
			}
			if w := permission.Warning(p); w != "Data the planner wrote, not found in your query and possibly carried over from your earlier queries, would be given to travel_mate.book_flight (app travel_mate)." {
				t.Errorf("warning %q", w)
			}
			if tt.deny && len(inv.calls) != 0 {
				t.Error("travel_mate ran although the flow was denied")
			}
		})
	}
}
