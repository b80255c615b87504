package llm

import (
	"context"
	"encoding/json"
	"math"
	"sync"

	"github.com/tmc/langchaingo/llms"
)

// Usage accumulates the model calls and tokens spent on behalf of one
// context (a query, an evaluation run). It is safe for concurrent use; the
// zero value is ready.
type Usage struct {
	mu sync.Mutex
	s  UsageSnapshot
}

// UsageSnapshot is a copy of a Usage's counters.
type UsageSnapshot struct {
	Calls            int `json:"calls"`
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// Add adds s to the counters; it lets a caller fold one Usage into another.
func (u *Usage) Add(s UsageSnapshot) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.s.Calls += s.Calls
	u.s.PromptTokens += s.PromptTokens
	u.s.CompletionTokens += s.CompletionTokens
}

// Snapshot returns the counters. A nil Usage reports zeros.
func (u *Usage) Snapshot() UsageSnapshot {
	if u == nil {
		return UsageSnapshot{}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.s
}

type usageKey struct{}

// WithUsage returns a context whose metered model calls are counted in u.
func WithUsage(ctx context.Context, u *Usage) context.Context {
	return context.WithValue(ctx, usageKey{}, u)
}

// UsageFrom returns the Usage ctx carries, or nil.
func UsageFrom(ctx context.Context) *Usage {
	u, _ := ctx.Value(usageKey{}).(*Usage)
	return u
}

// Metered wraps m so that every call is counted in the Usage of the call's
// context; with none, calls pass straight through. Failed calls count as
// calls (a request went out) with whatever tokens they reported: none.
// Wrapping a metered model again returns it unchanged, so nothing is counted
// twice.
func Metered(m llms.Model) llms.Model {
	if _, ok := m.(metered); ok {
		return m
	}
	return metered{m}
}

type metered struct {
	model llms.Model
}

func (m metered) Call(ctx context.Context, prompt string, options ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, m, prompt, options...)
}

func (m metered) GenerateContent(ctx context.Context, messages []llms.MessageContent, options ...llms.CallOption) (*llms.ContentResponse, error) {
	resp, err := m.model.GenerateContent(ctx, messages, options...)
	if u := UsageFrom(ctx); u != nil {
		s := UsageSnapshot{Calls: 1}
		if resp != nil && len(resp.Choices) > 0 && resp.Choices[0] != nil {
			info := resp.Choices[0].GenerationInfo
			s.PromptTokens = tokens(info, "PromptTokens", "InputTokens")
			s.CompletionTokens = tokens(info, "CompletionTokens", "OutputTokens")
		}
		u.Add(s)
	}
	return resp, err
}

// tokens reads the first of keys present in info as a count. Providers
// differ in names (OpenAI PromptTokens, Anthropic InputTokens) and in types;
// negative or absurd values, which only a broken server sends, count as 0.
func tokens(info map[string]any, keys ...string) int {
	for _, k := range keys {
		v, ok := info[k]
		if !ok {
			continue
		}
		var n float64
		switch x := v.(type) {
		case int:
			n = float64(x)
		case int32:
			n = float64(x)
		case int64:
			n = float64(x)
		case float64:
			n = x
		case json.Number:
			f, err := x.Float64()
			if err != nil {
				return 0
			}
			n = f
		default:
			return 0
		}
		if n < 0 || n > math.MaxInt32 || math.IsNaN(n) {
			return 0
		}
		return int(n)
	}
	return 0
}
