package batch

import (
	"context"
	"errors"

	"github.com/isolategpt/isolategpt/actors/frontend"
	"github.com/isolategpt/isolategpt/actors/msg"
)

// ErrInterrupted is the cause of a prompt's context ending because the
// user interrupted the work (a signal, Ctrl+C): the prompt is denied, and
// a prompter can say why.
var ErrInterrupted = errors.New("interrupted")

// Interruptible wraps p so that, once stop is closed, the prompt open then
// and every later one is denied: the work in flight finishes without
// anything more being allowed. The denial is an answer like any other, so
// the permission manager audits it. p's frontend.Automatic, if it has one,
// is kept (whether a person or a rule answers is unchanged).
func Interruptible(p frontend.Prompter, stop <-chan struct{}) frontend.Prompter {
	i := interruptible{p: p, stop: stop}
	if a, ok := p.(frontend.Automatic); ok {
		return automaticInterruptible{i, a}
	}
	return i
}

type interruptible struct {
	p    frontend.Prompter
	stop <-chan struct{}
}

func (i interruptible) Prompt(ctx context.Context, r *msg.PromptRequest) (msg.Decision, error) {
	select {
	case <-i.stop:
		return msg.Deny, nil
	default:
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-i.stop:
			cancel(ErrInterrupted)
		case <-ctx.Done():
		}
	}()
	d, err := i.p.Prompt(ctx, r)
	if errors.Is(context.Cause(ctx), ErrInterrupted) {
		// Whatever the prompter made of its context ending: denied.
		return msg.Deny, nil
	}
	return d, err
}

type automaticInterruptible struct {
	interruptible
	a frontend.Automatic
}

func (a automaticInterruptible) AnsweredBy(p msg.Prompt) msg.Answerer { return a.a.AnsweredBy(p) }
