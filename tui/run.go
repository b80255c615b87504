package tui

import (
	"context"
	"fmt"
	"io"

	"github.com/asynkron/protoactor-go/actor"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/actors/permission"
	"github.com/isolategpt/isolategpt/engine"
	"github.com/isolategpt/isolategpt/engine/metrics"
)

// Options configure Run.
type Options struct {
	Engine      *engine.Engine
	User        string
	Metrics     *metrics.Collector
	MetricsAddr string
	In          io.Reader
	Out         io.Writer
	// Remote, if set, brings work other isolategpt processes submit
	// through this one (it holds the data folder); the chat shows it.
	Remote <-chan Remote
}

// Remote is work another isolategpt process ran through this one: a
// command starting or ending (Command), or a query it asked and, once
// Done, its answer.
type Remote struct {
	PID     int
	Command string
	Query   string
	Answer  *msg.Answer
	Err     error
	Done    bool
	Code    int
}

// Run opens a session for the user and runs the TUI until the user quits.
// Every prompt still open when it ends is denied.
func Run(ctx context.Context, o Options) error {
	pr := NewPrompter()
	// The CLI's engine uses the permission manager's default timeout.
	pr.Timeout = permission.DefaultPromptTimeout
	defer pr.Close()
	s, err := o.Engine.OpenSession(ctx, o.User, pr)
	if err != nil {
		return fmt.Errorf("tui: %w", err)
	}
	defer s.Close()
	m, err := New(ctx, Env{Engine: o.Engine, Session: s, Metrics: o.Metrics, MetricsAddr: o.MetricsAddr})
	if err != nil {
		return err
	}
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithInput(o.In), tea.WithOutput(o.Out), tea.WithContext(ctx), tea.WithFilter(Filter))
	pr.Attach(p.Send)
	stop := Forward(o.Engine.System(), p.Send)
	defer stop()
	if o.Remote != nil {
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				select {
				case r := <-o.Remote:
					p.Send(r)
				case <-done:
					return
				}
			}
		}()
	}
	_, err = p.Run()
	// Prompts still arriving are denied at once, before the session closes.
	pr.Close()
	if err != nil {
		return fmt.Errorf("tui: %w", err)
	}
	return nil
}

// eventBuffer bounds the events waiting for the program.
const eventBuffer = 4096

// Forward sends the event stream's observer events to send (a program's
// Send) until stop is called. The subscriber runs on the publisher's
// goroutine — often an actor's — so it never blocks: when the program falls
// behind by eventBuffer events, further ones are dropped from the live view
// (the metrics collector still counts them).
func Forward(system *actor.ActorSystem, send func(tea.Msg)) (stop func()) {
	ch := make(chan any, eventBuffer)
	done := make(chan struct{})
	// Filter inside the handler: SubscribeWithPredicate races with Publish.
	sub := system.EventStream.Subscribe(func(ev any) {
		switch ev.(type) {
		case *msg.SpokeStarted, *msg.SpokeStopped, *msg.SpokeCrashed, *msg.WorkerChanged,
			*msg.StepStarted, *msg.StepFinished, *msg.ISCRouted, *msg.PermissionDecided, *msg.ToolProgress:
			select {
			case ch <- ev:
			default:
			}
		}
	})
	go func() {
		for {
			select {
			case ev := <-ch:
				send(EventMsg{Event: ev})
			case <-done:
				return
			}
		}
	}()
	return func() {
		system.EventStream.Unsubscribe(sub)
		close(done)
	}
}
