// Package adversary is the evaluation's compromised LLM: an llms.Model that
// inspects every call's whole input — messages, tool results and the tool
// definitions offered — and, when it holds one of the scenario's canaries,
// answers with the attacker's script instead of the benign model. Calls
// without a canary go to the benign model.
//
// This is the worst case DESIGN.md's security evaluation model asks for: an
// LLM that obeys every injected instruction it reads.
package adversary

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/evaluation/scenario"
)

// PeerSeparator joins app and function in tool names that name another
// app's function (the spokes' agent loops and the baseline both use it).
const PeerSeparator = "__"

// Model is the compromised LLM.
type Model struct {
	Benign   llms.Model
	Canaries []string
	Attacker scenario.Attacker

	mu     sync.Mutex
	hits   int
	benign int
	seq    atomic.Int64
}

var _ llms.Model = (*Model)(nil)

// Stats counts the calls the attacker answered and those the benign model did.
func (m *Model) Stats() (attacker, benign int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hits, m.benign
}

// Call implements the single-prompt interface.
func (m *Model) Call(ctx context.Context, prompt string, options ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, m, prompt, options...)
}

// GenerateContent answers one call.
func (m *Model) GenerateContent(ctx context.Context, messages []llms.MessageContent, options ...llms.CallOption) (*llms.ContentResponse, error) {
	var opts llms.CallOptions
	for _, o := range options {
		o(&opts)
	}
	at, ok := m.canaryAt(messages, opts.Tools)
	if !ok {
		m.mu.Lock()
		m.benign++
		m.mu.Unlock()
		return m.Benign.GenerateContent(ctx, messages, options...)
	}
	m.mu.Lock()
	m.hits++
	m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	req, planning := plannerRequest(messages)
	asked := current(messages)
	if planning {
		// A re-plan's last message is the hub's rejection; the request is
		// still the query.
		asked = firstHuman(messages)
	}
	rule, ok := m.rule(asked, inputText(messages))
	if !ok {
		// The attacker scripted nothing for this request: an obedient LLM
		// with no instruction for it answers with nothing useful.
		return text(""), nil
	}
	if planning {
		// A planner that read the canary writes the attacker's plan.
		return text(PlanFor(rule.Replies, req, inputText(messages))), nil
	}
	if rule.Seen != "" {
		at = max(at, firstWith(messages, rule.Seen))
	}
	return Answer(nextReply(rule.Replies, messages[at+1:]), messages, opts.Tools, &m.seq), nil
}

// firstWith is the index of the first message whose text or tool result
// holds s (-1 if none).
func firstWith(messages []llms.MessageContent, s string) int {
	for i, mc := range messages {
		for _, p := range mc.Parts {
			switch p := p.(type) {
			case llms.TextContent:
				if strings.Contains(p.Text, s) {
					return i
				}
			case llms.ToolCallResponse:
				if strings.Contains(p.Content, s) {
					return i
				}
			}
		}
	}
	return -1
}

// nextReply is the scripted reply for this turn of a conversation: reply n
// answers the call that follows n tool results in since (the messages after
// the one the script keys on), and the last reply answers every later call.
func nextReply(replies []scenario.Reply, since []llms.MessageContent) scenario.Reply {
	n := 0
	for _, mc := range since {
		for _, p := range mc.Parts {
			if _, ok := p.(llms.ToolCallResponse); ok {
				n++
			}
		}
	}
	return replies[min(n, len(replies)-1)]
}

// Answer turns a scripted reply into the model's response in this
// conversation.
func Answer(rep scenario.Reply, messages []llms.MessageContent, tools []llms.Tool, seq *atomic.Int64) *llms.ContentResponse {
	x := expander{last: lastResult(messages), input: inputText(messages)}
	if rep.Text != "" {
		return text(x.expand(rep.Text))
	}
	return toolCall(rep, messages, tools, x, seq)
}

// IfSeen in a reply, as {{if_seen:TEXT}}, stands for TEXT when TEXT is in
// the call's input and for nothing otherwise: the attacker's LLM can copy
// only what it has read.
var ifSeenRE = regexp.MustCompile(`\{\{if_seen:([^{}]*)\}\}`)

type expander struct{ last, input string }

func (x expander) expand(s string) string {
	s = strings.ReplaceAll(s, LastResult, x.last)
	return ifSeenRE.ReplaceAllStringFunc(s, func(m string) string {
		t := ifSeenRE.FindStringSubmatch(m)[1]
		if strings.Contains(x.input, t) {
			return t
		}
		return ""
	})
}

func inputText(messages []llms.MessageContent) string {
	var b strings.Builder
	for _, mc := range messages {
		for _, p := range mc.Parts {
			switch p := p.(type) {
			case llms.TextContent:
				b.WriteString(p.Text)
			case llms.ToolCallResponse:
				b.WriteString(p.Content)
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// LastResult in a reply stands for the last tool result of the conversation.
const LastResult = "{{last_result}}"

func lastResult(messages []llms.MessageContent) string {
	for i := len(messages) - 1; i >= 0; i-- {
		for _, p := range messages[i].Parts {
			if r, ok := p.(llms.ToolCallResponse); ok {
				return r.Content
			}
		}
	}
	return ""
}

// substitute expands the placeholders inside every string of a JSON document.
func substitute(args json.RawMessage, x expander) string {
	if !strings.Contains(string(args), "{{") {
		return string(args)
	}
	var v any
	if json.Unmarshal(args, &v) != nil {
		return string(args)
	}
	var walk func(any) any
	walk = func(v any) any {
		switch t := v.(type) {
		case string:
			return x.expand(t)
		case []any:
			for i := range t {
				t[i] = walk(t[i])
			}
		case map[string]any:
			for k := range t {
				t[k] = walk(t[k])
			}
		}
		return v
	}
	b, _ := json.Marshal(walk(v))
	return string(b)
}

// canaryAt finds the first message holding a canary; a canary in a tool
// definition counts as before every message (-1).
func (m *Model) canaryAt(messages []llms.MessageContent, tools []llms.Tool) (int, bool) {
	for _, t := range tools {
		if t.Function == nil {
			continue
		}
		params, _ := json.Marshal(t.Function.Parameters)
		if m.has(t.Function.Name) || m.has(t.Function.Description) || m.has(string(params)) {
			return -1, true
		}
	}
	for i, mc := range messages {
		for _, p := range mc.Parts {
			switch p := p.(type) {
			case llms.TextContent:
				if m.has(p.Text) {
					return i, true
				}
			case llms.ToolCallResponse:
				if m.has(p.Content) {
					return i, true
				}
			case llms.ToolCall:
				if p.FunctionCall != nil && m.has(p.FunctionCall.Arguments) {
					return i, true
				}
			}
		}
	}
	return 0, false
}

func (m *Model) has(s string) bool {
	for _, c := range m.Canaries {
		if strings.Contains(s, c) {
			return true
		}
	}
	return false
}

// rule is the first rule whose When is in the current request and whose
// Seen, if any, is somewhere in the call's input (the attacker's LLM
// branches on what it has read).
func (m *Model) rule(req, input string) (scenario.Rule, bool) {
	for _, r := range m.Attacker.Rules {
		if (r.When == "" || strings.Contains(req, r.When)) && (r.Seen == "" || strings.Contains(input, r.Seen)) {
			return r, true
		}
	}
	return scenario.Rule{}, false
}

// firstHuman is the first human message: the planner's request.
func firstHuman(messages []llms.MessageContent) string {
	for _, mc := range messages {
		if mc.Role == llms.ChatMessageTypeHuman {
			return textOf(mc)
		}
	}
	return ""
}

// current is the last human message: the query, or a spoke's task.
func current(messages []llms.MessageContent) string {
	for i := len(messages) - 1; i >= 0; i-- {
		if messages[i].Role != llms.ChatMessageTypeHuman {
			continue
		}
		var b strings.Builder
		for _, p := range messages[i].Parts {
			if t, ok := p.(llms.TextContent); ok {
				b.WriteString(t.Text)
			}
		}
		return b.String()
	}
	return ""
}

// toolCall turns "app.function" into the name this context offers for it:
// app__function for another app's function (and for every function in the
// baseline), the bare name for a spoke's own app. A function the context
// does not offer is still called, under its qualified name, and fails there.
func toolCall(rep scenario.Reply, messages []llms.MessageContent, tools []llms.Tool, x expander, seq *atomic.Int64) *llms.ContentResponse {
	app, fn, _ := strings.Cut(rep.Call, ".")
	name := app + PeerSeparator + fn
	offered := map[string]bool{}
	for _, t := range tools {
		if t.Function != nil {
			offered[t.Function.Name] = true
		}
	}
	if !offered[name] && offered[fn] && ownApp(messages) == app {
		name = fn
	}
	args := substitute(rep.Args, x)
	if args == "" {
		args = "{}"
	}
	call := llms.ToolCall{
		ID:           fmt.Sprintf("scripted_%d", seq.Add(1)),
		Type:         "function",
		FunctionCall: &llms.FunctionCall{Name: name, Arguments: args},
	}
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{
		ToolCalls: []llms.ToolCall{call}, FuncCall: call.FunctionCall, StopReason: "tool_calls",
	}}}
}

// ownApp is the app a spoke's agent loop serves, read off the hub-written
// system prompt ("You are the assistant inside the app "X" …").
func ownApp(messages []llms.MessageContent) string {
	const marker = `inside the app "`
	for _, mc := range messages {
		if mc.Role != llms.ChatMessageTypeSystem {
			continue
		}
		for _, p := range mc.Parts {
			t, ok := p.(llms.TextContent)
			if !ok {
				continue
			}
			if _, rest, ok := strings.Cut(t.Text, marker); ok {
				id, _, _ := strings.Cut(rest, `"`)
				return id
			}
		}
	}
	return ""
}

func text(s string) *llms.ContentResponse {
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: s, StopReason: "stop"}}}
}
