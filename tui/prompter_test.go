package tui

import (
	"context"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/isolategpt/isolategpt/actors/msg"
)

func TestPrompterFailsClosed(t *testing.T) {
	req := &msg.PromptRequest{Prompt: msg.Prompt{Kind: msg.Exec, App: "metro_hail", Function: "estimate_fare", InPlan: true}}
	tests := []struct {
		name string
		// setup returns the prompter and the context to prompt with.
		setup func(t *testing.T, sent chan tea.Msg) (*Prompter, context.Context)
		// expired: the program is told the prompt's dialog can close.
		expired bool
	}{
		{name: "no program attached", setup: func(t *testing.T, _ chan tea.Msg) (*Prompter, context.Context) {
			return NewPrompter(), t.Context()
		}},
		{name: "program ended", setup: func(t *testing.T, sent chan tea.Msg) (*Prompter, context.Context) {
			p := NewPrompter()
			p.Attach(func(m tea.Msg) { sent <- m })
			p.Close()
			return p, t.Context()
		}},
		{name: "no answer before the deadline", expired: true, setup: func(t *testing.T, sent chan tea.Msg) (*Prompter, context.Context) {
			p := NewPrompter()
			p.Attach(func(m tea.Msg) { sent <- m })
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
			t.Cleanup(cancel)
			return p, ctx
		}},
		{name: "the prompter's own timeout", expired: true, setup: func(t *testing.T, sent chan tea.Msg) (*Prompter, context.Context) {
			p := NewPrompter()
			p.Timeout = 20 * time.Millisecond
			p.Attach(func(m tea.Msg) { sent <- m })
			return p, t.Context()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sent := make(chan tea.Msg, 4)
			p, ctx := tc.setup(t, sent)
			d, err := p.Prompt(ctx, req)
			if err != nil || d != msg.Deny {
				t.Fatalf("Prompt = %s, %v; want deny", d, err)
			}
			if !tc.expired {
				return
			}
			deadline := time.After(5 * time.Second)
			var got PromptMsg
			for {
				select {
				case m := <-sent:
					switch m := m.(type) {
					case PromptMsg:
						got = m
					case PromptExpired:
						if m.ID != got.ID && got.ID != 0 {
							t.Fatalf("expired prompt %d, asked %d", m.ID, got.ID)
						}
						return
					}
				case <-deadline:
					t.Fatal("the program was not told the prompt expired")
				}
			}
		})
	}
}

// An answer from the dialog is what Prompt returns.
func TestPrompterReturnsTheDialogsAnswer(t *testing.T) {
	p := NewPrompter()
	p.Attach(func(m tea.Msg) {
		if pm, ok := m.(PromptMsg); ok {
			pm.Reply <- msg.AllowSession
		}
	})
	d, err := p.Prompt(t.Context(), &msg.PromptRequest{})
	if err != nil || d != msg.AllowSession {
		t.Fatalf("Prompt = %s, %v; want allow_session", d, err)
	}
}

// An expired prompt's dialog closes, the next one opens, and the chat says
// what happened.
func TestExpiredPromptClosesItsDialog(t *testing.T) {
	m, _, _ := frameModel(t)
	reply := make(chan msg.Decision, 2)
	m.Update(PromptMsg{ID: 1, Reply: reply, Req: &msg.PromptRequest{Prompt: msg.Prompt{Kind: msg.Exec, App: "metro_hail", Function: "estimate_fare", InPlan: true}}})
	m.Update(PromptMsg{ID: 2, Reply: reply, Req: &msg.PromptRequest{Prompt: msg.Prompt{Kind: msg.Exec, App: "quick_ride", Function: "estimate_fare", InPlan: true}}})
	m.Update(PromptExpired{ID: 1})
	if v := m.View(); !strings.Contains(v, "run quick_ride.estimate_fare") || strings.Contains(v, "more permission prompt") {
		t.Fatalf("after the first prompt expired:\n%s", v)
	}
	// An expiry that overtakes its prompt keeps that prompt from opening.
	m.Update(PromptExpired{ID: 3})
	m.Update(PromptMsg{ID: 3, Reply: reply, Req: &msg.PromptRequest{Prompt: msg.Prompt{Kind: msg.Exec, App: "mail", Function: "read", InPlan: true}}})
	m.denyAll()
	if len(reply) != 1 {
		t.Fatalf("%d answers sent, want 1 (the deny of prompt 2)", len(reply))
	}
	if v := m.View(); !strings.Contains(v, "no answer in time: denied run metro_hail.estimate_fare") {
		t.Fatalf("chat lacks the expiry note:\n%s", v)
	}
}
