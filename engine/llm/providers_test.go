package llm

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/engine/llm/llmtest"
)

var fareTool = llms.Tool{
	Type: "function",
	Function: &llms.FunctionDefinition{
		Name:        "estimate_fare",
		Description: "Estimate a ride fare.",
		Parameters: map[string]any{
			"type":       "object",
			"properties": map[string]any{"start_point": map[string]any{"type": "string"}},
			"required":   []any{"start_point"},
		},
	},
}

func decodeJSON(t *testing.T, r *http.Request) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		t.Errorf("request body: %v", err)
	}
	return m
}

// checkTools asserts the request offered fareTool in the given wire shape.
func checkTools(t *testing.T, req map[string]any, wrap func(map[string]any) map[string]any, schemaKey string) {
	t.Helper()
	tools, _ := req["tools"].([]any)
	if len(tools) != 1 {
		t.Errorf("tools = %v, want one", req["tools"])
		return
	}
	fn := wrap(tools[0].(map[string]any))
	if fn["name"] != "estimate_fare" || fn["description"] != "Estimate a ride fare." {
		t.Errorf("tool = %v", tools[0])
	}
	if !reflect.DeepEqual(fn[schemaKey], fareTool.Function.Parameters) {
		t.Errorf("tool %s = %v, want %v", schemaKey, fn[schemaKey], fareTool.Function.Parameters)
	}
}

// record is what a fake provider saw.
type record struct {
	mu      sync.Mutex
	headers []http.Header
	bodies  []map[string]any
}

func (r *record) add(h http.Header, b map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.headers = append(r.headers, h.Clone())
	r.bodies = append(r.bodies, b)
}

func (r *record) get(i int) (http.Header, map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.headers[i], r.bodies[i]
}

// fakeServer answers POSTs to path with the replies in turn.
func fakeServer(t *testing.T, path string, replies ...string) (*httptest.Server, *record) {
	t.Helper()
	rec := &record{}
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != path {
			t.Errorf("request %s %s, want POST %s", r.Method, r.URL.Path, path)
			http.NotFound(w, r)
			return
		}
		rec.add(r.Header, decodeJSON(t, r))
		mu.Lock()
		reply := replies[min(n, len(replies)-1)]
		n++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, reply)
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

const openAIToolCall = `{
  "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
  "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
    "role": "assistant", "content": null,
    "tool_calls": [{"id": "call_abc", "type": "function",
      "function": {"name": "estimate_fare", "arguments": "{\"start_point\":\"Main Street\"}"}}]}}],
  "usage": {"prompt_tokens": 31, "completion_tokens": 9, "total_tokens": 40}
}`

const openAIText = `{
  "id": "chatcmpl-2", "object": "chat.completion", "created": 1, "model": "gpt-4o",
  "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "The fare is $12."}}],
  "usage": {"prompt_tokens": 60, "completion_tokens": 6, "total_tokens": 66}
}`

func TestOpenAI(t *testing.T) {
	srv, rec := fakeServer(t, "/v1/chat/completions", openAIToolCall, openAIText)
	m, info, err := New(Config{Spec: "openai:gpt-4o", HTTPClient: srv.Client(),
		Getenv: env(map[string]string{"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": srv.URL + "/v1"})})
	if err != nil {
		t.Fatal(err)
	}
	if info.String() != "openai:gpt-4o" {
		t.Errorf("info = %s", info)
	}
	m = Metered(m)
	var usage Usage
	ctx := WithUsage(t.Context(), &usage)

	conv := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "fare from Main Street?")}
	resp, err := m.GenerateContent(ctx, conv, llms.WithTools([]llms.Tool{fareTool}))
	if err != nil {
		t.Fatal(err)
	}
	h, req := rec.get(0)
	if h.Get("Authorization") != "Bearer test-key" {
		t.Errorf("Authorization = %q", h.Get("Authorization"))
	}
	if req["model"] != "gpt-4o" {
		t.Errorf("model = %v", req["model"])
	}
	checkTools(t, req, func(tool map[string]any) map[string]any {
		if tool["type"] != "function" {
			t.Errorf("tool type = %v", tool["type"])
		}
		fn, _ := tool["function"].(map[string]any)
		return fn
	}, "parameters")

	c := resp.Choices[0]
	if len(c.ToolCalls) != 1 {
		t.Fatalf("tool calls = %+v", c.ToolCalls)
	}
	tc := c.ToolCalls[0]
	if tc.ID != "call_abc" || tc.FunctionCall.Name != "estimate_fare" {
		t.Errorf("tool call = %+v", tc)
	}
	llmtest.JSONEqual(t, tc.FunctionCall.Arguments, `{"start_point":"Main Street"}`)

	conv = append(conv,
		llms.MessageContent{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{tc}},
		llms.MessageContent{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{
			llms.ToolCallResponse{ToolCallID: tc.ID, Name: "estimate_fare", Content: `{"fare":12}`},
		}})
	resp, err = m.GenerateContent(ctx, conv, llms.WithTools([]llms.Tool{fareTool}))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Content; got != "The fare is $12." {
		t.Errorf("content = %q", got)
	}
	_, req = rec.get(1)
	msgs := req["messages"].([]any)
	last := msgs[len(msgs)-1].(map[string]any)
	if last["role"] != "tool" || last["tool_call_id"] != "call_abc" {
		t.Errorf("tool result sent as %v", last)
	}

	want := UsageSnapshot{Calls: 2, PromptTokens: 31 + 60, CompletionTokens: 9 + 6}
	if got := usage.Snapshot(); got != want {
		t.Errorf("usage = %+v, want %+v", got, want)
	}
}

func TestOpenAICompatibleWithoutKey(t *testing.T) {
	srv, rec := fakeServer(t, "/v1/chat/completions", openAIText)
	m, _, err := New(Config{Spec: "openai:qwen2.5", HTTPClient: srv.Client(),
		Getenv: env(map[string]string{"OPENAI_BASE_URL": srv.URL + "/v1"})})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Call(t.Context(), "hi")
	if err != nil {
		t.Fatal(err)
	}
	if got != "The fare is $12." {
		t.Errorf("Call = %q", got)
	}
	if h, _ := rec.get(0); h.Get("Authorization") != "Bearer "+placeholderKey {
		t.Errorf("Authorization = %q, want the placeholder", h.Get("Authorization"))
	}
}

func TestOpenAIResponseTooLarge(t *testing.T) {
	// The JSON decoder stops at the end of the value, so the excess must be
	// inside it.
	body := strings.Replace(openAIText, "The fare is $12.", strings.Repeat("a", maxResponseBytes), 1)
	srv, _ := fakeServer(t, "/v1/chat/completions", body)
	m, _, err := New(Config{Spec: "openai:gpt-4o", HTTPClient: srv.Client(),
		Getenv: env(map[string]string{"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": srv.URL + "/v1"})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Call(t.Context(), "hi"); !errors.Is(err, ErrResponseTooLarge) {
		t.Errorf("err = %v, want ErrResponseTooLarge", err)
	}
}

const anthropicTextAndTool = `{
  "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
  "content": [
    {"type": "text", "text": "Let me check."},
    {"type": "tool_use", "id": "toolu_1", "name": "estimate_fare", "input": {"start_point": "Main Street"}}
  ],
  "stop_reason": "tool_use",
  "usage": {"input_tokens": 50, "output_tokens": 12}
}`

const anthropicToolOnly = `{
  "id": "msg_2", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
  "content": [{"type": "tool_use", "id": "toolu_2", "name": "estimate_fare", "input": {"start_point": "Main Street"}}],
  "stop_reason": "tool_use",
  "usage": {"input_tokens": 40, "output_tokens": 8}
}`

const anthropicText = `{
  "id": "msg_3", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
  "content": [{"type": "text", "text": "The fare is $12."}],
  "stop_reason": "end_turn",
  "usage": {"input_tokens": 70, "output_tokens": 7}
}`

func TestAnthropic(t *testing.T) {
	tests := []struct {
		name       string
		reply      string
		baseSuffix string // what ANTHROPIC_BASE_URL adds to the server URL
		content    string
		toolID     string
		usage      UsageSnapshot
	}{
		{"text then tool_use", anthropicTextAndTool, "", "Let me check.", "toolu_1", UsageSnapshot{1, 50, 12}},
		{"tool_use only", anthropicToolOnly, "/v1", "", "toolu_2", UsageSnapshot{1, 40, 8}},
		{"text only", anthropicText, "/", "The fare is $12.", "", UsageSnapshot{1, 70, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, rec := fakeServer(t, "/v1/messages", tt.reply)
			m, _, err := New(Config{Spec: "anthropic:claude-sonnet-4-5", HTTPClient: srv.Client(),
				Getenv: env(map[string]string{"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": srv.URL + tt.baseSuffix})})
			if err != nil {
				t.Fatal(err)
			}
			var usage Usage
			resp, err := Metered(m).GenerateContent(WithUsage(t.Context(), &usage),
				[]llms.MessageContent{
					llms.TextParts(llms.ChatMessageTypeSystem, "You plan rides."),
					llms.TextParts(llms.ChatMessageTypeHuman, "fare from Main Street?"),
				},
				llms.WithTools([]llms.Tool{fareTool}))
			if err != nil {
				t.Fatal(err)
			}

			h, req := rec.get(0)
			if h.Get("x-api-key") != "test-key" {
				t.Errorf("x-api-key = %q", h.Get("x-api-key"))
			}
			if req["model"] != "claude-sonnet-4-5" || req["system"] != "You plan rides." {
				t.Errorf("model, system = %v, %v", req["model"], req["system"])
			}
			checkTools(t, req, func(tool map[string]any) map[string]any { return tool }, "input_schema")

			if len(resp.Choices) != 1 {
				t.Fatalf("choices = %d, want the blocks merged into one", len(resp.Choices))
			}
			c := resp.Choices[0]
			if c.Content != tt.content {
				t.Errorf("content = %q, want %q", c.Content, tt.content)
			}
			if tt.toolID == "" {
				if len(c.ToolCalls) != 0 || c.FuncCall != nil {
					t.Errorf("unexpected tool calls %+v", c.ToolCalls)
				}
			} else {
				if len(c.ToolCalls) != 1 {
					t.Fatalf("tool calls = %+v", c.ToolCalls)
				}
				tc := c.ToolCalls[0]
				if tc.ID != tt.toolID || tc.Type != "function" || tc.FunctionCall.Name != "estimate_fare" {
					t.Errorf("tool call = %+v", tc)
				}
				llmtest.JSONEqual(t, tc.FunctionCall.Arguments, `{"start_point":"Main Street"}`)
				if c.FuncCall != tc.FunctionCall {
					t.Errorf("FuncCall is not the first tool call")
				}
			}
			if got := usage.Snapshot(); got != tt.usage {
				t.Errorf("usage = %+v, want %+v", got, tt.usage)
			}
		})
	}
}

const ollamaToolCall = `{"model":"llama3.1:8b","message":{"role":"assistant","content":"",
  "tool_calls":[{"function":{"name":"estimate_fare","arguments":{"start_point":"Main Street"}}}]},
  "done":true,"done_reason":"stop","prompt_eval_count":25,"eval_count":4}`

func TestOllamaThroughNew(t *testing.T) {
	srv, rec := fakeServer(t, "/api/chat", ollamaToolCall)
	host := strings.TrimPrefix(srv.URL, "http://") // OLLAMA_HOST without a scheme
	m, info, err := New(Config{Spec: "ollama:llama3.1:8b", HTTPClient: srv.Client(),
		Getenv: env(map[string]string{"OLLAMA_HOST": host})})
	if err != nil {
		t.Fatal(err)
	}
	if info.String() != "ollama:llama3.1:8b" {
		t.Errorf("info = %s", info)
	}
	var usage Usage
	resp, err := Metered(m).GenerateContent(WithUsage(t.Context(), &usage),
		[]llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "fare?")},
		llms.WithTools([]llms.Tool{fareTool}))
	if err != nil {
		t.Fatal(err)
	}
	_, req := rec.get(0)
	if req["model"] != "llama3.1:8b" || req["stream"] != false {
		t.Errorf("model, stream = %v, %v", req["model"], req["stream"])
	}
	checkTools(t, req, func(tool map[string]any) map[string]any {
		fn, _ := tool["function"].(map[string]any)
		return fn
	}, "parameters")
	tc := resp.Choices[0].ToolCalls[0]
	if tc.FunctionCall.Name != "estimate_fare" {
		t.Errorf("tool call = %+v", tc)
	}
	llmtest.JSONEqual(t, tc.FunctionCall.Arguments, `{"start_point":"Main Street"}`)
	if got, want := usage.Snapshot(), (UsageSnapshot{1, 25, 4}); got != want {
		t.Errorf("usage = %+v, want %+v", got, want)
	}
}
