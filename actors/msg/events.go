package msg

import "time"

// Events for observers (the TUI's live view, engine/metrics) about the life
// of spokes, their workers and steps. They are published on the actor
// system's event stream and never sent to a spoke. Spoke is the spoke
// actor's id as a string (for matching events about the same spoke), never a
// PID anyone could send to.

// SpokeStarted is published when the hub starts a spoke for an app in a
// session.
type SpokeStarted struct {
	SessionID string
	App       string
	Spoke     string
}

// StepQueued is published when a step waits for a worker: the live
// spokes are at the global or the user's cap and none is idle to evict.
type StepQueued struct {
	QueryID   string
	SessionID string
	App       string
	// Queued is how many steps wait, this one included.
	Queued int
}

// QueryQueued is published when a query waits to be admitted: the cap on
// running queries is reached, or others wait before it.
type QueryQueued struct {
	QueryID   string
	SessionID string
	// Queued is how many queries wait, this one included.
	Queued int
}

// SpokeStopped is published when a spoke is gone: stopped when idle, with
// its session, or by its supervisor after too many crashes.
type SpokeStopped struct {
	SessionID string
	App       string
	Spoke     string
	Reason    string
}

// SpokeCrashed is published when a spoke fails and its supervisor (the hub)
// handles the failure.
type SpokeCrashed struct {
	SessionID string
	App       string
	Spoke     string
	Reason    string
}

// Worker states, as a spoke sees its app's worker.
const (
	WorkerStarting = "starting"
	WorkerReady    = "ready"
	WorkerBusy     = "busy"
	WorkerKilled   = "killed"
	// WorkerFailed: the worker could not be started.
	WorkerFailed = "failed"
	// WorkerStopped: the spoke closed its worker.
	WorkerStopped = "stopped"
)

// WorkerChanged is published when a spoke's worker changes state.
type WorkerChanged struct {
	App   string
	Spoke string
	State string
	// PID is the worker's process id; 0 for an app run in the hub's own
	// process (tests) or before it started.
	PID int
	// Calls is how many calls the worker is running.
	Calls int
	// Cause names why a killed worker died (sandbox.Cause: "timeout",
	// "output", "memory", "seccomp", "crash").
	Cause  string
	Reason string
}

// ToolProgress is published when an MCP server reports progress on a
// call (notifications/progress). Message is the server's, untrusted.
type ToolProgress struct {
	QueryID  string
	App      string
	Function string
	Spoke    string
	Progress float64
	Total    float64 // 0 when the server does not know
	Message  string
}

// StepStarted is published when the hub routes a step to a spoke.
type StepStarted struct {
	QueryID   string
	SessionID string
	StepID    string
	App       string
	Function  string
	// Agent is true when the spoke runs its agent loop on a task.
	Agent bool
}

// QueryAnswered is published when a query ends, with what it spent.
type QueryAnswered struct {
	QueryID   string
	SessionID string
	Usage     Usage
	Duration  time.Duration
	Err       string
}
