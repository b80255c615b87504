package msg

import (
	"encoding/json"
	"time"

	"github.com/isolategpt/isolategpt/engine/label"
)

// Step statuses.
const (
	StatusOK      = "ok"
	StatusFailed  = "failed"
	StatusDenied  = "denied"
	StatusSkipped = "skipped"
)

// StepOutcome is what happened to one plan step, attributed to its app.
type StepOutcome struct {
	Step     string          `json:"step"`
	Kind     string          `json:"kind"`
	App      string          `json:"app,omitempty"`
	Function string          `json:"function,omitempty"`
	Args     json.RawMessage `json:"args,omitempty"`
	Result   json.RawMessage `json:"result,omitempty"`
	Status   string          `json:"status"`
	Reason   string          `json:"reason,omitempty"`
	Tools    []ToolTrace     `json:"tools,omitempty"`
	// Labels are where the step's result came from: its app's output and
	// everything the step was given (engine/label).
	Labels   label.Set     `json:"labels,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// PermissionEvent is one permission decision made while a query ran.
type PermissionEvent struct {
	Prompt   Prompt   `json:"prompt"`
	Decision Decision `json:"decision"`
	Asked    bool     `json:"asked"`
	Reason   string   `json:"reason,omitempty"`
	Bounded  bool     `json:"bounded,omitempty"`
}

// Answer is the result of one query.
type Answer struct {
	QueryID     string            `json:"query_id"`
	Text        string            `json:"answer"`
	Model       string            `json:"model"`
	Offline     bool              `json:"offline"`
	Plan        json.RawMessage   `json:"plan,omitempty"`
	Steps       []StepOutcome     `json:"steps"`
	Permissions []PermissionEvent `json:"permissions"`
	Usage       Usage             `json:"llm"`
	Duration    time.Duration     `json:"duration_ns"`
}
