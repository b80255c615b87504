// Package planner turns a user query into a validated plan with one LLM call
// that sees only trusted input: the query, the hub's own memory and the
// catalog of identifiers and typed schemas (DESIGN.md P3). A rejected plan
// gets one re-plan with the hub's reason.
package planner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/engine/plan"
)

// ErrRejected is returned when the plan and its one re-plan were both invalid.
var ErrRejected = errors.New("plan rejected")

// Request is the planner's input, sent to the model as one JSON document.
// Nothing in it is written by an app.
type Request struct {
	Query   string          `json:"query"`
	Memory  []string        `json:"memory"`
	Catalog []plan.AppEntry `json:"catalog"`
}

// Planner plans queries.
type Planner struct {
	Model   llms.Model
	Catalog *plan.Catalog
	// Defences is which defences are on (all, outside the evaluation): the
	// catalog the model sees is plan.Catalog.View.
	Defences defence.Set
}

// Result is an accepted plan and how it was reached.
type Result struct {
	Graph      *plan.Graph
	Attempts   int
	Rejections []string
}

// Plan asks the model for a plan and validates it, re-planning once.
func (p *Planner) Plan(ctx context.Context, query string, memory []string) (*Result, error) {
	body, err := EncodeRequest(query, memory, p.Catalog.ViewJSON(p.Defences))
	if err != nil {
		return nil, err
	}
	msgs := []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, SystemPrompt),
		llms.TextParts(llms.ChatMessageTypeHuman, string(body)),
	}
	res := &Result{}
	for attempt := 1; attempt <= 2; attempt++ {
		res.Attempts = attempt
		resp, err := p.Model.GenerateContent(ctx, msgs, llms.WithTemperature(0))
		if err != nil {
			return nil, fmt.Errorf("plan: model: %w", err)
		}
		if len(resp.Choices) == 0 {
			return nil, errors.New("plan: model returned no choice")
		}
		text := resp.Choices[0].Content
		g, err := accept(text, p.Catalog)
		if err == nil {
			res.Graph = g
			return res, nil
		}
		res.Rejections = append(res.Rejections, err.Error())
		msgs = append(msgs,
			llms.TextParts(llms.ChatMessageTypeAI, text),
			llms.TextParts(llms.ChatMessageTypeHuman, RejectionPrefix+err.Error()+". Return a corrected plan as one JSON object only."),
		)
	}
	return res, fmt.Errorf("%w: %s", ErrRejected, strings.Join(res.Rejections, "; then: "))
}

// EncodeRequest is the JSON of Request{query, memory, catalog}, with the
// catalog already encoded (plan.Catalog.ViewJSON, computed once per
// catalog): the bytes json.Marshal would give, without re-encoding the
// catalog on every plan.
func EncodeRequest(query string, memory []string, catalog json.RawMessage) ([]byte, error) {
	if memory == nil {
		memory = []string{}
	}
	q, err := json.Marshal(query)
	if err != nil {
		return nil, fmt.Errorf("plan: encode request: %w", err)
	}
	m, err := json.Marshal(memory)
	if err != nil {
		return nil, fmt.Errorf("plan: encode request: %w", err)
	}
	body := make([]byte, 0, len(q)+len(m)+len(catalog)+32)
	body = append(body, `{"query":`...)
	body = append(body, q...)
	body = append(body, `,"memory":`...)
	body = append(body, m...)
	body = append(body, `,"catalog":`...)
	body = append(body, catalog...)
	return append(body, '}'), nil
}

// RejectionPrefix starts the hub's message that asks for a re-plan.
const RejectionPrefix = "The hub rejected this plan: "

func accept(text string, c *plan.Catalog) (*plan.Graph, error) {
	raw, err := extractJSON(text)
	if err != nil {
		return nil, err
	}
	p, err := plan.Parse(raw)
	if err != nil {
		return nil, err
	}
	return plan.Validate(p, c)
}

// extractJSON finds the plan object in a model's reply, which may wrap it in
// prose or a code fence.
func extractJSON(text string) ([]byte, error) {
	start := strings.Index(text, "{")
	end := strings.LastIndex(text, "}")
	if start < 0 || end < start {
		return nil, errors.New("the reply holds no JSON object")
	}
	raw := []byte(text[start : end+1])
	if json.Valid(raw) {
		return raw, nil
	}
	// Prose after the object may hold braces of its own ("the hub fills
	// {{m.fare}} in"): take the one JSON value that starts at the first "{".
	// If there is none, the span goes to Parse, whose error says why.
	var obj json.RawMessage
	if json.NewDecoder(strings.NewReader(text[start:])).Decode(&obj) == nil {
		return obj, nil
	}
	return raw, nil
}

// SystemPrompt tells the model how to plan. It is written by the hub.
const SystemPrompt = `You are the planner of isolategpt, an assistant whose apps run isolated from each other.
Turn the user's query into a JSON plan that the hub will execute. The user message is a JSON document with:
- "query": the user's request;
- "memory": the hub's notes on earlier queries of this user;
- "catalog": the installed apps, each with functions given by name, effect ("write" means it changes something) and typed JSON schemas for input and output.

Return exactly one JSON object: {"steps": [...], "answer": "..."}.

Step forms (every step has a unique "id" of lower-case letters, digits and _):
1. call: {"id": "a", "app": "APP", "function": "FUNCTION", "args": {"param": value}}
   A value is a literal JSON value or a reference {"$ref": "step.field"} to an earlier step's result.
2. call on an operator's choice: {"id": "b", "on": "OPERATOR_STEP_ID", "function": "FUNCTION", "args": {...}}
   runs FUNCTION on whichever app the operator chose.
3. agent: {"id": "c", "app": "APP", "agent": "task in plain words"} when the work needs reasoning inside one app
   (apps of kind "prompt" have no functions and take only agent steps).
4. operator: {"id": "d", "op": "min" | "max", "of": ["a", "b"], "field": "numeric_output_field"}
   chooses the step whose field is lowest or highest; its result has "app", "step" and "value".

"answer" is the reply to the user, written now, before any app runs, with placeholders {{step.field}}
that the hub fills in; for an operator use {{d.app}} and {{d.value}}. Name the app beside each value.
Use only apps and functions from the catalog and fill every required argument. Steps without references
between them run in parallel. If no app is needed, return {"steps": [], "answer": "your reply"}.
Return only the JSON object.

Example: for "compare the fares of metro_hail and quick_ride from A to B and book the cheaper one":
{"steps": [
 {"id": "m", "app": "metro_hail", "function": "estimate_fare", "args": {"start_point": "A", "end_point": "B"}},
 {"id": "q", "app": "quick_ride", "function": "estimate_fare", "args": {"start_point": "A", "end_point": "B"}},
 {"id": "cheapest", "op": "min", "of": ["m", "q"], "field": "fare"},
 {"id": "book", "on": "cheapest", "function": "book_ride", "args": {"start_point": "A", "end_point": "B"}}],
 "answer": "metro_hail: {{m.fare}}, quick_ride: {{q.fare}}. Booked with {{cheapest.app}} at {{cheapest.value}}: {{book.booking_id}}."}`
