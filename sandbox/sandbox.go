// Package sandbox defines how the hub reaches an app: a connection that lists
// an app's tools and calls them with JSON in and JSON out, shaped after MCP so
// that the same interface can be served by an in-process app today and by a
// confined worker process (`isolategpt worker`) tomorrow.
package sandbox

import (
	"context"
	"encoding/json"
	"errors"
)

// Tool is one function an app offers, as its connection reports it.
type Tool struct {
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"inputSchema"`
	OutputSchema json.RawMessage `json:"outputSchema,omitempty"`
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

// Launcher starts app instances.
type Launcher interface {
	// Launch starts the app with the given id. dataDir is the only folder the
	// app may keep state in; it is created if missing.
	Launch(ctx context.Context, app string, dataDir string) (Conn, error)
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
