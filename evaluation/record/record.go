// Package record wraps a sandbox.Launcher so that every call that reaches
// an app — its app, function, arguments and result — is logged, whichever
// architecture made it: the evaluation's predicates judge what really
// happened at the apps, not what an answer claims.
package record

import (
	"context"
	"encoding/json"
	"os"
	"sync"
	"time"

	"github.com/isolategpt/isolategpt/sandbox"
)

// Call is one tool call that reached an app.
type Call struct {
	Session  int             `json:"session"`
	App      string          `json:"app"`
	Function string          `json:"function"`
	Args     json.RawMessage `json:"args"`
	// Result is the app's raw output, capped at MaxResult bytes.
	Result json.RawMessage `json:"result,omitempty"`
	Err    string          `json:"error,omitempty"`
	// Sandboxed is true when the app answered from its own worker process
	// (its connection reports a PID other than this process's).
	Sandboxed bool `json:"sandboxed"`
	// StartMs and EndMs are when the call reached the app and when it
	// answered, in milliseconds since the recording began.
	StartMs int64 `json:"start_ms"`
	EndMs   int64 `json:"end_ms"`
}

// MaxResult caps a recorded result.
const MaxResult = 4 << 10

// Launcher records every CallTool of the apps it launches.
type Launcher struct {
	Inner   sandbox.Launcher
	mu      sync.Mutex
	session int
	calls   []Call
	began   time.Time
}

var _ sandbox.Launcher = (*Launcher)(nil)

// SetSession numbers the calls that follow (1-based).
func (l *Launcher) SetSession(n int) {
	l.mu.Lock()
	l.session = n
	l.mu.Unlock()
}

// Calls returns every recorded call, in the order they ended.
func (l *Launcher) Calls() []Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Call(nil), l.calls...)
}

// since is the time since the first call of the recording began.
func (l *Launcher) since() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.began.IsZero() {
		l.began = time.Now()
	}
	return time.Since(l.began).Milliseconds()
}

// Launch launches through Inner and wraps the connection.
func (l *Launcher) Launch(ctx context.Context, app sandbox.App, dataDir string) (sandbox.Conn, error) {
	c, err := l.Inner.Launch(ctx, app, dataDir)
	if err != nil {
		return nil, err
	}
	pc := &conn{Conn: c, l: l, app: app.ID}
	if p, ok := c.(sandbox.PIDer); ok && p.PID() > 0 && p.PID() != os.Getpid() {
		pc.sandboxed = true
	}
	return pc, nil
}

type conn struct {
	sandbox.Conn
	l         *Launcher
	app       string
	sandboxed bool
}

func (c *conn) CallTool(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error) {
	start := c.l.since()
	out, err := c.Conn.CallTool(ctx, name, args)
	rec := Call{App: c.app, Function: name, Args: asJSON(args), Sandboxed: c.sandboxed, StartMs: start, EndMs: c.l.since()}
	if err != nil {
		rec.Err = err.Error()
	} else {
		rec.Result = asJSON(out)
	}
	c.l.mu.Lock()
	rec.Session = c.l.session
	c.l.calls = append(c.l.calls, rec)
	c.l.mu.Unlock()
	return out, err
}

// asJSON copies raw when it is JSON of at most MaxResult bytes, and records
// anything else as a (capped) JSON string, so a hostile app's bytes never
// break the record.
func asJSON(raw json.RawMessage) json.RawMessage {
	if len(raw) <= MaxResult && json.Valid(raw) {
		return append(json.RawMessage(nil), raw...)
	}
	s := string(raw)
	if len(s) > MaxResult {
		s = s[:MaxResult] + "…"
	}
	b, _ := json.Marshal(s)
	return b
}
