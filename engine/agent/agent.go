// Package agent is a spoke's agent loop: the spoke's own LLM context, which
// sees only its own app's manifest, its own memory and its own task, calls
// its app's functions as tools, and reaches other apps' functions only
// through the hub.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/engine/store"
	"github.com/isolategpt/isolategpt/specs"
)

// Limits of one agent loop.
const (
	DefaultMaxTurns = 8
	MaxAnswerBytes  = 4 << 10
	maxToolResult   = 16 << 10
)

// PeerSeparator joins app and function in the tool name of another app's
// function (app ids and function names never contain it).
const PeerSeparator = "__"

// Tools is how the loop acts: its own app's functions, other apps'
// functions through the hub, and approval for its own side effects.
type Tools interface {
	CallOwn(ctx context.Context, function string, args json.RawMessage) (json.RawMessage, error)
	CallPeer(ctx context.Context, function string, args json.RawMessage) (json.RawMessage, error)
	Approve(ctx context.Context, function string, args json.RawMessage) (bool, string, error)
}

// Loop runs one app's agent.
type Loop struct {
	Model    llms.Model
	App      *specs.Manifest
	Peers    []plan.AppEntry // other apps' functions: identifiers and typed schemas only
	MaxTurns int
}

// ErrNoAnswer is returned when the loop runs out of turns.
var ErrNoAnswer = errors.New("agent gave no answer")

// Run runs the loop on a task, with earlier memory entries of this app.
func (l *Loop) Run(ctx context.Context, task string, memory []store.Entry, tools Tools) (string, []msg.ToolTrace, error) {
	maxTurns := l.MaxTurns
	if maxTurns <= 0 {
		maxTurns = DefaultMaxTurns
	}
	msgs := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeSystem, l.systemPrompt())}
	for _, e := range memory {
		role := llms.ChatMessageTypeHuman
		if e.Role == "answer" {
			role = llms.ChatMessageTypeAI
		}
		msgs = append(msgs, llms.TextParts(role, e.Text))
	}
	msgs = append(msgs, llms.TextParts(llms.ChatMessageTypeHuman, task))
	toolDefs := l.tools()
	var trace []msg.ToolTrace
	for turn := 0; turn < maxTurns; turn++ {
		var opts []llms.CallOption
		if len(toolDefs) > 0 {
			opts = append(opts, llms.WithTools(toolDefs))
		}
		resp, err := l.Model.GenerateContent(ctx, msgs, opts...)
		if err != nil {
			return "", trace, fmt.Errorf("agent %s: model: %w", l.App.ID, err)
		}
		if len(resp.Choices) == 0 {
			return "", trace, fmt.Errorf("agent %s: model returned no choice", l.App.ID)
		}
		c := resp.Choices[0]
		if len(c.ToolCalls) == 0 {
			return capText(c.Content), trace, nil
		}
		// One tool call per AI message, each followed by its result: every
		// provider accepts this shape, and langchaingo's Anthropic encoder
		// keeps only the first part of a message.
		for _, tc := range c.ToolCalls {
			t, content := l.runTool(ctx, tc, tools)
			trace = append(trace, t)
			msgs = append(msgs,
				llms.MessageContent{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{tc}},
				llms.MessageContent{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{
					llms.ToolCallResponse{ToolCallID: tc.ID, Name: nameOf(tc), Content: content},
				}})
		}
	}
	return "", trace, fmt.Errorf("agent %s: %w after %d turns", l.App.ID, ErrNoAnswer, maxTurns)
}

func nameOf(tc llms.ToolCall) string {
	if tc.FunctionCall == nil {
		return ""
	}
	return tc.FunctionCall.Name
}

// runTool runs one tool call and returns its trace and the text the model
// sees. Failures become text for the model, never a crash of the loop.
func (l *Loop) runTool(ctx context.Context, tc llms.ToolCall, tools Tools) (msg.ToolTrace, string) {
	name := nameOf(tc)
	args := json.RawMessage("{}")
	if tc.FunctionCall != nil && strings.TrimSpace(tc.FunctionCall.Arguments) != "" {
		args = json.RawMessage(tc.FunctionCall.Arguments)
	}
	t := msg.ToolTrace{Function: name, Args: compactOr(args)}
	out, err := l.dispatch(ctx, name, args, tools)
	if err != nil {
		t.Status, t.Reason = msg.StatusFailed, err.Error()
		return t, "error: " + err.Error()
	}
	t.Status = msg.StatusOK
	if len(out) > maxToolResult {
		return t, cut(string(out), maxToolResult)
	}
	return t, string(out)
}

func (l *Loop) dispatch(ctx context.Context, name string, args json.RawMessage, tools Tools) (json.RawMessage, error) {
	if app, fn, ok := strings.Cut(name, PeerSeparator); ok {
		return tools.CallPeer(ctx, app+"."+fn, args)
	}
	f, ok := l.App.Function(name)
	if !ok {
		return nil, fmt.Errorf("%s has no function %q", l.App.ID, name)
	}
	v, err := f.Input.DecodeValidate(args, maxToolResult)
	if err != nil {
		return nil, fmt.Errorf("arguments for %s: %w", name, err)
	}
	canon, _ := json.Marshal(v)
	if f.Effect == "write" {
		ok, reason, err := tools.Approve(ctx, name, canon)
		if err != nil {
			return nil, fmt.Errorf("approval for %s: %w", name, err)
		}
		if !ok {
			// The hub's reason reads the same whether the user refused or
			// the request failed: the assistant learns only that it did
			// not run.
			return nil, fmt.Errorf("%s did not run: %s", name, reason)
		}
	}
	out, err := tools.CallOwn(ctx, name, canon)
	if err != nil {
		return nil, err
	}
	if _, err := f.Output.DecodeValidate(out, maxToolResult); err != nil {
		return nil, fmt.Errorf("result of %s does not fit its declared output: %w", name, err)
	}
	return out, nil
}

func (l *Loop) tools() []llms.Tool {
	var out []llms.Tool
	for _, f := range l.App.Functions {
		params, _ := json.Marshal(f.Input)
		out = append(out, llms.Tool{Type: "function", Function: &llms.FunctionDefinition{
			Name: f.Name, Description: f.Description, Parameters: json.RawMessage(params),
		}})
	}
	for _, p := range l.Peers {
		if p.App == l.App.ID {
			continue
		}
		for _, f := range p.Functions {
			out = append(out, llms.Tool{Type: "function", Function: &llms.FunctionDefinition{
				Name:        p.App + PeerSeparator + f.Name,
				Description: "Function " + f.Name + " of app " + p.App + ", reached through the hub with the user's permission.",
				Parameters:  f.Input,
			}})
		}
	}
	return out
}

func (l *Loop) systemPrompt() string {
	var b strings.Builder
	fmt.Fprintf(&b, "You are the assistant inside the app %q of isolategpt. You work only on the task the user message gives you.\n", l.App.ID)
	if l.App.Description != "" {
		fmt.Fprintf(&b, "The app's developer describes it as follows:\n%s\n", l.App.Description)
	}
	if l.App.Instructions != "" {
		fmt.Fprintf(&b, "The app's instructions:\n%s\n", l.App.Instructions)
	}
	if len(l.App.Functions) > 0 {
		b.WriteString("Call this app's functions as tools when the task needs them. ")
	}
	b.WriteString("Tools named app__function belong to other apps: the hub runs them only with the user's permission. ")
	b.WriteString("When you are done, answer in plain text.")
	return b.String()
}

func capText(s string) string { return cut(s, MaxAnswerBytes) }

// cut shortens s to at most max bytes, the ellipsis that marks the cut
// included, without splitting a rune.
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const ellipsis = "…"
	n := max - len(ellipsis)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + ellipsis
}

func compactOr(raw json.RawMessage) json.RawMessage {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		b, _ := json.Marshal(string(raw))
		return b
	}
	b, _ := json.Marshal(v)
	return b
}
