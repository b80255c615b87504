package adversary

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"

	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/engine/planner"
	"github.com/isolategpt/isolategpt/evaluation/scenario"
)

// Script is a scenario's own benign model: a fixed plan for the isolated
// planner, and a fixed sequence of replies for the baseline's one context
// or for the isolated spokes' agent loops; whatever it has no script for
// goes to Inner.
type Script struct {
	Inner llms.Model
	// Plans answer the planner requests whose query holds their When, in
	// order; Plan answers every other planner request.
	Plans []scenario.BenignPlan
	Plan  string
	// Replies answer every other call: the nth reply answers the call that
	// has n tool results since the query (or the spoke's task).
	Replies []scenario.Reply
	seq     atomic.Int64
}

var _ llms.Model = (*Script)(nil)

// Call implements the single-prompt interface.
func (s *Script) Call(ctx context.Context, prompt string, options ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, s, prompt, options...)
}

// GenerateContent answers one call.
func (s *Script) GenerateContent(ctx context.Context, messages []llms.MessageContent, options ...llms.CallOption) (*llms.ContentResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if req, ok := plannerRequest(messages); ok {
		for _, p := range s.Plans {
			if strings.Contains(req.Query, p.When) {
				return text(string(p.Plan)), nil
			}
		}
		if s.Plan != "" {
			return text(s.Plan), nil
		}
		return s.Inner.GenerateContent(ctx, messages, options...)
	}
	if len(s.Replies) > 0 {
		var opts llms.CallOptions
		for _, o := range options {
			o(&opts)
		}
		last := -1
		for i, m := range messages {
			if m.Role == llms.ChatMessageTypeHuman {
				last = i
			}
		}
		return Answer(nextReply(s.Replies, messages[last+1:]), messages, opts.Tools, &s.seq), nil
	}
	return s.Inner.GenerateContent(ctx, messages, options...)
}

// plannerRequest tells the hub's planner call (its first user message is
// the planner's JSON request) from a spoke's agent loop and from the other
// calls the hub makes, and returns the request.
func plannerRequest(messages []llms.MessageContent) (*planner.Request, bool) {
	for _, m := range messages {
		if m.Role != llms.ChatMessageTypeHuman {
			continue
		}
		var req planner.Request
		if json.Unmarshal([]byte(textOf(m)), &req) == nil && req.Catalog != nil {
			return &req, true
		}
		return nil, false
	}
	return nil, false
}

func textOf(m llms.MessageContent) string {
	var b strings.Builder
	for _, p := range m.Parts {
		if t, ok := p.(llms.TextContent); ok {
			b.WriteString(t.Text)
		}
	}
	return b.String()
}
