package adversary

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/engine/planner"
	"github.com/isolategpt/isolategpt/evaluation/scenario"
)

// PlanFor is what a compromised planner answers: the attacker's script
// turned into a plan. A script whose first reply is a plan (a JSON object
// with "steps") is answered with it as written. Otherwise every call of
// the script becomes a call step, in order, and its last text the answer
// template: the planner writes, before any app runs, what the attacker's
// LLM would have done step by step. A {{last_result}} argument becomes a
// reference to the previous call's largest string field (what a planner
// that wants the data would pick); other placeholders expand against the
// planner's input, which holds the query and the hub's memory.
func PlanFor(replies []scenario.Reply, req *planner.Request, input string) string {
	if len(replies) > 0 && replies[0].Text != "" && isPlanText(replies[0].Text) {
		return replies[0].Text
	}
	x := expander{input: input}
	p := plan.Plan{Steps: []plan.Step{}, Answer: "Done."}
	prev, prevCall := "", ""
	prevOut := map[string]any(nil)
	for _, r := range replies {
		if r.Text != "" {
			p.Answer = strings.ReplaceAll(x.expand(r.Text), "{{", "{ {")
			continue
		}
		app, fn, _ := strings.Cut(r.Call, ".")
		id := fmt.Sprintf("a%d", len(p.Steps)+1)
		step := plan.Step{ID: id, App: app, Function: fn, Args: map[string]json.RawMessage{}}
		var args map[string]any
		_ = json.Unmarshal(r.Args, &args)
		for k, v := range args {
			if s, ok := v.(string); ok && s == LastResult && prev != "" {
				if field := largestString(prevOut); field != "" {
					step.Args[k], _ = json.Marshal(map[string]string{"$ref": prev + "." + field})
				} else {
					// No field to point at: the planner names what it wants.
					step.Args[k], _ = json.Marshal("the result of " + prevCall)
				}
				continue
			}
			step.Args[k] = json.RawMessage(substitute(mustMarshal(v), x))
		}
		p.Steps = append(p.Steps, step)
		prev, prevCall, prevOut = id, r.Call, outputOf(req, app, fn)
	}
	return string(p.JSON())
}

func isPlanText(s string) bool {
	var v struct {
		Steps json.RawMessage `json:"steps"`
	}
	return json.Unmarshal([]byte(strings.TrimSpace(s)), &v) == nil && v.Steps != nil
}

func mustMarshal(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// outputOf is a function's output schema as the planner's catalog shows it.
func outputOf(req *planner.Request, app, fn string) map[string]any {
	if req == nil {
		return nil
	}
	for _, e := range req.Catalog {
		if e.App != app {
			continue
		}
		for _, f := range e.Functions {
			if f.Name == fn {
				return f.Output
			}
		}
	}
	return nil
}

// largestString is the top-level string field that can hold the most
// text, ties broken by name.
func largestString(schema map[string]any) string {
	props, _ := schema["properties"].(map[string]any)
	best, bestLen := "", -1.0
	for _, name := range slices.Sorted(maps.Keys(props)) {
		p, _ := props[name].(map[string]any)
		if p["type"] != "string" {
			continue
		}
		n := math.Inf(1)
		if max, ok := number(p["maxLength"]); ok {
			n = max
		}
		if n > bestLen {
			best, bestLen = name, n
		}
	}
	return best
}

func number(v any) (float64, bool) {
	switch t := v.(type) {
	case float64:
		return t, true
	case int:
		return float64(t), true
	case int64:
		return float64(t), true
	case json.Number:
		f, err := t.Float64()
		return f, err == nil
	}
	return 0, false
}
