// Package sandbox defines how the hub reaches an app: a connection that lists
// an app's tools and calls them with JSON in and JSON out, shaped after MCP so
// that the same interface can be served by an in-process app today and by a
// confined worker process (`isolategpt worker`) tomorrow.
package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Tool is one function an app offers, as its connection reports it.
// Everything in it is the app's word.
type Tool struct {
	Name         string           `json:"name"`
	Title        string           `json:"title,omitempty"`
	Description  string           `json:"description,omitempty"`
	InputSchema  json.RawMessage  `json:"inputSchema"`
	OutputSchema json.RawMessage  `json:"outputSchema,omitempty"`
	Annotations  *ToolAnnotations `json:"annotations,omitempty"`
	// TaskSupport is MCP's execution.taskSupport: "required" means the
	// tool runs only as a task, which isolategpt does not offer.
	TaskSupport string `json:"taskSupport,omitempty"`
}

// ToolAnnotations are MCP's hints about a tool: claims of the app, which
// the hub may propose to the user but never trusts on its own.
type ToolAnnotations struct {
	ReadOnlyHint    *bool `json:"readOnlyHint,omitempty"`
	DestructiveHint *bool `json:"destructiveHint,omitempty"`
	IdempotentHint  *bool `json:"idempotentHint,omitempty"`
	OpenWorldHint   *bool `json:"openWorldHint,omitempty"`
}

// Conn is a live connection to one app instance. Implementations must be safe
// for concurrent use: a spoke may run several calls at once.
type Conn interface {
	// ListTools reports the tools the app offers.
	ListTools(ctx context.Context) ([]Tool, error)
	// CallTool runs one tool. A returned *ToolError is the app's own failure
	// (its text is app-authored and untrusted); any other error is a failure
	// of the connection itself.
	CallTool(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error)
	// Close releases the app instance. Calls after Close fail with ErrClosed.
	Close() error
}

// Kinds of app a launcher can start.
const (
	// KindBuiltin is an app compiled into this binary.
	KindBuiltin = "builtin"
	// KindMCP is an external MCP server, run as a program in the sandbox.
	KindMCP = "mcp"
)

// App is what a launcher needs to start one app: hub-authored facts taken
// from the app's pinned manifest, never from the app.
//
// What an MCP server finds in its sandbox (sandbox/launch): a root holding
// only the system's programs and libraries (/usr, /bin, /lib…, TLS roots,
// no other host configuration), /proc of its own pid namespace, /dev
// (null, zero, full, random, urandom), its folder at DataPath (HOME, its
// working folder, never executable) and /tmp (TMPDIR); PATH is
// /usr/local/bin:/usr/bin:/bin. Env adds to that.
type App struct {
	ID   string
	Kind string // KindBuiltin or KindMCP
	// Command is an MCP server's program and arguments (a program given by
	// absolute path is shown read-only at that path); Env is the
	// environment its manifest allows (KEY=VALUE), added to the base.
	Command []string
	Env     []string
	// ReadOnly are host paths an MCP server may read and run programs from
	// besides the system's (its installed files), shown at their own
	// absolute paths.
	ReadOnly []string
	// Domains are the eTLD+1 domains the app may reach through the hub's
	// egress proxy; none means no network at all.
	Domains []string
	// User and Session are whose session the instance serves, for the
	// attribution of what it does (its egress, in the audit log).
	User, Session string
	// CallTimeout, when set, is this app's wall-clock limit of one call
	// in place of the launcher's.
	CallTimeout time.Duration
	// NoRoots withholds MCP roots from an MCP server (by default it is
	// offered one: its own folder, DataPath).
	NoRoots bool
}

// Launcher starts app instances.
type Launcher interface {
	// Launch starts the app. dataDir is the only folder the app may keep
	// state in; it is created if missing.
	Launch(ctx context.Context, app App, dataDir string) (Conn, error)
}

// DataPath is where an app finds its own data folder inside its sandbox
// (and its working folder): the same short path for every app, whatever
// the host path.
const DataPath = "/run/app"

// PIDer is implemented by connections to an app in its own process.
type PIDer interface {
	// PID is the app's process id as the hub sees it.
	PID() int
}

// ToolError is an error reported by the app itself. Message is app-authored.
type ToolError struct {
	Message string
}

func (e *ToolError) Error() string { return "app error: " + e.Message }

// ErrClosed is returned by calls on a closed connection.
var ErrClosed = errors.New("sandbox: connection closed")

// ErrDead wraps every error that means the app instance is gone (crashed,
// killed by a limit, or its stream broke): the connection is useless and
// the next call must start a fresh one.
var ErrDead = errors.New("sandbox: app instance is gone")

// Causes of a worker's death.
const (
	CauseTimeout = "timeout" // passed its wall-clock limit
	CauseOutput  = "output"  // passed its output size limit
	CauseMemory  = "memory"  // ran out of its memory (cgroup) or address-space limit
	CauseCPU     = "cpu"     // used up its CPU time, all its processes together
	CauseSeccomp = "seccomp" // made a forbidden system call
	CauseCrash   = "crash"   // exited, was killed, or broke its stream
)

// DeadError is an ErrDead with its cause, for metrics and the live view.
type DeadError struct {
	Cause string
	Msg   string
}

func (e *DeadError) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, ErrDead) true.
func (e *DeadError) Unwrap() error { return ErrDead }

// Cause is the cause of a dead app instance's error, or "" when err does
// not mean the instance is gone.
func Cause(err error) string {
	var de *DeadError
	if errors.As(err, &de) {
		return de.Cause
	}
	if errors.Is(err, ErrDead) {
		return CauseCrash
	}
	return ""
}
