package scripted_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/engine/llm/scripted"
)

func human(s string) []llms.MessageContent {
	return []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, s)}
}

var fareTool = llms.Tool{Type: "function", Function: &llms.FunctionDefinition{Name: "estimate_fare"}}

func TestFirstMatchingRuleAnswers(t *testing.T) {
	m := scripted.New(
		scripted.Rule{Name: "weather", Match: scripted.Contains("weather"), Reply: scripted.Text("sunny")},
		scripted.Rule{Name: "fare tool", Match: scripted.HasTool("estimate_fare"), Reply: scripted.Text("use the tool")},
		scripted.Rule{Name: "fallback", Match: scripted.Always, Reply: scripted.Text("fallback")},
	)
	tests := []struct {
		name  string
		query string
		opts  []llms.CallOption
		want  string
	}{
		{"text match", "what is the weather", nil, "sunny"},
		{"earlier rule wins over later match", "weather and fares", []llms.CallOption{llms.WithTools([]llms.Tool{fareTool})}, "sunny"},
		{"tool match", "fare please", []llms.CallOption{llms.WithTools([]llms.Tool{fareTool})}, "use the tool"},
		{"fallback", "hello", nil, "fallback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := m.Call(t.Context(), tt.query, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Call(%q) = %q, want %q", tt.query, got, tt.want)
			}
		})
	}
	if got := m.CallCount(); got != len(tests) {
		t.Errorf("CallCount = %d, want %d", got, len(tests))
	}
}

func TestNoRuleMatched(t *testing.T) {
	m := scripted.New(scripted.Rule{Name: "never", Match: scripted.Contains("zzz"), Reply: scripted.Text("no")})
	query := strings.Repeat("é", 200) + "TAIL"
	_, err := m.Call(t.Context(), query)
	if !errors.Is(err, scripted.ErrNoRule) {
		t.Fatalf("err = %v, want ErrNoRule", err)
	}
	if !strings.Contains(err.Error(), strings.Repeat("é", 200)) {
		t.Errorf("err = %q, want the first 200 characters of the request", err)
	}
	if strings.Contains(err.Error(), "TAIL") {
		t.Errorf("err = %q quotes more than 200 characters", err)
	}
}

func TestRequestText(t *testing.T) {
	m := scripted.New(scripted.Rule{Match: scripted.Always})
	msgs := []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, "system prompt"),
		llms.TextParts(llms.ChatMessageTypeHuman, "first", "second"),
		{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{scripted.Call("f", nil)}},
		{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{llms.ToolCallResponse{ToolCallID: "x", Name: "f", Content: `{"fare":12}`}}},
	}
	if _, err := m.GenerateContent(t.Context(), msgs, llms.WithTools([]llms.Tool{fareTool})); err != nil {
		t.Fatal(err)
	}
	req := m.Calls()[0]
	if want := "system prompt\nfirst\nsecond\n{\"fare\":12}"; req.Text != want {
		t.Errorf("Text = %q, want %q", req.Text, want)
	}
	if len(req.Tools) != 1 || req.Tools[0].Function.Name != "estimate_fare" {
		t.Errorf("Tools = %+v", req.Tools)
	}
	if len(req.Messages) != len(msgs) {
		t.Errorf("Messages = %d, want %d", len(req.Messages), len(msgs))
	}
}

func TestReplies(t *testing.T) {
	boom := errors.New("boom")
	call := scripted.Call("estimate_fare", map[string]string{"start_point": "Main Street"})
	tests := []struct {
		name  string
		reply scripted.Reply
		check func(t *testing.T, resp *llms.ContentResponse, err error)
	}{
		{"text and tokens", scripted.Reply{Text: "hi", PromptTokens: 11, CompletionTokens: 3},
			func(t *testing.T, resp *llms.ContentResponse, err error) {
				if err != nil {
					t.Fatal(err)
				}
				c := resp.Choices[0]
				if c.Content != "hi" || c.GenerationInfo["PromptTokens"] != 11 || c.GenerationInfo["CompletionTokens"] != 3 {
					t.Errorf("choice = %+v", c)
				}
				if c.FuncCall != nil || len(c.ToolCalls) != 0 {
					t.Errorf("text reply carries a tool call: %+v", c)
				}
			}},
		{"tool call", scripted.Reply{ToolCalls: []llms.ToolCall{call}},
			func(t *testing.T, resp *llms.ContentResponse, err error) {
				if err != nil {
					t.Fatal(err)
				}
				c := resp.Choices[0]
				if len(c.ToolCalls) != 1 || c.ToolCalls[0].ID != call.ID {
					t.Fatalf("tool calls = %+v", c.ToolCalls)
				}
				if c.FuncCall == nil || c.FuncCall.Name != "estimate_fare" {
					t.Errorf("FuncCall = %+v, want the first tool call", c.FuncCall)
				}
			}},
		{"error", scripted.Reply{Err: boom},
			func(t *testing.T, resp *llms.ContentResponse, err error) {
				if !errors.Is(err, boom) || resp != nil {
					t.Errorf("resp, err = %v, %v; want nil, boom", resp, err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := scripted.New(scripted.Rule{Name: tt.name, Match: scripted.Always, Reply: func(scripted.Request) scripted.Reply { return tt.reply }})
			resp, err := m.GenerateContent(t.Context(), human("q"))
			tt.check(t, resp, err)
		})
	}
}

func TestCall(t *testing.T) {
	tests := []struct {
		name string
		args any
		want string
	}{
		{"map", map[string]any{"start_point": "Main Street", "n": 2}, `{"n":2,"start_point":"Main Street"}`},
		{"struct", struct {
			To string `json:"to"`
		}{"Paris"}, `{"to":"Paris"}`},
		{"nil", nil, `{}`},
		{"raw JSON", json.RawMessage(`{"a":[1,2]}`), `{"a":[1,2]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := scripted.Call("f", tt.args)
			if c.Type != "function" || c.FunctionCall.Name != "f" || c.FunctionCall.Arguments != tt.want {
				t.Errorf("Call = %+v %+v, want arguments %s", c, c.FunctionCall, tt.want)
			}
		})
	}
	t.Run("unmarshalable arguments panic", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Error("Call with a channel argument did not panic")
			}
		}()
		scripted.Call("f", make(chan int))
	})
}

func TestCallIDsAreUnique(t *testing.T) {
	const n = 200
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { ids <- scripted.Call("f", nil).ID })
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if !strings.HasPrefix(id, "call_") || seen[id] {
			t.Fatalf("id %q is malformed or repeated", id)
		}
		seen[id] = true
	}
}

func TestSequence(t *testing.T) {
	next := scripted.Sequence(scripted.Reply{Text: "a"}, scripted.Reply{Text: "b"})
	var got []string
	for range 4 {
		got = append(got, next(scripted.Request{}).Text)
	}
	if want := "a b b b"; strings.Join(got, " ") != want {
		t.Errorf("sequence = %v, want %s", got, want)
	}

	if r := scripted.Sequence()(scripted.Request{}); r.Err == nil {
		t.Error("empty sequence replied without an error")
	}
}

func TestSequenceConcurrent(t *testing.T) {
	const n = 100
	var replies []scripted.Reply
	for i := range n {
		replies = append(replies, scripted.Reply{Text: fmt.Sprint(i)})
	}
	m := scripted.New(scripted.Rule{Match: scripted.Always, Reply: scripted.Sequence(replies...)})

	got := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			s, err := m.Call(t.Context(), "q")
			if err != nil {
				t.Error(err)
			}
			got <- s
		})
	}
	wg.Wait()
	close(got)
	seen := map[string]bool{}
	for s := range got {
		if seen[s] {
			t.Fatalf("reply %s given twice", s)
		}
		seen[s] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct replies, want %d", len(seen), n)
	}
}

func TestMatchers(t *testing.T) {
	withResult := scripted.Request{Messages: []llms.MessageContent{
		{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{llms.ToolCallResponse{Content: "r"}}},
	}}
	withCall := scripted.Request{Messages: []llms.MessageContent{
		{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{scripted.Call("f", nil)}},
	}}
	tests := []struct {
		name  string
		match func(scripted.Request) bool
		req   scripted.Request
		want  bool
	}{
		{"contains yes", scripted.Contains("fare"), scripted.Request{Text: "the fare"}, true},
		{"contains no", scripted.Contains("fare"), scripted.Request{Text: "the FARE"}, false},
		{"has tool yes", scripted.HasTool("estimate_fare"), scripted.Request{Tools: []llms.Tool{{Type: "function"}, fareTool}}, true},
		{"has tool no", scripted.HasTool("book_ride"), scripted.Request{Tools: []llms.Tool{fareTool}}, false},
		{"tool result yes", scripted.HasToolResult, withResult, true},
		{"tool call is not a result", scripted.HasToolResult, withCall, false},
		{"always", scripted.Always, scripted.Request{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.match(tt.req); got != tt.want {
				t.Errorf("match = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestAgentLoop runs the loop scripted models exist for: call a tool, feed
// the result back, get the final answer.
func TestAgentLoop(t *testing.T) {
	m := scripted.New(
		scripted.Rule{Name: "answer", Match: scripted.HasToolResult, Reply: scripted.Text("fare is $12")},
		scripted.Rule{Name: "call", Match: scripted.HasTool("estimate_fare"), Reply: func(scripted.Request) scripted.Reply {
			return scripted.Reply{ToolCalls: []llms.ToolCall{scripted.Call("estimate_fare", map[string]string{"to": "Elm"})}}
		}},
	)
	conv := human("fare to Elm?")
	tools := llms.WithTools([]llms.Tool{fareTool})
	for step := 0; ; step++ {
		if step == 3 {
			t.Fatal("loop did not finish")
		}
		resp, err := m.GenerateContent(t.Context(), conv, tools)
		if err != nil {
			t.Fatal(err)
		}
		c := resp.Choices[0]
		if len(c.ToolCalls) == 0 {
			if c.Content != "fare is $12" {
				t.Errorf("answer = %q", c.Content)
			}
			break
		}
		tc := c.ToolCalls[0]
		conv = append(conv,
			llms.MessageContent{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{tc}},
			llms.MessageContent{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{
				llms.ToolCallResponse{ToolCallID: tc.ID, Name: tc.FunctionCall.Name, Content: "12"},
			}})
	}
	if got := m.CallCount(); got != 2 {
		t.Errorf("CallCount = %d, want 2", got)
	}
}

func TestCallsAreCopies(t *testing.T) {
	m := scripted.New(scripted.Rule{Match: scripted.Always})
	conv := make([]llms.MessageContent, 1, 4)
	conv[0] = llms.TextParts(llms.ChatMessageTypeHuman, "original")
	if _, err := m.GenerateContent(t.Context(), conv); err != nil {
		t.Fatal(err)
	}
	conv[0].Parts[0] = llms.TextContent{Text: "rewritten"}
	calls := m.Calls()
	calls[0].Text = "changed by caller"

	again := m.Calls()[0]
	if again.Text != "original" {
		t.Errorf("Calls returned shared state: Text = %q", again.Text)
	}
	if p := again.Messages[0].Parts[0].(llms.TextContent); p.Text != "original" {
		t.Errorf("recorded message changed with the caller's: %q", p.Text)
	}
}

func TestCancelledContext(t *testing.T) {
	m := scripted.New(scripted.Rule{Match: scripted.Always})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := m.Call(ctx, "q"); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if n := m.CallCount(); n != 0 {
		t.Errorf("CallCount = %d after a cancelled call, want 0", n)
	}
}

func TestConcurrentUse(t *testing.T) {
	m := scripted.New(
		scripted.Rule{Name: "even", Match: scripted.Contains("even"), Reply: scripted.Text("E")},
		scripted.Rule{Name: "odd", Match: scripted.Always, Reply: scripted.Text("O")},
	)
	const n = 64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			q, want := "odd", "O"
			if i%2 == 0 {
				q, want = "even", "E"
			}
			got, err := m.Call(t.Context(), q)
			if err != nil || got != want {
				t.Errorf("Call(%q) = %q, %v; want %q", q, got, err, want)
			}
			_ = m.Calls() // readers race with writers
		})
	}
	wg.Wait()
	if got := m.CallCount(); got != n {
		t.Errorf("CallCount = %d, want %d", got, n)
	}
	if got := len(m.Calls()); got != n {
		t.Errorf("len(Calls) = %d, want %d", got, n)
	}
}
