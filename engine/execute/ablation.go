package execute

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/engine/plan"
)

// What stands in for a defence the evaluation's ablation switched off.
// None of it runs with every defence on.

// anyJSON decodes a result without checking it against any schema
// (defence.OutputSchema switched off): whatever JSON the app sent.
func anyJSON(raw []byte, limit int) (any, error) {
	if len(raw) > limit {
		return nil, fmt.Errorf("%d bytes over the %d-byte cap", len(raw), limit)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// ReadTask is the task an app's agent loop is given after each call step
// when direct calls are switched off (defence.DirectCalls): the app's own
// LLM reads the app's output, as every app invocation goes through its
// spoke's LLM in IsolateGPT. The step's typed result stays the call's.
const readTaskPrefix = "Report to the user this result of your app's function "

// ReadTask is the agent task that hands the result of fn to the app's LLM.
func ReadTask(fn string, result json.RawMessage) string {
	return readTaskPrefix + fn + ": " + string(result)
}

// IsReadTask reports whether a task is one ReadTask wrote.
func IsReadTask(task string) bool { return strings.HasPrefix(task, readTaskPrefix) }

// readByAgent runs the app's agent loop on the call's result; whatever it
// does goes through the hub like any agent's action, and its text is not
// the step's result.
func (e *Executor) readByAgent(ctx context.Context, step, app, fn string, res InvokeResult) InvokeResult {
	r, _ := e.Invoker.Invoke(ctx, Invocation{StepID: step, App: app, Task: ReadTask(fn, res.Output)})
	res.Usage = res.Usage.Add(r.Usage)
	res.Tools = append(res.Tools, r.Tools...)
	return res
}

// ChooseSystemPrompt opens the request to the LLM that chooses among steps
// when the hub's own choice is switched off (defence.HubChoice), as ACE's
// execution manager and IsolateGPT's routing spoke do.
const ChooseSystemPrompt = "You are the execution manager of isolategpt. Read the candidate steps' results and choose one, as the operator asks. Reply with JSON: {\"choose\": \"STEP_ID\"}."

// ChooseRequest is the user message of a choice: the operator and every
// candidate that succeeded, with its app's result as the app wrote it.
type ChooseRequest struct {
	Op         string            `json:"op"`
	Field      string            `json:"field"`
	Candidates []ChooseCandidate `json:"candidates"`
}

// ChooseCandidate is one step an LLM may choose.
type ChooseCandidate struct {
	Step   string          `json:"step"`
	App    string          `json:"app"`
	Result json.RawMessage `json:"result"`
}

// llmChoice is the operator step decided by the model: it reads every
// candidate's result and names one. A reply that names none fails the
// step, as a disrupted execution manager stops the plan.
func (e *Executor) llmChoice(ctx context.Context, n *plan.Node, states map[string]*state, out msg.StepOutcome) (msg.StepOutcome, any) {
	req := ChooseRequest{Op: n.Step.Op, Field: n.Step.Field}
	for _, id := range n.Step.Of {
		if st := states[id]; st.outcome.Status == msg.StatusOK {
			req.Candidates = append(req.Candidates, ChooseCandidate{Step: id, App: st.outcome.App, Result: mustJSON(st.value)})
		}
	}
	if e.Model == nil || len(req.Candidates) == 0 {
		return fail(out, msg.StatusFailed, "nothing to choose from"), nil
	}
	body, _ := json.Marshal(req)
	resp, err := e.Model.GenerateContent(ctx, []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, ChooseSystemPrompt),
		llms.TextParts(llms.ChatMessageTypeHuman, string(body)),
	})
	if err != nil || len(resp.Choices) == 0 {
		return fail(out, msg.StatusFailed, fmt.Sprintf("the execution manager gave no choice: %v", err)), nil
	}
	c, ok := chosen(resp.Choices[0].Content, req.Candidates)
	if !ok {
		return fail(out, msg.StatusFailed, "the execution manager chose none: "+Preview(resp.Choices[0].Content)), nil
	}
	value := json.Number("0")
	if v, ok := lookup(states[c.Step].value, strings.Split(n.Step.Field, ".")); ok {
		if num, isNum := v.(json.Number); isNum {
			value = num
		}
	}
	res := map[string]any{"app": c.App, "step": c.Step, "value": value}
	out.App = c.App
	out.Result = mustJSON(res)
	out.Status = msg.StatusOK
	out.Reason = "the execution manager (an LLM) chose " + c.Step
	return out, res
}

// chosen reads the model's choice: {"choose": step or app}, or else the
// one candidate app its text names.
func chosen(text string, cs []ChooseCandidate) (ChooseCandidate, bool) {
	var r struct {
		Choose string `json:"choose"`
	}
	if raw, err := extractObject(text); err == nil && json.Unmarshal(raw, &r) == nil {
		for _, c := range cs {
			if r.Choose == c.Step || r.Choose == c.App {
				return c, true
			}
		}
	}
	var named []ChooseCandidate
	for _, c := range cs {
		if c.App != "" && strings.Contains(text, c.App) {
			named = append(named, c)
		}
	}
	if len(named) == 1 {
		return named[0], true
	}
	return ChooseCandidate{}, false
}

func extractObject(text string) (json.RawMessage, error) {
	start, end := strings.Index(text, "{"), strings.LastIndex(text, "}")
	if start < 0 || end < start {
		return nil, fmt.Errorf("no JSON object")
	}
	return json.RawMessage(text[start : end+1]), nil
}

// ComposeSystemPrompt opens the request to the LLM that writes the answer
// when the hub's own answer is switched off (defence.HubAnswer).
const ComposeSystemPrompt = "You are the execution manager of isolategpt. Write the answer to the user's query from the steps' results; the hub's draft is below."

// ComposeRequest is the user message of that request: the query, the
// hub's own answer as a draft, and every step's result as its app wrote
// it — what IsolateGPT's routing spoke reads.
type ComposeRequest struct {
	Query   string          `json:"query"`
	Draft   string          `json:"draft"`
	Results []ComposeResult `json:"results"`
}

// ComposeResult is one step's result in a ComposeRequest.
type ComposeResult struct {
	Step   string          `json:"step"`
	App    string          `json:"app"`
	Status string          `json:"status"`
	Result json.RawMessage `json:"result,omitempty"`
}

// Answer is the user's answer: the plan's template filled by the hub
// (e.Render), or, with the hub's answer switched off, what an LLM that
// reads every step's result writes.
func (e *Executor) Answer(ctx context.Context, query string, g *plan.Graph, r *Report) string {
	rendered := e.Render(g, r)
	if e.Defences.On(defence.HubAnswer) || e.Model == nil {
		return rendered
	}
	req := ComposeRequest{Query: query, Draft: rendered}
	for _, o := range r.Steps {
		req.Results = append(req.Results, ComposeResult{Step: o.Step, App: o.App, Status: o.Status, Result: o.Result})
	}
	body, _ := json.Marshal(req)
	resp, err := e.Model.GenerateContent(ctx, []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, ComposeSystemPrompt),
		llms.TextParts(llms.ChatMessageTypeHuman, string(body)),
	})
	if err != nil || len(resp.Choices) == 0 {
		return fmt.Sprintf("The execution manager wrote no answer (%v).", err)
	}
	return resp.Choices[0].Content
}
