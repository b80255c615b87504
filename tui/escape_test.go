package tui

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/store"
)

// App-authored text — results, reasons, worker errors, earlier queries —
// cannot send a control sequence to the terminal from any screen. (Tests
// run without colour, so a frame has no escape byte at all unless one got
// through.)
func TestNoEscapeReachesTheTerminal(t *testing.T) {
	const evil = "\x1b[2J\x1b]0;owned\a\u202e"
	m, _, sid := frameModel(t, store.Turn{At: time.Unix(0, 0), Query: "earlier" + evil, Facts: []string{"x" + evil}})
	m.chat.AddQuery("q")
	m.Update(answerMsg{a: &msg.Answer{
		Text: "fare " + evil,
		Steps: []msg.StepOutcome{
			{Step: "s1", App: "mail", Function: "read", Status: msg.StatusOK, Result: json.RawMessage(`{"body":"\u001b[2J"}`)},
			{Step: "s2", App: "mail", Function: "send", Status: msg.StatusFailed, Reason: "mail reported " + evil},
		},
	}})
	m.Update(EventMsg{Event: &msg.SpokeStarted{SessionID: sid, App: "mail", Spoke: "sp"}})
	m.Update(EventMsg{Event: &msg.WorkerChanged{App: "mail", Spoke: "sp", State: msg.WorkerKilled, Reason: evil}})
	m.Update(EventMsg{Event: &msg.ISCRouted{SessionID: sid, From: "mail", Function: "drive.save", Status: msg.StatusFailed, Reason: evil}})
	check := func(what string) {
		t.Helper()
		v := m.View()
		for _, bad := range []string{"\x1b", "\a", "\u202e"} {
			if strings.Contains(v, bad) {
				t.Fatalf("%s passes %q to the terminal:\n%q", what, bad, v)
			}
		}
	}
	check("chat")
	m.Update(PromptMsg{ID: 1, Reply: make(chan msg.Decision, 1), Req: &msg.PromptRequest{Prompt: msg.Prompt{
		Kind: msg.Data, App: "drive", Function: "save", Origin: "mail.read", Task: evil,
		Data: []msg.DataItem{{Name: "body", Value: evil, Origin: "mail.read"}},
	}}})
	check("dialog")
	m.denyAll()
	for _, screen := range []tea.KeyType{tea.KeyF2, tea.KeyF3, tea.KeyF4} {
		m.Update(tea.KeyMsg{Type: screen})
		check(tea.Key{Type: screen}.String())
	}
}
