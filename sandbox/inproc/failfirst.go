package inproc

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/isolategpt/isolategpt/sandbox"
)

// FailFirst starts in-process apps, for tests of supervision and metrics:
// the very first call any of its apps gets runs Fail instead (which may
// panic, as a buggy app would, or return an error, as a dead worker
// would); every later call reaches the app.
type FailFirst struct {
	Fail func() (json.RawMessage, error)
	mu   sync.Mutex
	done bool
}

// Launch starts the app in process.
func (f *FailFirst) Launch(ctx context.Context, app sandbox.App, dir string) (sandbox.Conn, error) {
	c, err := Launcher{}.Launch(ctx, app, dir)
	if err != nil {
		return nil, err
	}
	return &failFirstConn{Conn: c, f: f}, nil
}

type failFirstConn struct {
	sandbox.Conn
	f *FailFirst
}

func (c *failFirstConn) CallTool(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error) {
	c.f.mu.Lock()
	first := !c.f.done
	c.f.done = true
	c.f.mu.Unlock()
	if first {
		return c.f.Fail()
	}
	return c.Conn.CallTool(ctx, name, args)
}
