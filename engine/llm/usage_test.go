package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/engine/llm/scripted"
)

func human(s string) []llms.MessageContent {
	return []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, s)}
}

func TestMeteredCounts(t *testing.T) {
	boom := errors.New("boom")
	model := scripted.New(
		scripted.Rule{Name: "fail", Match: scripted.Contains("fail"), Reply: func(scripted.Request) scripted.Reply {
			return scripted.Reply{Err: boom}
		}},
		scripted.Rule{Name: "ok", Match: scripted.Always, Reply: func(scripted.Request) scripted.Reply {
			return scripted.Reply{Text: "ok", PromptTokens: 10, CompletionTokens: 3}
		}},
	)
	tests := []struct {
		name string
		run  func(t *testing.T, m llms.Model, u *Usage)
		want UsageSnapshot
	}{
		{"generate content", func(t *testing.T, m llms.Model, u *Usage) {
			if _, err := m.GenerateContent(WithUsage(t.Context(), u), human("q")); err != nil {
				t.Fatal(err)
			}
		}, UsageSnapshot{1, 10, 3}},
		{"call goes through GenerateContent", func(t *testing.T, m llms.Model, u *Usage) {
			if _, err := m.Call(WithUsage(t.Context(), u), "q"); err != nil {
				t.Fatal(err)
			}
		}, UsageSnapshot{1, 10, 3}},
		{"failed call counts as a call", func(t *testing.T, m llms.Model, u *Usage) {
			if _, err := m.Call(WithUsage(t.Context(), u), "fail"); !errors.Is(err, boom) {
				t.Fatalf("err = %v, want boom", err)
			}
		}, UsageSnapshot{1, 0, 0}},
		{"no usage in context passes through", func(t *testing.T, m llms.Model, u *Usage) {
			if got, err := m.Call(t.Context(), "q"); err != nil || got != "ok" {
				t.Fatalf("Call = %q, %v", got, err)
			}
		}, UsageSnapshot{}},
		{"wrapping twice counts once", func(t *testing.T, m llms.Model, u *Usage) {
			if _, err := Metered(m).Call(WithUsage(t.Context(), u), "q"); err != nil {
				t.Fatal(err)
			}
		}, UsageSnapshot{1, 10, 3}},
		{"separate contexts, separate usage", func(t *testing.T, m llms.Model, u *Usage) {
			var other Usage
			if _, err := m.Call(WithUsage(t.Context(), &other), "q"); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Call(WithUsage(t.Context(), u), "q"); err != nil {
				t.Fatal(err)
			}
			if got := other.Snapshot(); got != (UsageSnapshot{1, 10, 3}) {
				t.Errorf("other usage = %+v", got)
			}
		}, UsageSnapshot{1, 10, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var u Usage
			tt.run(t, Metered(model), &u)
			if got := u.Snapshot(); got != tt.want {
				t.Errorf("usage = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMeteredConcurrent(t *testing.T) {
	m := Metered(scripted.New(scripted.Rule{Match: scripted.Always, Reply: func(scripted.Request) scripted.Reply {
		return scripted.Reply{Text: "ok", PromptTokens: 7, CompletionTokens: 2}
	}}))
	var u Usage
	ctx := WithUsage(t.Context(), &u)
	const n = 100
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := m.Call(ctx, "q"); err != nil {
				t.Error(err)
			}
			_ = u.Snapshot()
		})
	}
	wg.Wait()
	if got, want := u.Snapshot(), (UsageSnapshot{n, 7 * n, 2 * n}); got != want {
		t.Errorf("usage = %+v, want %+v", got, want)
	}
}

func TestUsageFrom(t *testing.T) {
	if u := UsageFrom(t.Context()); u != nil {
		t.Errorf("UsageFrom(empty) = %v, want nil", u)
	}
	u := &Usage{}
	if got := UsageFrom(WithUsage(t.Context(), u)); got != u {
		t.Errorf("UsageFrom = %p, want %p", got, u)
	}
	var none *Usage
	if got := none.Snapshot(); got != (UsageSnapshot{}) {
		t.Errorf("nil Snapshot = %+v", got)
	}
}

func TestUsageSnapshotJSON(t *testing.T) {
	b, err := json.Marshal(UsageSnapshot{Calls: 1, PromptTokens: 2, CompletionTokens: 3})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"calls":1,"prompt_tokens":2,"completion_tokens":3}`; string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
}

func TestTokens(t *testing.T) {
	tests := []struct {
		name string
		info map[string]any
		want int
	}{
		{"openai int", map[string]any{"PromptTokens": 12}, 12},
		{"anthropic key", map[string]any{"InputTokens": 9}, 9},
		{"first key wins", map[string]any{"PromptTokens": 1, "InputTokens": 2}, 1},
		{"int64", map[string]any{"PromptTokens": int64(5)}, 5},
		{"float64 from JSON", map[string]any{"PromptTokens": 6.0}, 6},
		{"json.Number", map[string]any{"PromptTokens": json.Number("8")}, 8},
		{"negative", map[string]any{"PromptTokens": -4}, 0},
		{"huge", map[string]any{"PromptTokens": 1e300}, 0},
		{"string", map[string]any{"PromptTokens": "12"}, 0},
		{"missing", map[string]any{"TotalTokens": 12}, 0},
		{"nil map", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tokens(tt.info, "PromptTokens", "InputTokens"); got != tt.want {
				t.Errorf("tokens = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestCappedBody(t *testing.T) {
	const limit = 16
	tests := []struct {
		name string
		size int
		want error
	}{
		{"empty", 0, nil},
		{"under", limit - 1, nil},
		{"at the limit", limit, nil},
		{"one over", limit + 1, ErrResponseTooLarge},
		{"far over", 10 * limit, ErrResponseTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := bytes.Repeat([]byte("x"), tt.size)
			b := &cappedBody{rc: io.NopCloser(bytes.NewReader(src)), limit: limit, left: limit}
			got, err := io.ReadAll(b)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want == nil && len(got) != tt.size {
				t.Errorf("read %d bytes, want %d", len(got), tt.size)
			}
			if len(got) > limit {
				t.Errorf("read %d bytes past a limit of %d", len(got), limit)
			}
		})
	}
}

func TestMergeChoicesKeepsOrder(t *testing.T) {
	a := llms.ToolCall{ID: "a", FunctionCall: &llms.FunctionCall{Name: "f", Arguments: "{}"}}
	b := llms.ToolCall{ID: "b", Type: "function", FunctionCall: &llms.FunctionCall{Name: "g", Arguments: "{}"}}
	got := mergeChoices([]*llms.ContentChoice{
		{Content: "one", StopReason: "tool_use", GenerationInfo: map[string]any{"InputTokens": 5}},
		{ToolCalls: []llms.ToolCall{a}, GenerationInfo: map[string]any{"InputTokens": 5, "OutputTokens": 2}},
		nil,
		{Content: "two", ToolCalls: []llms.ToolCall{b}},
	})
	if got.Content != "one\ntwo" || got.StopReason != "tool_use" {
		t.Errorf("content, stop = %q, %q", got.Content, got.StopReason)
	}
	var ids []string
	for _, tc := range got.ToolCalls {
		ids = append(ids, tc.ID+":"+tc.Type)
	}
	if strings.Join(ids, ",") != "a:function,b:function" {
		t.Errorf("tool calls = %v", ids)
	}
	if got.FuncCall != a.FunctionCall {
		t.Errorf("FuncCall = %+v, want the first tool call", got.FuncCall)
	}
	if tokens(got.GenerationInfo, "InputTokens") != 5 || tokens(got.GenerationInfo, "OutputTokens") != 2 {
		t.Errorf("GenerationInfo = %v", got.GenerationInfo)
	}
}
