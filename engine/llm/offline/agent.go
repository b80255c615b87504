package offline

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tmc/langchaingo/llms"
)

// agentTurn is one turn of a spoke's agent loop. The offline model cannot
// reason: it calls the one tool whose name best matches the task when it can
// fill every required argument from the task, and reports a tool's result
// once it has one.
func agentTurn(messages []llms.MessageContent, tools []llms.Tool) *llms.ContentResponse {
	_, task := humanTexts(messages)
	for i := len(messages) - 1; i >= 0; i-- {
		for _, p := range messages[i].Parts {
			if r, ok := p.(llms.ToolCallResponse); ok {
				return textReply(fmt.Sprintf("%s returned: %s", r.Name, r.Content))
			}
		}
	}
	f := readFacts(task)
	var (
		best      *llms.Tool
		bestScore = -1
		ties      int
	)
	for i := range tools {
		t := &tools[i]
		if t.Function == nil || strings.Contains(t.Function.Name, "__") {
			continue // another app's function: the offline model never asks for one
		}
		s := f.score(t.Function.Name)
		switch {
		case s > bestScore:
			best, bestScore, ties = t, s, 0
		case s == bestScore:
			ties++
		}
	}
	if best == nil {
		return textReply("The " + Label + " does not write free text; configure an LLM with --llm to use this app's instructions.")
	}
	if ties > 0 {
		// Two functions match the task equally well: guessing could run a
		// write function the user did not ask for.
		return textReply("The " + Label + " could not tell which function of this app the task needs.")
	}
	sch := map[string]any{}
	if raw, err := json.Marshal(best.Function.Parameters); err == nil {
		_ = json.Unmarshal(raw, &sch)
	}
	args, missing := f.fill(sch)
	if len(missing) > 0 {
		return textReply(fmt.Sprintf("To run %s this app needs: %s. Please give them in your request.", best.Function.Name, strings.Join(missing, ", ")))
	}
	b, _ := json.Marshal(args)
	call := llms.ToolCall{ID: "offline_1", Type: "function", FunctionCall: &llms.FunctionCall{Name: best.Function.Name, Arguments: string(b)}}
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{ToolCalls: []llms.ToolCall{call}, FuncCall: call.FunctionCall, StopReason: "tool_calls"}}}
}
