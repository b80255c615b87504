package permission

import (
	"testing"

	"github.com/isolategpt/isolategpt/actors/msg"
)

// TestWarningNamesOriginAndDestination checks the hub's words for data
// flows: where the values come from and who would receive them, by
// identifiers only.
func TestWarningNamesOriginAndDestination(t *testing.T) {
	tests := []struct {
		name string
		p    msg.Prompt
		want string
	}{
		{"plan step fed by another app", msg.Prompt{Kind: msg.Data, Origin: "drive.retrieve", App: "mail", Function: "send", InPlan: true},
			"Data produced by drive.retrieve (app drive) would be given to mail.send (app mail)."},
		{"ISC result released to an agent", msg.Prompt{Kind: msg.Data, Origin: "drive.retrieve", App: "mail", InPlan: true},
			"Data produced by drive.retrieve (app drive) would be given to the app mail's assistant, which may use it in any of mail's functions."},
		{"agent output", msg.Prompt{Kind: msg.Data, Origin: "travel_mate.*", App: "mail", Function: "send", InPlan: true},
			"Data produced by the app travel_mate's assistant would be given to mail.send (app mail)."},
		{"outside the plan", msg.Prompt{Kind: msg.Data, Origin: "drive.retrieve", App: "mail", InPlan: false},
			"Data produced by drive.retrieve (app drive) would be given to the app mail's assistant, which may use it in any of mail's functions, outside the plan for your query."},
		{"the user's earlier data", msg.Prompt{Kind: msg.Data, Origin: "memory", App: "travel_mate", Function: "book_flight", InPlan: true},
			"Data from your earlier queries would be given to travel_mate.book_flight (app travel_mate)."},
		{"the user's own data in the plan: no warning", msg.Prompt{Kind: msg.Data, Origin: "user", App: "travel_mate", Function: "book_flight", InPlan: true}, ""},
		{"collab outside the plan", msg.Prompt{Kind: msg.Collab, Requester: "mail", App: "drive", Function: "retrieve"},
			"mail asks to use drive.retrieve, which is not part of the plan for your query."},
		{"exec outside the plan", msg.Prompt{Kind: msg.Exec, App: "mail", Function: "delete"}, "mail.delete is not part of the plan for your query."},
		{"exec in the plan", msg.Prompt{Kind: msg.Exec, App: "mail", Function: "send", InPlan: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Warning(tt.p); got != tt.want {
				t.Errorf("Warning = %q\nwant      %q", got, tt.want)
			}
		})
	}
	if got := Flow(msg.Prompt{Kind: msg.Data, Origin: "user", App: "travel_mate", Function: "book_flight"}); got != "Data from your query would be given to travel_mate.book_flight (app travel_mate)" {
		t.Errorf("Flow from the user = %q", got)
	}
}
