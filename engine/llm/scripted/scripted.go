// Package scripted is an llms.Model that answers from rules written in a
// test, so agent loops can be tested without a network or a real model.
//
// A rule matches a request and produces a reply; the first rule that matches
// answers. A typical agent test calls a tool first and answers once the tool
// result is in the conversation:
//
//	m := scripted.New(
//		scripted.Rule{Name: "answer", Match: scripted.HasToolResult, Reply: scripted.Text("done")},
//		scripted.Rule{Name: "call", Match: scripted.HasTool("estimate_fare"),
//			Reply: func(scripted.Request) scripted.Reply {
//				return scripted.Reply{ToolCalls: []llms.ToolCall{scripted.Call("estimate_fare", args)}}
//			}},
//	)
package scripted

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/tmc/langchaingo/llms"
)

// Request is what a rule sees of one GenerateContent call.
type Request struct {
	Messages []llms.MessageContent
	Tools    []llms.Tool
	// Text is every TextContent and ToolCallResponse content of Messages,
	// joined with newlines, for rules that match on words.
	Text string
}

// Reply is a rule's answer. A non-nil Err makes GenerateContent fail with it.
type Reply struct {
	Text             string
	ToolCalls        []llms.ToolCall
	Err              error
	PromptTokens     int
	CompletionTokens int
}

// Rule answers the requests it matches. A nil Match matches every request; a
// nil Reply answers with an empty text.
type Rule struct {
	Name  string
	Match func(Request) bool
	Reply func(Request) Reply
}

// Model is a scripted llms.Model. It is safe for concurrent use as long as
// the rules' functions are.
type Model struct {
	rules []Rule

	mu    sync.Mutex
	calls []Request
}

var _ llms.Model = (*Model)(nil)

// New returns a Model that tries rules in order.
func New(rules ...Rule) *Model {
	return &Model{rules: append([]Rule(nil), rules...)}
}

// Call implements the single-prompt interface through GenerateContent.
func (m *Model) Call(ctx context.Context, prompt string, options ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, m, prompt, options...)
}

// GenerateContent records the request and answers with the first matching
// rule's reply. A cancelled context fails without being recorded.
func (m *Model) GenerateContent(ctx context.Context, messages []llms.MessageContent, options ...llms.CallOption) (*llms.ContentResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("scripted: %w", err)
	}
	var opts llms.CallOptions
	for _, o := range options {
		o(&opts)
	}
	req := Request{
		Messages: copyMessages(messages),
		Tools:    append([]llms.Tool(nil), opts.Tools...),
		Text:     text(messages),
	}
	m.mu.Lock()
	m.calls = append(m.calls, req)
	m.mu.Unlock()

	for _, r := range m.rules {
		if r.Match != nil && !r.Match(req) {
			continue
		}
		var reply Reply
		if r.Reply != nil {
			reply = r.Reply(req)
		}
		if reply.Err != nil {
			return nil, fmt.Errorf("scripted: rule %q: %w", r.Name, reply.Err)
		}
		return response(reply), nil
	}
	return nil, fmt.Errorf("scripted: %w for request %q", ErrNoRule, head(req.Text, 200))
}

// Calls returns a copy of every request seen, oldest first.
func (m *Model) Calls() []Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Request(nil), m.calls...)
}

// CallCount returns how many requests the model has seen.
func (m *Model) CallCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.calls)
}

func response(r Reply) *llms.ContentResponse {
	c := &llms.ContentChoice{
		Content:    r.Text,
		StopReason: "stop",
		ToolCalls:  append([]llms.ToolCall(nil), r.ToolCalls...),
		GenerationInfo: map[string]any{
			"PromptTokens":     r.PromptTokens,
			"CompletionTokens": r.CompletionTokens,
		},
	}
	if len(c.ToolCalls) > 0 {
		c.StopReason = "tool_calls"
		c.FuncCall = c.ToolCalls[0].FunctionCall
	}
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{c}}
}

// copyMessages copies the message and part slices, so a caller that reuses
// its conversation's backing array cannot rewrite recorded history.
func copyMessages(msgs []llms.MessageContent) []llms.MessageContent {
	out := make([]llms.MessageContent, len(msgs))
	for i, m := range msgs {
		out[i] = llms.MessageContent{Role: m.Role, Parts: append([]llms.ContentPart(nil), m.Parts...)}
	}
	return out
}

func text(msgs []llms.MessageContent) string {
	var parts []string
	for _, m := range msgs {
		for _, p := range m.Parts {
			switch p := p.(type) {
			case llms.TextContent:
				parts = append(parts, p.Text)
			case llms.ToolCallResponse:
				parts = append(parts, p.Content)
			}
		}
	}
	return strings.Join(parts, "\n")
}

// head returns the first n runes of s.
func head(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}
