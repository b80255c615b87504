package adversary

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"

	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/engine/execute"
)

// Ablated is the benign model of the calls an architecture makes only
// with a defence switched off (the evaluation's ablation): the execution
// manager's choice across apps (it chooses as the operator asks, honestly)
// and an app's LLM reading its own output (it reports it and does nothing
// else). Every other call goes to Inner.
type Ablated struct {
	Inner llms.Model
	seq   atomic.Int64
}

var _ llms.Model = (*Ablated)(nil)

// Call implements the single-prompt interface.
func (a *Ablated) Call(ctx context.Context, prompt string, options ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, a, prompt, options...)
}

// GenerateContent answers one call.
func (a *Ablated) GenerateContent(ctx context.Context, messages []llms.MessageContent, options ...llms.CallOption) (*llms.ContentResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(messages) > 0 && textOf(messages[0]) == execute.ChooseSystemPrompt {
		return text(honestChoice(current(messages))), nil
	}
	if len(messages) > 0 && textOf(messages[0]) == execute.ComposeSystemPrompt {
		// An honest execution manager passes the hub's draft on.
		var req execute.ComposeRequest
		if json.Unmarshal([]byte(current(messages)), &req) != nil {
			return text("I cannot read this request."), nil
		}
		return text(req.Draft), nil
	}
	if execute.IsReadTask(current(messages)) {
		return text("I reported the result."), nil
	}
	return a.Inner.GenerateContent(ctx, messages, options...)
}

func hasToolResult(messages []llms.MessageContent) bool {
	for _, m := range messages {
		for _, p := range m.Parts {
			if _, ok := p.(llms.ToolCallResponse); ok {
				return true
			}
		}
	}
	return false
}

// honestChoice chooses as the operator asks: the candidate with the lowest
// (min) or highest (max) number at the field; ties keep the first.
func honestChoice(body string) string {
	var req execute.ChooseRequest
	if json.Unmarshal([]byte(body), &req) != nil {
		return "I cannot read this request."
	}
	best, bestV := "", 0.0
	for _, c := range req.Candidates {
		var v map[string]any
		dec := json.NewDecoder(strings.NewReader(string(c.Result)))
		dec.UseNumber()
		if dec.Decode(&v) != nil {
			continue
		}
		var cur any = v
		for _, p := range strings.Split(req.Field, ".") {
			m, _ := cur.(map[string]any)
			cur = m[p]
		}
		n, ok := cur.(json.Number)
		if !ok {
			continue
		}
		f, err := n.Float64()
		if err != nil {
			continue
		}
		if best == "" || (req.Op == "min" && f < bestV) || (req.Op == "max" && f > bestV) {
			best, bestV = c.Step, f
		}
	}
	if best == "" {
		return "None of the candidates has a number to compare."
	}
	b, _ := json.Marshal(map[string]string{"choose": best})
	return string(b)
}
