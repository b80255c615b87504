package tui

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/isolategpt/isolategpt/actors/msg"
)

// PromptMsg hands a permission prompt to the Bubble Tea program; the dialog
// answers on Reply (buffered, so answering never blocks).
type PromptMsg struct {
	ID    uint64
	Req   *msg.PromptRequest
	Reply chan<- msg.Decision
}

// PromptExpired tells the program that nobody waits for a prompt's answer
// any more (the permission manager timed out): its dialog closes.
type PromptExpired struct{ ID uint64 }

// Prompter is the TUI's frontend.Prompter: it sends each prompt to the
// program and blocks until the dialog answers. No program, no answer in
// time, or a program that has ended all mean deny.
type Prompter struct {
	// Timeout, when set, bounds each prompt: the permission manager stops
	// waiting after its own prompt timeout, and the dialog should close
	// then rather than linger.
	Timeout time.Duration

	mu   sync.Mutex
	send func(tea.Msg)
	done chan struct{}
	once sync.Once
	next atomic.Uint64
}

// NewPrompter returns a prompter that denies until Attach.
func NewPrompter() *Prompter { return &Prompter{done: make(chan struct{})} }

// Attach makes prompts go to send (a tea.Program's Send).
func (p *Prompter) Attach(send func(tea.Msg)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.send = send
}

// Close denies every prompt waiting now and every later one.
func (p *Prompter) Close() { p.once.Do(func() { close(p.done) }) }

// Prompt asks the user through the program's dialog.
func (p *Prompter) Prompt(ctx context.Context, r *msg.PromptRequest) (msg.Decision, error) {
	p.mu.Lock()
	send := p.send
	p.mu.Unlock()
	select {
	case <-p.done:
		return msg.Deny, nil
	default:
	}
	if send == nil {
		return msg.Deny, nil
	}
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	id := p.next.Add(1)
	reply := make(chan msg.Decision, 1)
	// Send blocks while the program is busy; it returns once the program
	// has ended, so this goroutine cannot outlive it.
	go send(PromptMsg{ID: id, Req: r, Reply: reply})
	select {
	case d := <-reply:
		return d, nil
	case <-ctx.Done():
		go send(PromptExpired{ID: id})
		return msg.Deny, nil
	case <-p.done:
		return msg.Deny, nil
	}
}
