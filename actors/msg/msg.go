package msg

import (
	"encoding/json"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/isolategpt/isolategpt/engine/label"
)

// ── Sessions ────────────────────────────────────────────────────────────────

// OpenSessionRequest starts a user session. FrontEnd receives permission
// prompts for it; nil means no front end, and every prompt is denied.
type OpenSessionRequest struct {
	User     string
	FrontEnd *actor.PID
}

// OpenSessionReply answers OpenSessionRequest.
type OpenSessionReply struct {
	SessionID string
	Err       string
}

// CloseSessionRequest ends a session: its spokes stop, its session grants end.
type CloseSessionRequest struct {
	SessionID string
}

// CloseSessionReply answers CloseSessionRequest.
type CloseSessionReply struct {
	Err string
}

// SessionOpened tells the permission manager about a new session.
type SessionOpened struct {
	SessionID string
	User      string
	FrontEnd  *actor.PID
}

// SessionClosed tells the permission manager a session ended.
type SessionClosed struct {
	SessionID string
}

// ── Queries ─────────────────────────────────────────────────────────────────

// AskRequest runs one user query in a session.
type AskRequest struct {
	QueryID   string
	SessionID string
	Query     string
}

// AskReply answers AskRequest.
type AskReply struct {
	QueryID string
	Answer  *Answer
	Err     string
	// Cause is Err as an error, when the query actor has one to pass on
	// whole (errors.Is finds a store's full disk through it).
	Cause error
}

// PlanAccepted tells the hub which app functions a query's plan may call, so
// that it can tell an expected collaboration from an unexpected one.
type PlanAccepted struct {
	QueryID string
	Calls   []string // "app.function", or "app.*" for an agent step
}

// QueryFinished is the query actor's last word to the hub.
type QueryFinished struct {
	QueryID string
	Reply   *AskReply
}

// ── Steps ───────────────────────────────────────────────────────────────────

// InvokeRequest runs one function of one app. With Task set (and Function
// empty) the spoke runs its agent loop on the task instead.
type InvokeRequest struct {
	CallID    uint64
	QueryID   string
	SessionID string
	StepID    string
	App       string
	Function  string
	Args      json.RawMessage
	Task      string
	// Labels are where the arguments or the task came from; the hub
	// carries them into whatever the app's assistant asks for.
	Labels label.Set
}

// InvokeReply answers InvokeRequest. Result is the app's raw output, not
// yet validated: the hub validates it against the manifest.
type InvokeReply struct {
	CallID  uint64
	QueryID string
	Result  json.RawMessage
	Err     string
	// AppErr is true when Err is the app's own failure text (untrusted).
	AppErr bool
	Usage  Usage
	Tools  []ToolTrace
	// Labels are what the result carries besides its app's own output:
	// the spoke's memory of earlier tasks, data released to its assistant.
	Labels label.Set
}

// ToolTrace records one tool call a spoke made inside its agent loop.
type ToolTrace struct {
	Function string          `json:"function"`
	Args     json.RawMessage `json:"args"`
	Status   string          `json:"status"`
	Reason   string          `json:"reason,omitempty"`
}

// Usage counts LLM calls and tokens.
type Usage struct {
	Calls            int `json:"calls"`
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// Add returns the sum of two usages.
func (u Usage) Add(v Usage) Usage {
	return Usage{u.Calls + v.Calls, u.PromptTokens + v.PromptTokens, u.CompletionTokens + v.CompletionTokens}
}

// ── Inter-spoke communication ───────────────────────────────────────────────

// ISCRequest asks the hub to run another app's function for the sending
// spoke. The hub identifies the sender by its PID; nothing in this message
// says who sent it.
type ISCRequest struct {
	CallID   uint64
	QueryID  string
	Function string // "app.function"
	Args     json.RawMessage
}

// ISCReply answers ISCRequest with the provider's validated result.
type ISCReply struct {
	CallID  uint64
	QueryID string
	Result  json.RawMessage
	Err     string
}

// ExecRequest asks the hub for permission before a spoke's agent loop runs
// one of its own app's functions that has side effects.
type ExecRequest struct {
	CallID   uint64
	QueryID  string
	Function string
	Args     json.RawMessage
}

// ExecReply answers ExecRequest.
type ExecReply struct {
	CallID  uint64
	QueryID string
	Allowed bool
	Reason  string
}

// SpokeIdle tells the hub a spoke has had nothing to do for its idle timeout.
type SpokeIdle struct{}

// ── Permissions ─────────────────────────────────────────────────────────────

// PermissionRequest asks the permission manager whether a flow may happen.
type PermissionRequest struct {
	CallID    uint64
	QueryID   string
	SessionID string
	Prompt    Prompt
}

// PermissionReply answers PermissionRequest.
type PermissionReply struct {
	CallID   uint64
	QueryID  string
	Allowed  bool
	Decision Decision
	// Asked is true when the user was asked, false when a stored grant or
	// a rule decided.
	Asked  bool
	Reason string
}

// PromptRequest is a permission prompt for the front end of a session.
type PromptRequest struct {
	QueryID   string
	SessionID string
	Prompt    Prompt
}

// PromptReply is the user's answer, and who gave it.
type PromptReply struct {
	Decision Decision
	By       Answerer
}

// PermissionDecided is published on the event stream for every decision.
type PermissionDecided struct {
	QueryID   string   `json:"query_id"`
	SessionID string   `json:"session_id"`
	Prompt    Prompt   `json:"prompt"`
	Decision  Decision `json:"decision"`
	Asked     bool     `json:"asked"`
	Reason    string   `json:"reason,omitempty"`
	// Bounded is true when the request was denied unasked because its
	// app had used up its prompts for the query.
	Bounded bool `json:"bounded,omitempty"`
}

// ── Events for observers (published on the actor system's event stream) ─────

// StepFinished is published when a plan step ends.
type StepFinished struct {
	QueryID string
	Outcome StepOutcome
}

// ISCRouted is published for every ISC request the hub handles.
type ISCRouted struct {
	QueryID   string
	From      string // requesting app, as the hub identified it
	Function  string
	Status    string
	Reason    string
	Duration  time.Duration
	SessionID string
}

// ── Status ──────────────────────────────────────────────────────────────────

// StatusRequest asks the hub what is alive.
type StatusRequest struct{}

// StatusReply lists the live sessions, spokes and queries.
type StatusReply struct {
	Sessions int
	Queries  int
	Spokes   []SpokeStatus
	// Mailboxes is how many messages wait in each counted actor's
	// mailbox (the hub, the permission manager, the spokes), by name.
	Mailboxes map[string]int
	// Queued is how many steps wait for a worker because the live
	// spokes are at the global or the user's cap (admission control);
	// QueuedTotal counts every step that ever waited.
	Queued, QueuedTotal int
	// MaxSpokes and MaxSpokesPerUser are the caps on live spokes (each
	// holds at most one worker).
	MaxSpokes, MaxSpokesPerUser int
	// QueriesQueued is how many queries wait to be admitted (at most
	// MaxQueries run at once); QueriesQueuedTotal counts every query that
	// ever waited.
	QueriesQueued, QueriesQueuedTotal, MaxQueries int
}

// SpokeStatus is one live spoke. A spoke is pooled: it serves one user's
// app across that user's sessions; SessionID is the session that started
// it and Sessions how many open sessions use it.
type SpokeStatus struct {
	SessionID string
	User      string
	App       string
	InFlight  int
	Sessions  int
}
