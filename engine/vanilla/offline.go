package vanilla

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/engine/llm/offline"
	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/engine/planner"
)

// Offline drives the baseline's one context on the offline model: it
// behaves as an obedient LLM that reads every tool result would, but
// deterministically. Each turn it re-derives, from the query alone, the plan
// the offline planner makes for it, matches the tool calls already in the
// conversation to that plan's steps in order, and either calls the next
// step's tool or — once every step has run — answers by filling the plan's
// template with the values it read in the tool results. Comparisons (the
// cheapest ride) are made by this "LLM" on what it read, as in VanillaGPT.
//
// It is not an LLM; answers say so.
type Offline struct {
	catalog *plan.Catalog
	agent   *offline.Model
}

// NewOffline returns the driver for apps in catalog.
func NewOffline(c *plan.Catalog) *Offline { return &Offline{catalog: c, agent: offline.New()} }

// Call implements the single-prompt interface.
func (o *Offline) Call(ctx context.Context, prompt string, options ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, o, prompt, options...)
}

type executed struct {
	content string
	value   any // the decoded object, nil when the call failed
}

// GenerateContent answers one turn.
func (o *Offline) GenerateContent(ctx context.Context, messages []llms.MessageContent, _ ...llms.CallOption) (*llms.ContentResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	query, done := o.conversation(messages)
	text, err := offline.Plan(planner.Request{Query: query, Memory: []string{}, Catalog: o.catalog.PlannerView()})
	if err != nil {
		return nil, fmt.Errorf("vanilla offline: %w", err)
	}
	p, err := plan.Parse([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("vanilla offline: %w", err)
	}
	g, err := plan.Validate(p, o.catalog)
	if err != nil {
		return nil, fmt.Errorf("vanilla offline: %w", err)
	}
	values := map[string]any{}
	appOf := map[string]string{}
	cursor := 0
	// next hands out the results of the calls already made, in order; when
	// they run out, the step needs a call now.
	next := func() (executed, bool) {
		if cursor < len(done) {
			cursor++
			return done[cursor-1], true
		}
		return executed{}, false
	}
	for _, n := range g.Nodes {
		s := n.Step
		switch n.Kind {
		case plan.KindOp:
			if v, ok := choose(s, values, appOf); ok {
				values[s.ID] = v
			}
		case plan.KindAgent:
			call, answer := o.agentStep(ctx, s.App, s.Agent)
			if call == nil {
				values[s.ID] = map[string]any{"text": answer}
				continue
			}
			r, ok := next()
			if !ok {
				return toolCall(*call, len(done)), nil
			}
			values[s.ID] = map[string]any{"text": fmt.Sprintf("%s returned: %s", call.Name, r.content)}
		default:
			app := s.App
			if s.On != "" {
				chosen, _ := values[s.On].(map[string]any)
				app, _ = chosen["app"].(string)
				if app == "" {
					continue // nothing was chosen: the step cannot run
				}
			}
			r, ok := next()
			if !ok {
				args, _ := json.Marshal(literalArgs(n, values))
				return toolCall(llms.FunctionCall{Name: app + Separator + s.Function, Arguments: string(args)}, len(done)), nil
			}
			appOf[s.ID] = app
			if r.value != nil {
				values[s.ID] = r.value
			}
		}
	}
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: render(g, values), StopReason: "stop"}}}, nil
}

// conversation returns the current query and the results of the tool
// calls made since it was asked.
func (o *Offline) conversation(messages []llms.MessageContent) (string, []executed) {
	last := -1
	for i, m := range messages {
		if m.Role == llms.ChatMessageTypeHuman {
			last = i
		}
	}
	if last < 0 {
		return "", nil
	}
	var query strings.Builder
	for _, p := range messages[last].Parts {
		if t, ok := p.(llms.TextContent); ok {
			query.WriteString(t.Text)
		}
	}
	var done []executed
	for _, m := range messages[last+1:] {
		for _, p := range m.Parts {
			r, ok := p.(llms.ToolCallResponse)
			if !ok {
				continue
			}
			e := executed{content: r.Content}
			var v map[string]any
			dec := json.NewDecoder(strings.NewReader(r.Content))
			dec.UseNumber()
			if !strings.HasPrefix(r.Content, "error: ") && dec.Decode(&v) == nil && v != nil {
				e.value = v
			}
			done = append(done, e)
		}
	}
	return query.String(), done
}

// agentStep asks the offline model, as an agent of that one app, what to
// do: the tool call it would make, or its text answer.
func (o *Offline) agentStep(ctx context.Context, app, task string) (*llms.FunctionCall, string) {
	m, ok := o.catalog.App(app)
	if !ok {
		return nil, ""
	}
	var tools []llms.Tool
	for _, f := range m.Functions {
		params, _ := json.Marshal(f.Input)
		tools = append(tools, llms.Tool{Type: "function", Function: &llms.FunctionDefinition{Name: f.Name, Parameters: json.RawMessage(params)}})
	}
	resp, err := o.agent.GenerateContent(ctx, []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, task)}, llms.WithTools(tools))
	if err != nil || len(resp.Choices) == 0 {
		return nil, ""
	}
	c := resp.Choices[0]
	if len(c.ToolCalls) == 0 || c.ToolCalls[0].FunctionCall == nil {
		return nil, c.Content
	}
	fc := *c.ToolCalls[0].FunctionCall
	fc.Name = app + Separator + fc.Name
	return &fc, ""
}

func toolCall(fc llms.FunctionCall, n int) *llms.ContentResponse {
	call := llms.ToolCall{ID: fmt.Sprintf("vanilla_%d", n+1), Type: "function", FunctionCall: &fc}
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{ToolCalls: []llms.ToolCall{call}, FuncCall: &fc, StopReason: "tool_calls"}}}
}

// literalArgs fills a step's arguments; references read the values seen.
func literalArgs(n *plan.Node, values map[string]any) map[string]any {
	out := make(map[string]any, len(n.Args))
	for name, a := range n.Args {
		if a.Ref == nil {
			out[name] = a.Value
			continue
		}
		if v, ok := lookup(values[a.Ref.Step], a.Ref.Path); ok {
			out[name] = v
		}
	}
	return out
}

// choose is the "LLM" comparing the numbers it read.
func choose(s *plan.Step, values map[string]any, appOf map[string]string) (map[string]any, bool) {
	var best float64
	var bestStep string
	path := strings.Split(s.Field, ".")
	for _, id := range s.Of {
		v, ok := lookup(values[id], path)
		if !ok {
			continue
		}
		f, ok := number(v)
		if !ok {
			continue
		}
		if bestStep == "" || (s.Op == plan.OpMin && f < best) || (s.Op == plan.OpMax && f > best) {
			best, bestStep = f, id
		}
	}
	if bestStep == "" {
		return nil, false
	}
	return map[string]any{"step": bestStep, "app": appOf[bestStep], "value": json.Number(fmt.Sprint(best))}, true
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
	case float64:
		return n, true
	}
	return 0, false
}

// lookup follows a reference's path through objects and, by index, arrays.
func lookup(v any, path []string) (any, bool) {
	for _, p := range path {
		switch t := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = t[p]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			v = t[i]
		default:
			return nil, false
		}
	}
	return v, v != nil
}

func render(g *plan.Graph, values map[string]any) string {
	var b strings.Builder
	for _, seg := range g.Template {
		if seg.Ref == nil {
			b.WriteString(seg.Text)
			continue
		}
		v, ok := lookup(values[seg.Ref.Step], seg.Ref.Path)
		if !ok {
			fmt.Fprintf(&b, "(no %s)", seg.Ref)
			continue
		}
		switch t := v.(type) {
		case string:
			b.WriteString(t)
		case json.Number:
			b.WriteString(t.String())
		default:
			js, _ := json.Marshal(t)
			b.Write(js)
		}
	}
	return strings.TrimSpace(b.String())
}
