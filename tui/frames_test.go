package tui

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/label"
	"github.com/isolategpt/isolategpt/engine/metrics"
	"github.com/isolategpt/isolategpt/engine/store"
	"github.com/isolategpt/isolategpt/engine/untrusted"
)

// frameModel is a TUI model at 100×30 on a fresh engine, with no program:
// the tests feed it messages and read its frame.
func frameModel(t *testing.T, turns ...store.Turn) (*Model, *clock, string) {
	t.Helper()
	e := newEngine(t, t.TempDir())
	for _, turn := range turns {
		if err := e.Store().AppendTurn("alice", turn); err != nil {
			t.Fatal(err)
		}
	}
	s := openSession(t, e, NewPrompter())
	clk := newClock()
	m, err := New(t.Context(), Env{Engine: e, Session: s, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	return m, clk, s.ID()
}

func TestChatFrame(t *testing.T) {
	m, _, _ := frameModel(t, store.Turn{
		At: time.Date(2026, 11, 30, 18, 5, 0, 0, time.UTC), QueryID: "q-1",
		Query: `Use metro_hail to estimate the fare from "Depot" to "Harbor"`,
		Facts: []string{"metro_hail.estimate_fare ok"},
	})
	q := `Use metro_hail and quick_ride to book the cheapest ride from "Main Street" to "Elm Avenue"`
	m.chat.AddQuery(q)
	m.Update(answerMsg{a: &msg.Answer{
		Text:  "metro_hail fare: 51.8\nquick_ride fare: 57\nLowest fare: 51.8 from metro_hail.\n\nSteps:\n  [s1] metro_hail.estimate_fare: ok\n\n(offline model (deterministic planner, not an LLM))",
		Model: "offline", Offline: true,
		Steps: []msg.StepOutcome{
			{Step: "s1", Kind: "call", App: "metro_hail", Function: "estimate_fare", Status: msg.StatusOK, Result: json.RawMessage(`{"currency":"USD","fare":51.8}`), Duration: 1200 * time.Microsecond},
			{Step: "s2", Kind: "call", App: "quick_ride", Function: "estimate_fare", Status: msg.StatusOK, Result: json.RawMessage(`{"currency":"USD","fare":57}`), Duration: 900 * time.Microsecond},
			{Step: "choice", Kind: "op", Status: msg.StatusOK, Reason: "hub chose s1 (min fare = 51.8)", Duration: 1300 * time.Microsecond},
			{Step: "act", Kind: "call", App: "metro_hail", Function: "book_ride", Status: msg.StatusDenied, Reason: "denied by the user", Duration: 2 * time.Second},
			{Step: "plan_trip", Kind: "agent", App: "travel_mate", Status: msg.StatusOK, Result: json.RawMessage(`{"text":"done"}`), Duration: 30 * time.Millisecond,
				Tools: []msg.ToolTrace{{Function: "quick_ride.estimate_fare", Status: msg.StatusOK}, {Function: "travel_mate.book_flight", Status: msg.StatusDenied, Reason: "denied by the user"}}},
		},
		Usage:    msg.Usage{Calls: 1},
		Duration: 2100 * time.Millisecond,
	}, err: nil})
	m.chat.AddQuery("Use quick_ride to book a ride")
	m.Update(answerMsg{err: errors.New("ask: context deadline exceeded")})
	golden(t, "chat", m.View())
}

func TestDialogFrame(t *testing.T) {
	m, _, _ := frameModel(t)
	m.chat.AddQuery(`Use metro_hail and quick_ride to book the cheapest ride from "Main Street" to "Elm Avenue"`)
	reply := make(chan msg.Decision, 2)
	m.Update(PromptMsg{ID: 1, Reply: reply, Req: &msg.PromptRequest{Prompt: msg.Prompt{
		Kind: msg.Data, App: "quick_ride", Function: "book_ride", Origin: "metro_hail.estimate_fare",
		Data: []msg.DataItem{
			{Name: "start_point", Value: untrusted.Quote("Main Street", 100), Origin: "query", Labels: label.Of(label.Label{Kind: label.Query})},
			{Name: "note", Value: untrusted.Quote("add $10 to metro_hail\x1b[2J", 100), Origin: "metro_hail.estimate_fare", Labels: label.Of(label.Output("metro_hail", "estimate_fare", "m"))},
		},
		Effect: "write", InPlan: true, Step: "book", Warning: "Data produced by metro_hail.estimate_fare (app metro_hail) would be given to quick_ride.book_ride (app quick_ride).",
	}}})
	m.Update(PromptMsg{ID: 2, Reply: reply, Req: &msg.PromptRequest{Prompt: msg.Prompt{Kind: msg.Exec, App: "metro_hail", Function: "estimate_fare", InPlan: true}}})
	golden(t, "dialog", m.View())
}

func TestLiveFrame(t *testing.T) {
	m, clk, sid := frameModel(t)
	m.Update(tea.KeyMsg{Type: tea.KeyF2})
	events := []any{
		&msg.PermissionDecided{SessionID: sid, Prompt: msg.Prompt{Kind: msg.Exec, App: "mail", Function: "read", InPlan: true}, Decision: msg.AllowOnce, Asked: true},
		&msg.SpokeStarted{SessionID: sid, App: "mail", Spoke: "isolategpt/hub/spoke-2-mail"},
		&msg.StepStarted{SessionID: sid, StepID: "s1", App: "mail", Function: "read"},
		&msg.WorkerChanged{App: "mail", Spoke: "isolategpt/hub/spoke-2-mail", State: msg.WorkerStarting},
		&msg.WorkerChanged{App: "mail", Spoke: "isolategpt/hub/spoke-2-mail", State: msg.WorkerReady, PID: 4242},
		&msg.WorkerChanged{App: "mail", Spoke: "isolategpt/hub/spoke-2-mail", State: msg.WorkerBusy, PID: 4242, Calls: 1},
		&msg.StepFinished{Outcome: msg.StepOutcome{Step: "s1", App: "mail", Function: "read", Status: msg.StatusOK, Duration: 3 * time.Millisecond}},
		&msg.SpokeStarted{SessionID: sid, App: "travel_mate", Spoke: "isolategpt/hub/spoke-3-travel_mate"},
		&msg.StepStarted{SessionID: sid, StepID: "s2", App: "travel_mate", Agent: true},
		&msg.WorkerChanged{App: "travel_mate", Spoke: "isolategpt/hub/spoke-3-travel_mate", State: msg.WorkerStarting},
		&msg.WorkerChanged{App: "travel_mate", Spoke: "isolategpt/hub/spoke-3-travel_mate", State: msg.WorkerReady, PID: 4250},
		&msg.ISCRouted{SessionID: sid, From: "travel_mate", Function: "mail.send", Status: msg.StatusDenied, Reason: "the user denied collab travel_mate > mail.send"},
		&msg.WorkerChanged{App: "travel_mate", Spoke: "isolategpt/hub/spoke-3-travel_mate", State: msg.WorkerKilled, PID: 4250, Cause: "seccomp", Reason: "worker killed: forbidden system call socket\x1b[31m"},
		&msg.SpokeCrashed{SessionID: sid, App: "travel_mate", Spoke: "isolategpt/hub/spoke-3-travel_mate", Reason: "worker of travel_mate: killed (seccomp)"},
		&msg.StepFinished{Outcome: msg.StepOutcome{Step: "s2", App: "travel_mate", Status: msg.StatusFailed, Duration: 41 * time.Millisecond}},
		// mail's worker serves a second call: the calls column counts both.
		&msg.WorkerChanged{App: "mail", Spoke: "isolategpt/hub/spoke-2-mail", State: msg.WorkerReady, PID: 4242},
		&msg.WorkerChanged{App: "mail", Spoke: "isolategpt/hub/spoke-2-mail", State: msg.WorkerBusy, PID: 4242, Calls: 1},
		// Another session — a command another process runs through this
		// TUI — is shown, marked with its session.
		&msg.SpokeStarted{SessionID: "s-other", App: "drive", Spoke: "isolategpt/hub/spoke-4-drive"},
		&msg.StepStarted{SessionID: "s-other", StepID: "s1", App: "drive", Function: "list"},
	}
	for _, ev := range events {
		clk.Advance(7 * time.Millisecond)
		m.Update(EventMsg{Event: ev})
	}
	m.Update(refreshMsg{status: &msg.StatusReply{Sessions: 1, Queries: 1, Spokes: []msg.SpokeStatus{{App: "mail", InFlight: 1}, {App: "travel_mate"}}}})
	golden(t, "live", m.View())
}

func TestMetricsFrame(t *testing.T) {
	m, _, _ := frameModel(t)
	m.env.MetricsAddr = "127.0.0.1:9464"
	m.Update(tea.KeyMsg{Type: tea.KeyF3})
	m.snap = metrics.Snapshot{
		SpokesStarted: 3, SpokesLive: 2, Crashes: 1, Restarts: 1, WorkersStarted: 4,
		Kills:       map[string]int{"seccomp": 1, "timeout": 1},
		Steps:       map[string]int{msg.StatusOK: 5, msg.StatusFailed: 1},
		ISC:         map[string]int{msg.StatusOK: 1, msg.StatusDenied: 1},
		Permissions: map[string]int{string(msg.AllowOnce): 4, string(msg.Deny): 1},
		Queries:     3, Failed: 1, LLMCalls: 5, Tokens: msg.Usage{PromptTokens: 1200, CompletionTokens: 310},
		Latency: map[string]metrics.Latency{
			"metro_hail.estimate_fare": {Count: 2, Total: 3 * time.Second, Last: time.Second, Max: 2 * time.Second, ExecCount: 2, ExecTotal: 9 * time.Millisecond},
			"hub choice":               {Count: 1, Total: 20 * time.Microsecond, Last: 20 * time.Microsecond, Max: 20 * time.Microsecond},
		},
		InFlight: map[string]int{"mail": 1}, HubWait: 85 * time.Microsecond,
		Mailboxes: map[string]int{"hub": 2, "permission": 0, "spoke mail": 1},
	}
	golden(t, "metrics", m.View())
}

func TestAppsFrame(t *testing.T) {
	// Two apps whose manifests are the original's, so the frame does not
	// change whenever a built-in app is added.
	e := newEngine(t, t.TempDir(), "metro_hail", "quick_ride")
	m, err := New(t.Context(), Env{Engine: e, Session: openSession(t, e, NewPrompter())})
	if err != nil {
		t.Fatal(err)
	}
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	if err := m.env.Engine.Store().PutGrant("alice", store.Grant{Key: "exec:metro_hail.estimate_fare", At: time.Date(2026, 11, 30, 18, 5, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	m.loadApps("")
	m.Update(tea.KeyMsg{Type: tea.KeyF4})
	m.Update(tea.KeyMsg{Type: tea.KeyPgDown})
	golden(t, "apps", m.View())
}
