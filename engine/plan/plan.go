package plan

import (
	"encoding/json"
	"fmt"

	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// Limits on what a plan may contain. A plan comes from an LLM, so it is
// untrusted input until Validate accepts it.
const (
	MaxPlanBytes    = 64 << 10
	MaxSteps        = 32
	MaxTemplateLen  = 4000
	MaxAgentTaskLen = 2000
)

// Operator names.
const (
	OpMin = "min"
	OpMax = "max"
)

// Plan is the planner's output.
type Plan struct {
	Steps  []Step `json:"steps"`
	Answer string `json:"answer"`
}

// Step is one entry of a plan; exactly one of the call, agent and op forms.
type Step struct {
	ID string `json:"id"`

	App      string                     `json:"app,omitempty"`
	On       string                     `json:"on,omitempty"`
	Function string                     `json:"function,omitempty"`
	Args     map[string]json.RawMessage `json:"args,omitempty"`

	Agent string `json:"agent,omitempty"`

	Op    string   `json:"op,omitempty"`
	Of    []string `json:"of,omitempty"`
	Field string   `json:"field,omitempty"`
}

// Kind reports which form the step has, judged by its fields.
func (s *Step) Kind() Kind {
	switch {
	case s.Op != "":
		return KindOp
	case s.Agent != "":
		return KindAgent
	default:
		return KindCall
	}
}

// Kind is the form of a step.
type Kind string

// The step kinds.
const (
	KindCall  Kind = "call"
	KindAgent Kind = "agent"
	KindOp    Kind = "op"
)

// Parse decodes a plan strictly: size-capped, no duplicate keys, no unknown
// fields, no trailing data.
func Parse(data []byte) (*Plan, error) {
	var p Plan
	if err := strictjson.Unmarshal(data, &p, MaxPlanBytes); err != nil {
		return nil, fmt.Errorf("parse plan: %w", err)
	}
	return &p, nil
}

// JSON returns the plan's canonical encoding.
func (p *Plan) JSON() json.RawMessage {
	b, err := json.Marshal(p)
	if err != nil {
		// A Plan holds only strings, slices, maps and raw JSON that Parse or
		// Validate already checked, so this cannot happen.
		panic(fmt.Sprintf("plan: marshal: %v", err))
	}
	return b
}
