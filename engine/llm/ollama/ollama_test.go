package ollama

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/engine/llm/llmtest"
)

// recorder is a fake Ollama server: it keeps every request body and answers
// each with status and body.
type recorder struct {
	mu     sync.Mutex
	bodies []map[string]any
	hits   atomic.Int32
}

func newServer(t *testing.T, status int, body string) (*httptest.Server, *recorder) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.hits.Add(1)
		if r.Method != http.MethodPost || r.URL.Path != "/api/chat" {
			http.Error(w, "wrong endpoint "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			http.Error(w, "content type "+ct, http.StatusUnsupportedMediaType)
			return
		}
		var req map[string]any
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rec.mu.Lock()
		rec.bodies = append(rec.bodies, req)
		rec.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

func (r *recorder) last(t *testing.T) map[string]any {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bodies) == 0 {
		t.Fatal("server saw no request")
	}
	return r.bodies[len(r.bodies)-1]
}

func newModel(t *testing.T, srv *httptest.Server) *Model {
	t.Helper()
	m, err := New(srv.URL, "llama3.1:8b", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var fareTool = llms.Tool{
	Type: "function",
	Function: &llms.FunctionDefinition{
		Name:        "estimate_fare",
		Description: "Estimate a ride fare.",
		Parameters: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"start_point": map[string]any{"type": "string"},
				"end_point":   map[string]any{"type": "string"},
			},
			"required": []string{"start_point", "end_point"},
		},
	},
}

const toolCallAnswer = `{
  "model": "llama3.1:8b",
  "created_at": "2025-01-01T00:00:00Z",
  "message": {
    "role": "assistant",
    "content": "",
    "tool_calls": [
      {"function": {"name": "estimate_fare", "arguments": {"start_point": "Main Street", "end_point": "Elm Avenue"}}},
      {"id": "abc", "function": {"name": "estimate_fare", "arguments": {"start_point": "Elm Avenue", "end_point": "Main Street"}}}
    ]
  },
  "done": true,
  "done_reason": "stop",
  "prompt_eval_count": 42,
  "eval_count": 7
}`

func TestGenerateContentToolCalls(t *testing.T) {
	srv, rec := newServer(t, http.StatusOK, toolCallAnswer)
	m := newModel(t, srv)

	resp, err := m.GenerateContent(t.Context(), []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, "You plan rides."),
		llms.TextParts(llms.ChatMessageTypeHuman, "fare from Main Street to Elm Avenue?"),
	}, llms.WithTools([]llms.Tool{fareTool}))
	if err != nil {
		t.Fatal(err)
	}

	req := rec.last(t)
	if req["model"] != "llama3.1:8b" {
		t.Errorf("model = %v", req["model"])
	}
	if stream, ok := req["stream"]; !ok || stream != false {
		t.Errorf("stream = %v (present %v), want false", stream, ok)
	}
	if _, ok := req["options"]; ok {
		t.Errorf("options sent without any option set: %v", req["options"])
	}
	msgs := req["messages"].([]any)
	wantMsgs := []map[string]any{
		{"role": "system", "content": "You plan rides."},
		{"role": "user", "content": "fare from Main Street to Elm Avenue?"},
	}
	if len(msgs) != len(wantMsgs) {
		t.Fatalf("messages = %v", msgs)
	}
	for i, w := range wantMsgs {
		if !reflect.DeepEqual(msgs[i], map[string]any(w)) {
			t.Errorf("message %d = %v, want %v", i, msgs[i], w)
		}
	}
	tools := req["tools"].([]any)
	if len(tools) != 1 {
		t.Fatalf("tools = %v", tools)
	}
	tool := tools[0].(map[string]any)
	fn := tool["function"].(map[string]any)
	if tool["type"] != "function" || fn["name"] != "estimate_fare" || fn["description"] != "Estimate a ride fare." {
		t.Errorf("tool = %v", tool)
	}
	params, _ := json.Marshal(fn["parameters"])
	wantParams, _ := json.Marshal(fareTool.Function.Parameters)
	llmtest.JSONEqual(t, string(params), string(wantParams))

	if len(resp.Choices) != 1 {
		t.Fatalf("choices = %d", len(resp.Choices))
	}
	c := resp.Choices[0]
	if len(c.ToolCalls) != 2 {
		t.Fatalf("tool calls = %+v", c.ToolCalls)
	}
	wantCalls := []struct{ id, args string }{
		{"call_0", `{"start_point":"Main Street","end_point":"Elm Avenue"}`},
		{"abc", `{"start_point":"Elm Avenue","end_point":"Main Street"}`},
	}
	for i, w := range wantCalls {
		tc := c.ToolCalls[i]
		if tc.ID != w.id || tc.Type != "function" || tc.FunctionCall.Name != "estimate_fare" {
			t.Errorf("tool call %d = %+v", i, tc)
		}
		llmtest.JSONEqual(t, tc.FunctionCall.Arguments, w.args)
	}
	if c.FuncCall != c.ToolCalls[0].FunctionCall {
		t.Errorf("FuncCall = %+v, want the first tool call", c.FuncCall)
	}
	if c.StopReason != "stop" {
		t.Errorf("StopReason = %q", c.StopReason)
	}
	if c.GenerationInfo["PromptTokens"] != 42 || c.GenerationInfo["CompletionTokens"] != 7 {
		t.Errorf("GenerationInfo = %v", c.GenerationInfo)
	}
}

func TestCallText(t *testing.T) {
	srv, rec := newServer(t, http.StatusOK,
		`{"message":{"role":"assistant","content":"The fare is $12."},"done":true,"done_reason":"stop"}`)
	m := newModel(t, srv)

	got, err := m.Call(t.Context(), "fare?")
	if err != nil {
		t.Fatal(err)
	}
	if got != "The fare is $12." {
		t.Errorf("Call = %q", got)
	}
	if _, ok := rec.last(t)["tools"]; ok {
		t.Error("tools sent when none were given")
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name string
		opts []llms.CallOption
		want map[string]any // nil: no "options" object at all
	}{
		{"none", nil, nil},
		{"zero temperature is sent", []llms.CallOption{llms.WithTemperature(0)}, map[string]any{"temperature": 0.0}},
		{"temperature", []llms.CallOption{llms.WithTemperature(0.7)}, map[string]any{"temperature": 0.7}},
		{"max tokens", []llms.CallOption{llms.WithMaxTokens(128)}, map[string]any{"num_predict": 128.0}},
		{"zero seed is sent", []llms.CallOption{llms.WithSeed(0)}, map[string]any{"seed": 0.0}},
		{"all three", []llms.CallOption{llms.WithTemperature(0.2), llms.WithMaxTokens(64), llms.WithSeed(7)},
			map[string]any{"temperature": 0.2, "num_predict": 64.0, "seed": 7.0}},
		{"stop words", []llms.CallOption{llms.WithStopWords([]string{"END"})}, map[string]any{"stop": []any{"END"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, rec := newServer(t, http.StatusOK, `{"message":{"role":"assistant","content":"ok"},"done":true}`)
			if _, err := newModel(t, srv).Call(t.Context(), "hi", tt.opts...); err != nil {
				t.Fatal(err)
			}
			got, ok := rec.last(t)["options"]
			if tt.want == nil {
				if ok {
					t.Errorf("options = %v, want none", got)
				}
				return
			}
			if !reflect.DeepEqual(got, map[string]any(tt.want)) {
				t.Errorf("options = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestModelOverride(t *testing.T) {
	srv, rec := newServer(t, http.StatusOK, `{"message":{"role":"assistant","content":"ok"},"done":true}`)
	if _, err := newModel(t, srv).Call(t.Context(), "hi", llms.WithModel("qwen3:4b")); err != nil {
		t.Fatal(err)
	}
	if got := rec.last(t)["model"]; got != "qwen3:4b" {
		t.Errorf("model = %v, want the per-call model", got)
	}
}

func TestMultiTurnWithToolResult(t *testing.T) {
	srv, rec := newServer(t, http.StatusOK,
		`{"message":{"role":"assistant","content":"metro_hail: $12"},"done":true,"done_reason":"stop","prompt_eval_count":90,"eval_count":5}`)
	m := newModel(t, srv)

	conv := []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, "You plan rides."),
		llms.TextParts(llms.ChatMessageTypeHuman, "fare?"),
		{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{
			llms.TextContent{Text: "Let me check."},
			llms.ToolCall{ID: "call_0", Type: "function", FunctionCall: &llms.FunctionCall{
				Name: "estimate_fare", Arguments: `{"start_point": "Main Street", "end_point": "Elm Avenue"}`,
			}},
		}},
		{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{
			llms.ToolCallResponse{ToolCallID: "call_0", Name: "estimate_fare", Content: `{"fare": 12}`},
		}},
		llms.TextParts(llms.ChatMessageTypeHuman, "and the answer?"),
	}
	resp, err := m.GenerateContent(t.Context(), conv, llms.WithTools([]llms.Tool{fareTool}))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Content; got != "metro_hail: $12" {
		t.Errorf("content = %q", got)
	}

	msgs := rec.last(t)["messages"].([]any)
	var roles []string
	for _, m := range msgs {
		roles = append(roles, m.(map[string]any)["role"].(string))
	}
	if want := []string{"system", "user", "assistant", "tool", "user"}; !reflect.DeepEqual(roles, want) {
		t.Fatalf("roles = %v, want %v", roles, want)
	}
	ai := msgs[2].(map[string]any)
	if ai["content"] != "Let me check." {
		t.Errorf("assistant content = %v", ai["content"])
	}
	calls := ai["tool_calls"].([]any)
	if len(calls) != 1 {
		t.Fatalf("assistant tool_calls = %v", calls)
	}
	fn := calls[0].(map[string]any)["function"].(map[string]any)
	args, isObject := fn["arguments"].(map[string]any)
	if fn["name"] != "estimate_fare" || !isObject {
		t.Fatalf("tool call function = %#v, want arguments as a JSON object", fn)
	}
	if args["start_point"] != "Main Street" || args["end_point"] != "Elm Avenue" {
		t.Errorf("arguments = %v", args)
	}
	tool := msgs[3].(map[string]any)
	if tool["content"] != `{"fare": 12}` || tool["tool_name"] != "estimate_fare" {
		t.Errorf("tool message = %v", tool)
	}
}

func TestStreamingFuncGetsWholeAnswer(t *testing.T) {
	srv, _ := newServer(t, http.StatusOK, `{"message":{"role":"assistant","content":"all at once"},"done":true}`)
	var chunks []string
	_, err := newModel(t, srv).Call(t.Context(), "hi", llms.WithStreamingFunc(func(_ context.Context, b []byte) error {
		chunks = append(chunks, string(b))
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(chunks, []string{"all at once"}) {
		t.Errorf("chunks = %q", chunks)
	}
}

func TestNewHost(t *testing.T) {
	tests := []struct {
		host    string
		want    string
		wantErr bool
	}{
		{"", "http://127.0.0.1:11434/api/chat", false},
		{"gpu-box:11434", "http://gpu-box:11434/api/chat", false},
		{"gpu-box", "http://gpu-box:11434/api/chat", false},
		{":8080", "http://127.0.0.1:8080/api/chat", false},
		{"[::1]:8080", "http://[::1]:8080/api/chat", false},
		{"http://10.0.0.2:9000/", "http://10.0.0.2:9000/api/chat", false},
		{"https://ollama.internal", "https://ollama.internal/api/chat", false},
		{"https://proxy.internal/ollama/", "https://proxy.internal/ollama/api/chat", false},
		{" 127.0.0.1:11434 ", "http://127.0.0.1:11434/api/chat", false},
		{"ftp://host", "", true},
		{"http://host:11434/?x=1", "", true},
		{"http://bad host", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			m, err := New(tt.host, "m", nil)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("New(%q) = %s, want an error", tt.host, m.chatURL)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.chatURL != tt.want {
				t.Errorf("chat URL = %s, want %s", m.chatURL, tt.want)
			}
		})
	}
	if _, err := New("", " ", nil); err == nil {
		t.Error("New with an empty model succeeded")
	}
}
