package tui

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine"
	"github.com/isolategpt/isolategpt/engine/store"
	"github.com/isolategpt/isolategpt/sandbox/inproc"
	"github.com/isolategpt/isolategpt/tui/dialog"
)

const fareQuery = `Use metro_hail to estimate the fare from "Depot" to "Harbor"`

// program runs the TUI over a session of e, as Run does, with a settable
// clock; prompts reach it through the prompter.
func program(t *testing.T, e *engine.Engine) (*teatest.TestModel, *clock) {
	t.Helper()
	return programSized(t, e, 100, 30)
}

// programSized is program in a terminal of w×h cells.
func programSized(t *testing.T, e *engine.Engine, w, h int) (*teatest.TestModel, *clock) {
	t.Helper()
	pr := NewPrompter()
	t.Cleanup(pr.Close)
	s := openSession(t, e, pr)
	clk := newClock()
	m, err := New(t.Context(), Env{Engine: e, Session: s, Now: clk.Now, Refresh: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h))
	pr.Attach(tm.Send)
	stop := Forward(e.System(), tm.Send)
	t.Cleanup(func() {
		_ = tm.Quit()
		tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
		stop()
	})
	return tm, clk
}

func ask(tm *teatest.TestModel, q string) {
	tm.Type(q)
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
}

func hasGrant(t *testing.T, e *engine.Engine, key string) bool {
	t.Helper()
	gs, err := e.Store().Grants("alice")
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(gs, func(g store.Grant) bool { return g.Key == key })
}

// Type a query, answer its dialog with each of the four choices, and check
// what the permission manager decided, what the answer says, and what was
// kept: a permanent grant only for "always allow", a session grant that
// spares the second prompt only for "allow session".
func TestDialogChoicesReachThePermissionManager(t *testing.T) {
	const key = "exec:metro_hail.estimate_fare|by=plan|in_plan=true|from=query|warned=false"
	tests := []struct {
		name      string
		moves     int // presses of ← from the focused Deny
		want      msg.Decision
		answer    string
		permanent bool
		again     bool // a second identical query is decided without asking
	}{
		{name: "allow once", moves: 3, want: msg.AllowOnce, answer: "metro_hail.estimate_fare: ok"},
		{name: "allow session", moves: 2, want: msg.AllowSession, answer: "metro_hail.estimate_fare: ok", again: true},
		{name: "always allow", moves: 1, want: msg.AllowAlways, answer: "metro_hail.estimate_fare: ok", permanent: true, again: true},
		{name: "deny", moves: 0, want: msg.Deny, answer: "metro_hail.estimate_fare: denied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, t.TempDir())
			decided := decisions(t, e)
			tm, clk := program(t, e)
			ask(tm, fareQuery)
			waitOutput(t, tm, "Permission needed: run metro_hail.estimate_fare")
			clk.Advance(time.Second)
			for range tc.moves {
				keys(tm, tea.KeyLeft)
			}
			keys(tm, tea.KeyEnter)
			d := nextDecision(t, decided)
			if d.Decision != tc.want || !d.Asked || d.Prompt.Key() != key {
				t.Fatalf("permission manager got %s (asked %v) for %s, want %s asked for %s", d.Decision, d.Asked, d.Prompt.Key(), tc.want, key)
			}
			if d.Decision.Allows() != tc.want.Allows() {
				t.Fatalf("decision %s allows %v", d.Decision, d.Decision.Allows())
			}
			waitOutput(t, tm, tc.answer)
			if got := hasGrant(t, e, key); got != tc.permanent {
				t.Errorf("permanent grant %s stored: %v, want %v", key, got, tc.permanent)
			}
			if !tc.again {
				return
			}
			ask(tm, fareQuery)
			d = nextDecision(t, decided)
			if d.Asked || !d.Decision.Allows() {
				t.Fatalf("second query: %s (asked %v), want allowed by the earlier grant without asking", d.Decision, d.Asked)
			}
		})
	}
}

// Keys pressed in the first moment after the dialog opens are swallowed:
// had the three ← and the Enter counted, the answer would be allow once
// (or deny); only the ← pressed after the grace period counts.
func TestGracePeriodSwallowsTyping(t *testing.T) {
	e := newEngine(t, t.TempDir())
	decided := decisions(t, e)
	tm, clk := program(t, e)
	ask(tm, fareQuery)
	waitOutput(t, tm, "Permission needed")
	keys(tm, tea.KeyLeft, tea.KeyLeft, tea.KeyLeft, tea.KeyEnter)
	tm.Type("yes")
	fence(tm)
	select {
	case d := <-decided:
		t.Fatalf("a key in the grace period decided %s", d.Decision)
	default:
	}
	clk.Advance(dialog.DefaultGrace)
	keys(tm, tea.KeyLeft, tea.KeyEnter)
	if d := nextDecision(t, decided); d.Decision != msg.AllowAlways {
		t.Fatalf("decision %s, want allow_always (one ← from deny after the grace period)", d.Decision)
	}
}

// Quitting with a dialog open denies it.
func TestQuitDenies(t *testing.T) {
	e := newEngine(t, t.TempDir())
	decided := decisions(t, e)
	tm, clk := program(t, e)
	ask(tm, fareQuery)
	waitOutput(t, tm, "Permission needed")
	clk.Advance(time.Second)
	keys(tm, tea.KeyLeft, tea.KeyLeft, tea.KeyLeft) // focus on allow once, not confirmed
	keys(tm, tea.KeyCtrlC)
	if d := nextDecision(t, decided); d.Decision != msg.Deny || !d.Asked {
		t.Fatalf("quitting gave %s (asked %v), want deny", d.Decision, d.Asked)
	}
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}

// A turn asked in one run is in the chat of the next run on the same data.
func TestHistoryAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	e1, err := engine.New(engine.Config{DataDir: dir, LLM: "offline", Launcher: inproc.Launcher{}})
	if err != nil {
		t.Fatal(err)
	}
	s1, err := e1.OpenSession(t.Context(), "alice", allowAll{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s1.Ask(t.Context(), fareQuery); err != nil {
		t.Fatal(err)
	}
	s1.Close()
	e1.Close()
	e2 := newEngine(t, dir)
	s2 := openSession(t, e2, NewPrompter())
	m, err := New(t.Context(), Env{Engine: e2, Session: s2})
	if err != nil {
		t.Fatal(err)
	}
	v := m.View()
	// The query, its answer (from the audit log) and the hub's facts.
	for _, want := range []string{fareQuery, `metro_hail estimate fare: currency "USD", fare`, "metro_hail.estimate_fare ok", "1 earlier turn(s)"} {
		if !strings.Contains(v, want) {
			t.Errorf("chat after restart lacks %q:\n%s", want, v)
		}
	}
}

// The apps screen revokes a permanent grant from the store.
func TestAppsScreenRevokesAGrant(t *testing.T) {
	e := newEngine(t, t.TempDir())
	const key = "exec:metro_hail.estimate_fare|by=plan|in_plan=true|from=query|warned=false"
	if err := e.Store().PutGrant("alice", store.Grant{Key: key}); err != nil {
		t.Fatal(err)
	}
	s := openSession(t, e, NewPrompter())
	m, err := New(t.Context(), Env{Engine: e, Session: s})
	if err != nil {
		t.Fatal(err)
	}
	m.Update(tea.KeyMsg{Type: tea.KeyF4})
	v := m.View()
	for _, want := range []string{key, "metro_hail", "estimate_fare(read)", "pinned "} {
		if !strings.Contains(v, want) {
			t.Fatalf("apps screen lacks %q:\n%s", want, v)
		}
	}
	_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("x")})
	if cmd == nil {
		t.Fatal("x on a grant did nothing")
	}
	m.Update(cmd())
	if hasGrant(t, e, key) {
		t.Fatal("grant still stored after revoking it")
	}
	if v := m.View(); strings.Contains(v, "  "+key+" ") || !strings.Contains(v, "revoked "+key) {
		t.Fatalf("apps screen after revoke:\n%s", v)
	}
}

// allowAll allows every prompt once.
type allowAll struct{}

func (allowAll) Prompt(context.Context, *msg.PromptRequest) (msg.Decision, error) {
	return msg.AllowOnce, nil
}
