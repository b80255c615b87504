package spoke

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/sandbox/wire"
	"github.com/isolategpt/isolategpt/specs"
	"github.com/isolategpt/isolategpt/specs/schema"
)

// maxSampleTokens bounds what one sampling request may spend.
const maxSampleTokens = 4096

// mcpCall prepares one call of an MCP app's function: the server's name
// for the tool, the arguments under the server's property names, and the
// context that says how to read the result and who answers the server
// during the call. Other apps' calls pass unchanged.
func (s *spoke) mcpCall(ctx context.Context, function string, args json.RawMessage) (context.Context, string, json.RawMessage, *specs.Function, error) {
	f, ok := s.d.App.Function(function)
	if s.d.App.MCP == nil || !ok {
		return ctx, function, args, nil, nil
	}
	if f.Input.Dialect() == schema.DialectJSONSchema && len(args) > 0 {
		v, err := schema.Decode(args, len(args))
		if err != nil {
			return nil, "", nil, nil, fmt.Errorf("arguments of %s: %w", function, err)
		}
		if v, err = f.Input.ToReal(v); err != nil {
			return nil, "", nil, nil, fmt.Errorf("arguments of %s: %w", function, err)
		}
		if args, err = json.Marshal(v); err != nil {
			return nil, "", nil, nil, err
		}
	}
	mode := f.Result
	if s.d.App.Schemas == schema.DialectSubset && mode == specs.ResultStructured {
		// A manifest written by hand before results were typed reads them
		// as it always has (structured content, one JSON object text, or
		// {"text"}); its output schema still decides what passes.
		mode = ""
	}
	ctx = wire.WithCall(ctx, wire.CallOptions{Result: mode, Host: &host{s: s, queryID: queryOf(ctx), function: function}})
	return ctx, f.Tool, args, f, nil
}

// mcpResult renames a structured result to the hub's identifiers.
func mcpResult(f *specs.Function, out json.RawMessage) (json.RawMessage, error) {
	if f == nil || f.Result != specs.ResultStructured || f.Output.Dialect() != schema.DialectJSONSchema {
		return out, nil
	}
	v, err := schema.Decode(out, len(out))
	if err != nil {
		return nil, fmt.Errorf("result of %s: %w", f.Name, err)
	}
	if v, err = f.Output.FromReal(v); err != nil {
		return nil, fmt.Errorf("result of %s: %w", f.Name, err)
	}
	return json.Marshal(v)
}

// host answers an MCP server during one call of this spoke's app.
type host struct {
	s        *spoke
	queryID  string
	function string
}

// Progress publishes the server's report for observers (the TUI).
func (h *host) Progress(p wire.Progress) {
	h.s.system.EventStream.Publish(&msg.ToolProgress{
		QueryID: h.queryID, App: h.s.d.App.ID, Function: h.function, Spoke: h.s.self.Id,
		Progress: p.Progress, Total: p.Total, Message: p.Message,
	})
}

// Sample runs a server's sampling request on this spoke's own model: the
// text is the app's, so it goes only to the context that already reads
// the app's words, never to the planner's. It is part of a call the user
// allowed, and its answer goes back only to the same app, so no new flow
// needs a prompt.
func (h *host) Sample(ctx context.Context, req *wire.SamplingRequest) (*wire.SamplingResult, error) {
	if h.s.d.Model == nil {
		return nil, fmt.Errorf("app %s has no model to sample", h.s.d.App.ID)
	}
	var msgs []llms.MessageContent
	if req.SystemPrompt != "" {
		msgs = append(msgs, llms.TextParts(llms.ChatMessageTypeSystem, req.SystemPrompt))
	}
	for _, m := range req.Messages {
		role := llms.ChatMessageTypeHuman
		if m.Role == "assistant" {
			role = llms.ChatMessageTypeAI
		}
		msgs = append(msgs, llms.TextParts(role, m.Text))
	}
	tokens := req.MaxTokens
	if tokens <= 0 || tokens > maxSampleTokens {
		tokens = maxSampleTokens
	}
	// No longer than a call of this app may take, whatever the server does.
	ctx, cancel := context.WithTimeout(ctx, h.s.d.CallTimeout)
	defer cancel()
	resp, err := h.s.d.Model.GenerateContent(ctx, msgs, llms.WithMaxTokens(tokens))
	if err != nil {
		return nil, fmt.Errorf("sample for %s: %w", h.s.d.App.ID, err)
	}
	if len(resp.Choices) == 0 {
		return nil, fmt.Errorf("sample for %s: the model gave no answer", h.s.d.App.ID)
	}
	h.s.d.Logger.Info("sampled for the server", "app", h.s.d.App.ID, "function", h.function, "query_id", h.queryID)
	return &wire.SamplingResult{Text: resp.Choices[0].Content, Model: "isolategpt:" + h.s.d.App.ID}, nil
}

// Elicit declines: a question an app asks the user mid-call would put
// app-authored text in front of the user with no flow the hub can name,
// so the hub answers "decline" and the server goes on without it.
func (h *host) Elicit(_ context.Context, req *wire.ElicitRequest) (*wire.ElicitResult, error) {
	h.s.d.Logger.Info("declined an elicitation", "app", h.s.d.App.ID, "function", h.function, "query_id", h.queryID, "message_bytes", len(strings.TrimSpace(req.Message)))
	return &wire.ElicitResult{Action: wire.ElicitDecline}, nil
}
