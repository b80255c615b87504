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
	Labels label.Set `json:"labels,omitempty"`
	// Duration is written as duration_ms (see MarshalJSON).
	Duration time.Duration `json:"-"`
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
	QueryID string `json:"query_id"`
	// Status is how much of the work the query asked for was done
	// (Judge); the query actor sets it.
	Status      Outcome           `json:"status,omitempty"`
	Text        string            `json:"answer"`
	Model       string            `json:"model"`
	Offline     bool              `json:"offline"`
	Plan        json.RawMessage   `json:"plan,omitempty"`
	Steps       []StepOutcome     `json:"steps"`
	Permissions []PermissionEvent `json:"permissions"`
	Usage       Usage             `json:"llm"`
	// Duration is written as duration_ms (see MarshalJSON).
	Duration time.Duration `json:"-"`
	// Store is the first store error (a full disk, a damaged store) the
	// query met, nil when none: a step whose start could not be recorded
	// did not run, and front ends exit with their store code for it.
	Store error `json:"-"`
}

// Every duration isolategpt writes as JSON is duration_ms: milliseconds,
// to the microsecond — in ask --json, batch lines, the audit log.

// MarshalJSON writes the outcome with its duration in milliseconds.
func (s StepOutcome) MarshalJSON() ([]byte, error) {
	type plain StepOutcome
	return json.Marshal(struct {
		plain
		DurationMS float64 `json:"duration_ms"`
	}{plain(s), Millis(s.Duration)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *StepOutcome) UnmarshalJSON(b []byte) error {
	type plain StepOutcome
	var v struct {
		plain
		DurationMS float64 `json:"duration_ms"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = StepOutcome(v.plain)
	s.Duration = time.Duration(v.DurationMS * float64(time.Millisecond))
	return nil
}

// MarshalJSON writes the answer with its duration in milliseconds.
func (a Answer) MarshalJSON() ([]byte, error) {
	type plain Answer
	return json.Marshal(struct {
		plain
		DurationMS float64 `json:"duration_ms"`
	}{plain(a), Millis(a.Duration)})
}

// Millis is d in milliseconds, to the microsecond.
func Millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
