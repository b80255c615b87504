package llm

import (
	"context"
	"maps"
	"strings"

	"github.com/tmc/langchaingo/llms"
)

// mergedChoices folds a response's choices into one. langchaingo's Anthropic
// provider returns one choice per content block, so "Let me check." followed
// by a tool_use block puts the tool call in Choices[1], where a caller that
// reads Choices[0] — as for every other provider — would miss it.
type mergedChoices struct {
	llms.Model
}

func (m mergedChoices) Call(ctx context.Context, prompt string, options ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, m, prompt, options...)
}

func (m mergedChoices) GenerateContent(ctx context.Context, messages []llms.MessageContent, options ...llms.CallOption) (*llms.ContentResponse, error) {
	resp, err := m.Model.GenerateContent(ctx, messages, options...)
	if err != nil || resp == nil || len(resp.Choices) == 0 {
		return resp, err
	}
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{mergeChoices(resp.Choices)}}, nil
}

// mergeChoices joins the texts, collects the tool calls in order, and keeps
// the first value seen for each GenerationInfo key (the usage is the same in
// every block).
func mergeChoices(choices []*llms.ContentChoice) *llms.ContentChoice {
	out := &llms.ContentChoice{GenerationInfo: map[string]any{}}
	var texts, reasoning []string
	for _, c := range choices {
		if c == nil {
			continue
		}
		if c.Content != "" {
			texts = append(texts, c.Content)
		}
		if c.ReasoningContent != "" {
			reasoning = append(reasoning, c.ReasoningContent)
		}
		if out.StopReason == "" {
			out.StopReason = c.StopReason
		}
		for _, tc := range c.ToolCalls {
			if tc.Type == "" {
				tc.Type = "function"
			}
			out.ToolCalls = append(out.ToolCalls, tc)
		}
		for k, v := range maps.All(c.GenerationInfo) {
			if _, seen := out.GenerationInfo[k]; !seen {
				out.GenerationInfo[k] = v
			}
		}
	}
	out.Content = strings.Join(texts, "\n")
	out.ReasoningContent = strings.Join(reasoning, "\n")
	if len(out.ToolCalls) > 0 {
		out.FuncCall = out.ToolCalls[0].FunctionCall
	}
	return out
}
