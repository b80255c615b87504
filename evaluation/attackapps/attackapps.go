// Package attackapps runs the evaluation's scenario apps: apps whose
// manifest and answers are a scenario file's data (an attacker's app, or a
// fixture holding the user's data). They run in-process for speed or in the
// real sandbox, as one registered worker app that reads its specification
// from its own data folder.
//
// The worker registration is reachable only through WorkerName, which no
// manifest id can spell (ids are [a-z0-9_]), so only this package's
// launcher can start it.
package attackapps

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/isolategpt/isolategpt/evaluation/scenario"
	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/wire"
	"github.com/isolategpt/isolategpt/sandbox/worker"
	"github.com/isolategpt/isolategpt/specs"
)

// WorkerName is the worker app that serves a scenario app in the sandbox.
const WorkerName = "eval-scenario-app"

// SpecFile is the specification's name in the app's data folder.
const SpecFile = "scenario_app.json"

// maxSpecBytes caps the specification a worker reads.
const maxSpecBytes = 2 << 20

// Spec is what a scenario app is: its manifest and its behaviour.
type Spec struct {
	Manifest  json.RawMessage               `json:"manifest"`
	Functions map[string]scenario.Behaviour `json:"functions"`
}

// app answers calls as its specification says.
type app struct {
	m     *specs.Manifest
	spec  Spec
	tools []sandbox.Tool
}

func newApp(spec Spec) (*app, error) {
	m, err := specs.Parse(spec.Manifest)
	if err != nil {
		return nil, fmt.Errorf("scenario app: %w", err)
	}
	a := &app{m: m, spec: spec}
	for _, f := range m.Functions {
		in, err := json.Marshal(f.Input)
		if err != nil {
			return nil, fmt.Errorf("scenario app %s: %w", m.ID, err)
		}
		out, err := json.Marshal(f.Output)
		if err != nil {
			return nil, fmt.Errorf("scenario app %s: %w", m.ID, err)
		}
		a.tools = append(a.tools, sandbox.Tool{Name: f.Name, Description: f.Description, InputSchema: in, OutputSchema: out})
	}
	return a, nil
}

// call answers one call. It does not check the arguments: an attacker's
// app need not, and a fixture's answers do not depend on them but for By.
func (a *app) call(_ context.Context, name string, args json.RawMessage) (json.RawMessage, error) {
	if _, ok := a.m.Function(name); !ok {
		return nil, &sandbox.ToolError{Message: fmt.Sprintf("%s has no function %q", a.m.ID, name)}
	}
	b, ok := a.spec.Functions[name]
	if !ok {
		return nil, &sandbox.ToolError{Message: fmt.Sprintf("%s.%s: no answer scripted", a.m.ID, name)}
	}
	if b.By != "" {
		var in map[string]any
		if json.Unmarshal(args, &in) == nil {
			if out, ok := b.Outputs[fmt.Sprint(in[b.By])]; ok {
				return bytes.Clone(out), nil
			}
		}
	}
	switch {
	case len(b.Output) > 0:
		return bytes.Clone(b.Output), nil
	case b.Error != "":
		return nil, &sandbox.ToolError{Message: b.Error}
	default:
		field, _ := json.Marshal(strings.Repeat("A", b.Oversize) + b.Tail)
		return json.RawMessage(`{"text":` + string(field) + `}`), nil
	}
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
	dec := json.NewDecoder(&limited{r: f, n: maxSpecBytes})
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("scenario app: specification: %w", err)
	}
	a, err := newApp(spec)
	if err != nil {
		return nil, err
	}
	return wire.NewToolServer(a.tools, a.call), nil
}

type limited struct {
	r interface{ Read([]byte) (int, error) }
	n int
}

func (l *limited) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("specification too large")
	}
	if len(p) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= n
	return n, err
}

// Launcher starts scenario apps, and every other app through Inner.
type Launcher struct {
	// Inner starts the built-in apps (the sandbox, or in-process).
	Inner sandbox.Launcher
	// Sandboxed runs scenario apps in Inner's workers too (Inner must then
	// be the sandbox launcher); otherwise they run in this process.
	Sandboxed bool
	mu        sync.Mutex
	apps      map[string]Spec
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
	if !l.Sandboxed {
		ap, err := newApp(spec)
		if err != nil {
			return nil, fmt.Errorf("launch %s: %w", a.ID, err)
		}
		return &conn{a: ap}, nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("launch %s: %w", a.ID, err)
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("launch %s: %w", a.ID, err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, SpecFile), b, 0o644); err != nil {
		return nil, fmt.Errorf("launch %s: %w", a.ID, err)
	}
	c, err := l.Inner.Launch(ctx, sandbox.App{ID: WorkerName, Kind: sandbox.KindBuiltin}, dataDir)
	if err != nil {
		return nil, fmt.Errorf("launch scenario app %s: %w", a.ID, err)
	}
	return c, nil
}

// conn is an in-process scenario app.
type conn struct {
	a      *app
	closed atomic.Bool
}

func (c *conn) ListTools(context.Context) ([]sandbox.Tool, error) {
	if c.closed.Load() {
		return nil, sandbox.ErrClosed
	}
	return append([]sandbox.Tool(nil), c.a.tools...), nil
}

func (c *conn) CallTool(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error) {
	if c.closed.Load() {
		return nil, sandbox.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.a.call(ctx, name, args)
}

func (c *conn) Close() error {
	c.closed.Store(true)
	return nil
}

// RegisterWorker makes the worker able to serve scenario apps. Binaries
// that run the evaluation in the sandbox call it before worker.Dispatch.
func RegisterWorker() { worker.Register(WorkerName, Handler) }
