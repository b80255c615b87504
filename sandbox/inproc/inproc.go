// Package inproc launches built-in apps inside the hub's own process, behind
// the same sandbox.Conn a confined worker will offer.
//
// It isolates nothing: an in-process app shares the hub's memory, files and
// network. It exists so the rest of the system can run until the worker
// sandbox lands, and it keeps what it can of the contract: only functions
// the pinned manifest declares are called, each app keeps state in its own
// 0700 data folder, and a panicking app fails its call instead of the hub.
package inproc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/specs"
	"github.com/isolategpt/isolategpt/specs/builtin"
)

// Launcher starts built-in apps in this process.
type Launcher struct{}

var _ sandbox.Launcher = Launcher{}

// Launch starts the built-in app with the given id, keeping its state in
// dataDir, which is created with mode 0700 (or narrowed to it) and must not
// be a symbolic link.
func (Launcher) Launch(ctx context.Context, a sandbox.App, dataDir string) (sandbox.Conn, error) {
	app := a.ID
	if a.Kind != "" && a.Kind != sandbox.KindBuiltin {
		return nil, fmt.Errorf("launch %s: %s app: %w", app, a.Kind, ErrNotRunnable)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("launch %s: %w", app, err)
	}
	m, err := specs.BuiltinByID(app)
	if err != nil {
		return nil, fmt.Errorf("launch %s: %w", app, err)
	}
	if m.Kind != specs.KindBuiltin {
		return nil, fmt.Errorf("launch %s: %s app: %w", app, m.Kind, ErrNotRunnable)
	}
	factory, ok := builtin.Lookup(app)
	if !ok {
		return nil, fmt.Errorf("launch %s: %w", app, ErrNotRunnable)
	}
	if err := prepareDataDir(dataDir); err != nil {
		return nil, fmt.Errorf("launch %s: %w", app, err)
	}
	impl, err := factory(dataDir)
	if err != nil {
		return nil, fmt.Errorf("launch %s: %w", app, err)
	}
	return newConn(m, impl)
}

func prepareDataDir(dir string) error {
	if dir == "" {
		return fmt.Errorf("data folder: empty path: %w", ErrBadDataDir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	info, err := os.Lstat(filepath.Clean(dir))
	if err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	if !info.IsDir() {
		return fmt.Errorf("data folder %s: not a directory: %w", dir, ErrBadDataDir)
	}
	if info.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("data folder: %w", err)
		}
	}
	return nil
}

// conn is a live in-process app. It is safe for concurrent use: the app
// guards its own state, and closed is the only state conn changes.
type conn struct {
	app       string
	impl      builtin.App
	tools     []sandbox.Tool
	declared  map[string]bool
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

func newConn(m *specs.Manifest, impl builtin.App) (*conn, error) {
	c := &conn{app: m.ID, impl: impl, declared: map[string]bool{}}
	for _, f := range m.Functions {
		in, err := json.Marshal(f.Input)
		if err != nil {
			return nil, fmt.Errorf("launch %s: %s input schema: %w", m.ID, f.Name, err)
		}
		out, err := json.Marshal(f.Output)
		if err != nil {
			return nil, fmt.Errorf("launch %s: %s output schema: %w", m.ID, f.Name, err)
		}
		c.tools = append(c.tools, sandbox.Tool{Name: f.Name, Description: f.Description, InputSchema: in, OutputSchema: out})
		c.declared[f.Name] = true
	}
	return c, nil
}

// ListTools reports the functions the app's manifest declares, with their
// full schemas.
func (c *conn) ListTools(ctx context.Context) ([]sandbox.Tool, error) {
	if c.closed.Load() {
		return nil, sandbox.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list tools of %s: %w", c.app, err)
	}
	out := make([]sandbox.Tool, len(c.tools))
	for i, t := range c.tools {
		t.InputSchema = bytes.Clone(t.InputSchema)
		t.OutputSchema = bytes.Clone(t.OutputSchema)
		out[i] = t
	}
	return out, nil
}

// CallTool runs one declared function. An app's own failure comes back as
// the *sandbox.ToolError it returned, unwrapped.
func (c *conn) CallTool(ctx context.Context, name string, args json.RawMessage) (out json.RawMessage, err error) {
	if c.closed.Load() {
		return nil, sandbox.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("call %s.%s: %w", c.app, name, err)
	}
	if !c.declared[name] {
		return nil, fmt.Errorf("call %s.%s: %w", c.app, name, ErrUnknownTool)
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("call %s.%s: %w: %v", c.app, name, ErrAppPanicked, r)
		}
	}()
	out, err = c.impl.Call(ctx, name, bytes.Clone(args))
	if err != nil {
		var te *sandbox.ToolError
		if errors.As(err, &te) {
			return nil, te
		}
		return nil, fmt.Errorf("call %s.%s: %w", c.app, name, err)
	}
	return out, nil
}

// Close marks the connection closed and releases the app if it holds
// anything. Calls already running finish; later ones fail with
// sandbox.ErrClosed. Closing twice is harmless.
func (c *conn) Close() error {
	c.closed.Store(true)
	c.closeOnce.Do(func() {
		if cl, ok := c.impl.(io.Closer); ok {
			c.closeErr = cl.Close()
		}
	})
	if c.closeErr != nil {
		return fmt.Errorf("close %s: %w", c.app, c.closeErr)
	}
	return nil
}
