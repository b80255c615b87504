package ollama

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/tmc/langchaingo/llms"
)

// The JSON shapes of POST /api/chat, as far as this adapter uses them.
// Unknown fields in answers are ignored, so newer servers keep working.

type chatRequest struct {
	Model    string         `json:"model"`
	Messages []wireMessage  `json:"messages"`
	Tools    []wireTool     `json:"tools,omitempty"`
	Stream   bool           `json:"stream"`
	Format   string         `json:"format,omitempty"`
	Options  map[string]any `json:"options,omitempty"`
}

type wireMessage struct {
	Role       string         `json:"role"`
	Content    string         `json:"content"`
	Images     []string       `json:"images,omitempty"`
	ToolCalls  []wireToolCall `json:"tool_calls,omitempty"`
	ToolName   string         `json:"tool_name,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

type wireToolCall struct {
	ID       string           `json:"id,omitempty"`
	Function wireFunctionCall `json:"function"`
}

// wireFunctionCall carries arguments as a JSON object, unlike OpenAI's
// JSON-encoded string.
type wireFunctionCall struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

type wireTool struct {
	Type     string       `json:"type"`
	Function wireFunction `json:"function"`
}

type wireFunction struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Parameters  any    `json:"parameters,omitempty"`
}

type chatResponse struct {
	Model           string       `json:"model"`
	Message         *wireMessage `json:"message"`
	Done            bool         `json:"done"`
	DoneReason      string       `json:"done_reason"`
	PromptEvalCount int          `json:"prompt_eval_count"`
	EvalCount       int          `json:"eval_count"`
	Error           string       `json:"error"`
}

// Sentinels that tell "option not given" from a deliberate zero: temperature
// 0 and seed 0 are both meaningful to Ollama, and CallOptions has no flags.
const (
	unsetTemperature = -1.0
	unsetSeed        = math.MinInt
)

// buildRequest turns langchaingo messages and options into the wire request.
func buildRequest(model string, messages []llms.MessageContent, options []llms.CallOption) (*chatRequest, error) {
	opts := llms.CallOptions{Temperature: unsetTemperature, Seed: unsetSeed}
	for _, o := range options {
		o(&opts)
	}
	if opts.Model != "" {
		model = opts.Model
	}
	msgs, err := encodeMessages(messages)
	if err != nil {
		return nil, err
	}
	tools, err := encodeTools(opts.Tools, opts.Functions)
	if err != nil {
		return nil, err
	}
	req := &chatRequest{Model: model, Messages: msgs, Tools: tools, Stream: false}
	if opts.JSONMode {
		req.Format = "json"
	}
	o := map[string]any{}
	if opts.Temperature >= 0 {
		o["temperature"] = opts.Temperature
	}
	if opts.MaxTokens > 0 {
		o["num_predict"] = opts.MaxTokens
	}
	if opts.Seed != unsetSeed {
		o["seed"] = opts.Seed
	}
	if opts.TopP > 0 {
		o["top_p"] = opts.TopP
	}
	if opts.TopK > 0 {
		o["top_k"] = opts.TopK
	}
	if len(opts.StopWords) > 0 {
		o["stop"] = opts.StopWords
	}
	if len(o) > 0 {
		req.Options = o
	}
	return req, nil
}

func wireRole(r llms.ChatMessageType) (string, error) {
	switch r {
	case llms.ChatMessageTypeSystem:
		return "system", nil
	case llms.ChatMessageTypeHuman, llms.ChatMessageTypeGeneric:
		return "user", nil
	case llms.ChatMessageTypeAI:
		return "assistant", nil
	case llms.ChatMessageTypeTool, llms.ChatMessageTypeFunction:
		return "tool", nil
	default:
		return "", fmt.Errorf("%w: unknown role %q", ErrBadRequest, r)
	}
}

// encodeMessages maps each MessageContent to one wire message, followed by
// one "tool" message per ToolCallResponse part: Ollama carries one tool
// result per message.
func encodeMessages(messages []llms.MessageContent) ([]wireMessage, error) {
	out := make([]wireMessage, 0, len(messages))
	for i, mc := range messages {
		role, err := wireRole(mc.Role)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		msg := wireMessage{Role: role}
		var texts []string
		var results []wireMessage
		for _, part := range mc.Parts {
			switch p := part.(type) {
			case llms.TextContent:
				texts = append(texts, p.Text)
			case llms.BinaryContent:
				if !strings.HasPrefix(p.MIMEType, "image/") {
					return nil, fmt.Errorf("%w: message %d: binary part of type %q is not an image", ErrBadRequest, i, p.MIMEType)
				}
				msg.Images = append(msg.Images, base64.StdEncoding.EncodeToString(p.Data))
			case llms.ToolCall:
				if mc.Role != llms.ChatMessageTypeAI {
					return nil, fmt.Errorf("%w: message %d: tool call in a %s message", ErrBadRequest, i, mc.Role)
				}
				if p.FunctionCall == nil {
					return nil, fmt.Errorf("%w: message %d: tool call %q has no function", ErrBadRequest, i, p.ID)
				}
				args, err := normalizeArguments([]byte(p.FunctionCall.Arguments))
				if err != nil {
					return nil, fmt.Errorf("%w: message %d: tool call %s: %w", ErrBadRequest, i, p.FunctionCall.Name, err)
				}
				msg.ToolCalls = append(msg.ToolCalls, wireToolCall{
					ID:       p.ID,
					Function: wireFunctionCall{Name: p.FunctionCall.Name, Arguments: json.RawMessage(args)},
				})
			case llms.ToolCallResponse:
				results = append(results, wireMessage{
					Role:       "tool",
					Content:    p.Content,
					ToolName:   p.Name,
					ToolCallID: p.ToolCallID,
				})
			default:
				return nil, fmt.Errorf("%w: message %d: unsupported part %T", ErrBadRequest, i, part)
			}
		}
		msg.Content = strings.Join(texts, "\n")
		onlyResults := len(results) > 0 && len(texts) == 0 && len(msg.Images) == 0 && len(msg.ToolCalls) == 0
		if !onlyResults {
			out = append(out, msg)
		}
		out = append(out, results...)
	}
	return out, nil
}

func encodeTools(tools []llms.Tool, functions []llms.FunctionDefinition) ([]wireTool, error) {
	var out []wireTool
	add := func(f llms.FunctionDefinition) {
		out = append(out, wireTool{
			Type:     "function",
			Function: wireFunction{Name: f.Name, Description: f.Description, Parameters: f.Parameters},
		})
	}
	for _, f := range functions {
		add(f)
	}
	for i, t := range tools {
		if t.Type != "" && t.Type != "function" {
			return nil, fmt.Errorf("%w: tool %d: type %q is not \"function\"", ErrBadRequest, i, t.Type)
		}
		if t.Function == nil || t.Function.Name == "" {
			return nil, fmt.Errorf("%w: tool %d: no function name", ErrBadRequest, i)
		}
		add(*t.Function)
	}
	return out, nil
}

// decodeResponse parses an /api/chat answer. The bytes come from the network
// and are untrusted: every field is checked before it reaches a ToolCall.
func decodeResponse(data []byte) (*llms.ContentResponse, error) {
	var r chatResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	if r.Error != "" {
		return nil, fmt.Errorf("%w: server error: %q", ErrBadResponse, truncate(r.Error, maxErrorBytes))
	}
	if r.Message == nil {
		return nil, fmt.Errorf("%w: no message", ErrBadResponse)
	}
	choice := &llms.ContentChoice{
		Content:    r.Message.Content,
		StopReason: r.DoneReason,
		GenerationInfo: map[string]any{
			"PromptTokens":     r.PromptEvalCount,
			"CompletionTokens": r.EvalCount,
			"TotalTokens":      r.PromptEvalCount + r.EvalCount,
		},
	}
	for i, tc := range r.Message.ToolCalls {
		if tc.Function.Name == "" {
			return nil, fmt.Errorf("%w: tool call %d has no name", ErrBadResponse, i)
		}
		args, err := normalizeArguments(tc.Function.Arguments)
		if err != nil {
			return nil, fmt.Errorf("%w: tool call %d (%q): %w", ErrBadResponse, i, truncate(tc.Function.Name, 64), err)
		}
		id := tc.ID
		if id == "" {
			id = fmt.Sprintf("call_%d", i)
		}
		choice.ToolCalls = append(choice.ToolCalls, llms.ToolCall{
			ID:           id,
			Type:         "function",
			FunctionCall: &llms.FunctionCall{Name: tc.Function.Name, Arguments: args},
		})
	}
	if len(choice.ToolCalls) > 0 {
		choice.FuncCall = choice.ToolCalls[0].FunctionCall
	}
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{choice}}, nil
}

// normalizeArguments returns tool-call arguments as a compact JSON object.
// Absent or null arguments become "{}". Some models send the object
// JSON-encoded inside a string, as OpenAI does; that is unwrapped once.
func normalizeArguments(raw []byte) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "{}", nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("arguments: %w", err)
		}
		raw = bytes.TrimSpace([]byte(s))
		if len(raw) == 0 {
			return "{}", nil
		}
	}
	if raw[0] != '{' {
		return "", errors.New("arguments are not a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", fmt.Errorf("arguments: %w", err)
	}
	return buf.String(), nil
}

// truncate cuts s to at most n bytes.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
