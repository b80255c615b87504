// Package frontend is the actor that stands for a session's front end (a
// terminal, a batch policy, the TUI): it receives permission prompts as
// messages and answers them through a Prompter.
package frontend

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/isolategpt/isolategpt/actors/msg"
)

// Prompter asks the user. It may block; it must honour ctx.
type Prompter interface {
	Prompt(ctx context.Context, r *msg.PromptRequest) (msg.Decision, error)
}

// Automatic is implemented by prompters that answer without a person
// looking at the prompt — --yes, a batch policy — to say, prompt by
// prompt, whether a rule that names this kind of prompt decided
// (msg.ByRule) or a blanket default did (msg.ByDefault). A prompter that
// does not implement it is a person (the terminal, the TUI, the
// evaluation's simulated users). A changed tools/list is pinned only by a
// person or a rule.
type Automatic interface {
	AnsweredBy(p msg.Prompt) msg.Answerer
}

// PrompterFunc adapts a function to Prompter.
type PrompterFunc func(ctx context.Context, r *msg.PromptRequest) (msg.Decision, error)

// Prompt calls f.
func (f PrompterFunc) Prompt(ctx context.Context, r *msg.PromptRequest) (msg.Decision, error) {
	return f(ctx, r)
}

// Props returns the props of a front-end actor that answers with p.
func Props(p Prompter, logger *slog.Logger) *actor.Props {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return actor.PropsFromProducer(func() actor.Actor { return &frontEnd{p: p, logger: logger} })
}

type frontEnd struct {
	p      Prompter
	logger *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
}

func (f *frontEnd) Receive(ctx actor.Context) {
	switch r := ctx.Message().(type) {
	case *actor.Started:
		f.ctx, f.cancel = context.WithCancel(context.Background())
	case *actor.Stopping, *actor.Restarting:
		f.cancel()
	case *msg.PromptRequest:
		sender, system, pctx := ctx.Sender(), ctx.ActorSystem(), f.ctx
		// The prompt may take as long as the user does: answer from a
		// goroutine so this actor keeps receiving.
		go func() {
			d := f.ask(pctx, r)
			by := msg.ByPerson
			if a, ok := f.p.(Automatic); ok {
				by = a.AnsweredBy(r.Prompt)
			}
			if sender != nil {
				system.Root.Send(sender, &msg.PromptReply{Decision: d, By: by})
			}
		}()
	}
}

// ask runs the prompter; anything but a valid decision is a denial.
func (f *frontEnd) ask(ctx context.Context, r *msg.PromptRequest) (d msg.Decision) {
	defer func() {
		if v := recover(); v != nil {
			f.logger.Error("prompter panicked", "query_id", r.QueryID, "panic", fmt.Sprint(v))
			d = msg.Deny
		}
	}()
	d, err := f.p.Prompt(ctx, r)
	if err != nil {
		f.logger.Warn("prompt failed", "query_id", r.QueryID, "err", err)
		return msg.Deny
	}
	if _, perr := msg.ParseDecision(string(d)); perr != nil {
		return msg.Deny
	}
	return d
}
