// Package attackapps runs the evaluation's scenario apps: apps whose
// manifest and answers are a scenario file's data (an attacker's app, an
// attacker's MCP server, or a fixture holding the user's data). Each is an
// MCP server — in this process behind a pipe for speed, or in the real
// sandbox as one registered worker app that reads its specification from
// its own data folder — so the hub reaches it through the same MCP client
// code as any app: content items, structuredContent, isError, a hang, a
// crash, an answer that changes from call to call.
//
// The worker registration is reachable only through WorkerName, which no
// manifest id can spell (ids are [a-z0-9_]), so only this package's
// launcher can start it.
package attackapps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/isolategpt/isolategpt/evaluation/scenario"
	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/wire"
	"github.com/isolategpt/isolategpt/sandbox/worker"
	"github.com/isolategpt/isolategpt/specs/atomicfile"
)

// WorkerName is the worker app that serves a scenario app in the sandbox.
const WorkerName = "eval-scenario-app"

// SpecFile is the specification's name in the app's data folder.
const SpecFile = "scenario_app.json"

// maxSpecBytes caps the specification a worker reads.
const maxSpecBytes = 2 << 20

// crashExit is a crashing scenario app's exit status in the sandbox.
const crashExit = 70

// inprocMaxMessageBytes bounds one message of an in-process scenario app:
// past the hub's own result cap, so that cap is what an oversized answer
// meets, as it is for any in-process app.
const inprocMaxMessageBytes = 64 << 20

// Spec is what a scenario app is: its manifest, how its functions behave
// and, for an MCP server, the tools/list it reports.
type Spec struct {
	Manifest  json.RawMessage               `json:"manifest"`
	Functions map[string]scenario.Behaviour `json:"functions"`
	MCPTools  []json.RawMessage             `json:"mcp_tools,omitempty"`
}

// Handler is the worker's side: it serves the scenario app whose
// specification is in the current folder (the app's own data folder,
// entered by the worker before confinement).
func Handler() (wire.Handler, error) {
	f, err := os.Open(SpecFile)
	if err != nil {
		return nil, fmt.Errorf("scenario app: %w", err)
	}
	defer f.Close()
	var spec Spec
	if err := json.NewDecoder(io.LimitReader(f, maxSpecBytes)).Decode(&spec); err != nil {
		return nil, fmt.Errorf("scenario app: specification: %w", err)
	}
	return newServer(spec, ".", func() { os.Exit(crashExit) })
}

// Launcher starts scenario apps, and every other app through Inner.
type Launcher struct {
	// Inner starts the built-in apps (the sandbox, or in-process).
	Inner sandbox.Launcher
	// Sandboxed runs scenario apps in Inner's workers too (Inner must then
	// be the sandbox launcher); otherwise they run in this process.
	Sandboxed bool
	// CallTimeout is, for apps in this process, the wall-clock limit of
	// one call that the sandbox's launcher enforces on a worker (0: none).
	CallTimeout time.Duration
	mu          sync.Mutex
	apps        map[string]Spec
}

var _ sandbox.Launcher = (*Launcher)(nil)

// Set installs (or replaces, for a rug pull) a scenario app's specification.
func (l *Launcher) Set(id string, spec Spec) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.apps == nil {
		l.apps = map[string]Spec{}
	}
	l.apps[id] = spec
}

// Launch starts app.
func (l *Launcher) Launch(ctx context.Context, a sandbox.App, dataDir string) (sandbox.Conn, error) {
	l.mu.Lock()
	spec, ok := l.apps[a.ID]
	l.mu.Unlock()
	if !ok {
		return l.Inner.Launch(ctx, a, dataDir)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("launch %s: %w", a.ID, err)
	}
	if !l.Sandboxed {
		return startInProcess(ctx, a.ID, spec, dataDir, l.CallTimeout)
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("launch %s: %w", a.ID, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dataDir, SpecFile), b, 0o644); err != nil {
		return nil, fmt.Errorf("launch %s: %w", a.ID, err)
	}
	c, err := l.Inner.Launch(ctx, sandbox.App{ID: WorkerName, Kind: sandbox.KindBuiltin}, dataDir)
	if err != nil {
		return nil, fmt.Errorf("launch scenario app %s: %w", a.ID, err)
	}
	return c, nil
}

// startInProcess serves the app on a pair of pipes in this process and
// connects the hub's MCP client to it. A crash breaks both pipes, as a
// dead worker's stdio breaks.
func startInProcess(ctx context.Context, id string, spec Spec, dir string, limit time.Duration) (sandbox.Conn, error) {
	toClient, fromServer := io.Pipe()
	toServer, fromClient := io.Pipe()
	sctx, stop := context.WithCancel(context.Background())
	dead := errors.New("scenario app crashed")
	crash := func() {
		stop()
		fromServer.CloseWithError(dead)
		toServer.CloseWithError(dead)
	}
	srv, err := newServer(spec, dir, crash)
	if err != nil {
		stop()
		return nil, fmt.Errorf("launch %s: %w", id, err)
	}
	opts := wire.Options{MaxMessageBytes: inprocMaxMessageBytes}
	go func() {
		_ = wire.Serve(sctx, toServer, fromServer, srv, opts)
		fromServer.Close()
	}()
	client := wire.NewClient(toClient, fromClient, opts)
	if _, err := wire.Initialize(ctx, client, "isolategpt", "1"); err != nil {
		_ = client.Close()
		crash()
		return nil, fmt.Errorf("launch %s: %w", id, err)
	}
	return &conn{Conn: wire.NewConn(client), app: id, stop: crash, limit: limit}, nil
}

// conn is an in-process scenario app's connection.
type conn struct {
	sandbox.Conn
	app   string
	stop  func()
	limit time.Duration
}

func (c *conn) CallTool(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error) {
	if c.limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.limit)
		defer cancel()
	}
	out, err := c.Conn.CallTool(ctx, name, args)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%s.%s passed its %s wall-clock limit: %w", c.app, name, c.limit, ctx.Err())
	}
	return out, err
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.stop()
	return err
}

// RegisterWorker makes the worker able to serve scenario apps. Binaries
// that run the evaluation in the sandbox call it before worker.Dispatch.
func RegisterWorker() { worker.Register(WorkerName, Handler) }
