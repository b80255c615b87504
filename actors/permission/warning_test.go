package permission

import (
	"testing"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/label"
)

var (
	fromQuery   = label.Of(label.Label{Kind: label.Query})
	fromPlanner = label.Of(label.Label{Kind: label.Planner})
	fromSearch  = label.Of(label.Output("mail", "search", "s1"), label.Label{Kind: label.Query})
)

// TestWarning checks the hub's words for every kind of request, worked
// out from who chose it and the labels of its values: identifiers only.
func TestWarning(t *testing.T) {
	tests := []struct {
		name string
		p    msg.Prompt
		want string
	}{
		{"plan step fed by another app", msg.Prompt{Kind: msg.Data, Origin: "drive.retrieve", App: "mail", Function: "send", InPlan: true},
			"Data produced by drive.retrieve (app drive) would be given to mail.send (app mail)."},
		{"agent output", msg.Prompt{Kind: msg.Data, Origin: "travel_mate.*", App: "mail", Function: "send", InPlan: true},
			"Data produced by the app travel_mate's assistant would be given to mail.send (app mail)."},
		{"ISC result released to the assistant that asked", msg.Prompt{Kind: msg.Data, Origin: "drive.retrieve", App: "mail", ChosenBy: "mail"},
			"Data produced by drive.retrieve (app drive) would be given to the app mail's assistant, which may use it in any of mail's functions; mail asked for it, not your plan."},
		{"values that may carry earlier queries", msg.Prompt{Kind: msg.Data, Origin: "memory", App: "travel_mate", Function: "book_flight", InPlan: true},
			"Data the planner wrote, not found in your query and possibly carried over from your earlier queries, would be given to travel_mate.book_flight (app travel_mate)."},
		{"the user's own data in the plan: no warning", msg.Prompt{Kind: msg.Data, Origin: "query", App: "travel_mate", Function: "book_flight", InPlan: true}, ""},
		{"collab, even of a function the plan calls", msg.Prompt{Kind: msg.Collab, Requester: "ride_pal", ChosenBy: "ride_pal", App: "mail", Function: "search", Effect: "read"},
			"ride_pal asks to run mail.search; your plan did not ask for this call, and the arguments ride_pal chose may carry anything it has read."},
		{"collab to write", msg.Prompt{Kind: msg.Collab, Requester: "ride_pal", ChosenBy: "ride_pal", App: "mail", Function: "send", Effect: "write"},
			"ride_pal asks to run mail.send; your plan did not ask for this call, and the arguments ride_pal chose may carry anything it has read. The action changes something."},
		{"an assistant's own write", msg.Prompt{Kind: msg.Exec, App: "mail", Function: "send", Effect: "write", ChosenBy: "mail"},
			"mail's assistant chose to run mail.send and its arguments itself, after reading the app's data; your plan did not name this action."},
		{"exec outside the plan", msg.Prompt{Kind: msg.Exec, App: "mail", Function: "delete"}, "mail.delete is not part of the plan for your query."},
		{"write in the plan from the query", msg.Prompt{Kind: msg.Exec, App: "mail", Function: "send", Effect: "write", InPlan: true,
			Data: []msg.DataItem{{Name: "to", Labels: fromQuery}, {Name: "message", Labels: fromPlanner}}}, ""},
		{"write in the plan fed by the same app", msg.Prompt{Kind: msg.Exec, App: "mail", Function: "send", Effect: "write", InPlan: true,
			Data: []msg.DataItem{{Name: "to", Labels: fromSearch}, {Name: "subject", Labels: fromQuery}}},
			"The values of to come from app output (mail.search), not from your query: check them before this action runs."},
		{"read in the plan fed by the same app", msg.Prompt{Kind: msg.Exec, App: "mail", Function: "read", Effect: "read", InPlan: true,
			Data: []msg.DataItem{{Name: "id", Labels: fromSearch}}}, ""},
		{"pin names the app only", msg.Prompt{Kind: msg.Pin, App: "fs", Data: []msg.DataItem{{Name: "change 1, tool", Value: `"WARNING: all is fine"`}}},
			"The MCP server of fs now reports tools that differ from the ones pinned when it first ran, and it has been stopped. What changed is shown below as the server wrote it. Allow to pin the new tools and run it; deny to keep it stopped."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Warning(tt.p); got != tt.want {
				t.Errorf("Warning = %q\nwant      %q", got, tt.want)
			}
		})
	}
}

// Switched off, the app_data_writes rule lets a write fed by app output
// through unwarned: the same-app hijack (attacks.md 29) then reaches the
// user as an ordinary step of the plan.
func TestWriteRuleOff(t *testing.T) {
	p := msg.Prompt{Kind: msg.Exec, App: "mail", Function: "send", Effect: "write", InPlan: true, Data: []msg.DataItem{{Name: "to", Labels: fromSearch}}}
	if warning(p, true) == "" {
		t.Fatal("no warning with the rule on")
	}
	if w := warning(p, false); w != "" {
		t.Errorf("warning %q with the rule off", w)
	}
}

func TestOrigins(t *testing.T) {
	tests := []struct {
		ls   label.Set
		want string
	}{
		{fromQuery, "your query"},
		{fromPlanner, "the planner (not in your query)"},
		{fromPlanner.Add(label.Label{Kind: label.Memory}), "the planner, who also saw your earlier queries"},
		{fromSearch, "mail.search — app-authored, untrusted"},
		{fromSearch.Add(label.Output("drive", "", "a"), label.Label{Kind: label.Memory}), "drive.* + mail.search — app-authored, untrusted; may carry your earlier queries"},
		{nil, "unknown"},
	}
	for _, tt := range tests {
		if got := Origins(tt.ls); got != tt.want {
			t.Errorf("Origins(%s) = %q, want %q", tt.ls, got, tt.want)
		}
	}
}
