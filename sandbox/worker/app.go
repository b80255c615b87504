package worker

import (
	"encoding/json"
	"fmt"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/wire"
	"github.com/isolategpt/isolategpt/specs"
	"github.com/isolategpt/isolategpt/specs/builtin"
)

// extra holds apps registered in-process, in practice by this module's
// tests (probe apps that try forbidden things from inside a sandbox). The
// isolategpt binary registers none; only code linked into the binary can.
var extra = map[string]func() (wire.Handler, error){}

// Register adds an app served by name. Call it before Main.
func Register(name string, h func() (wire.Handler, error)) { extra[name] = h }

// StatusApp is served by every worker binary: an app with no tools that
// `sandbox status` starts to see what a worker gets.
const StatusApp = "isolategpt-sandbox-status"

// appHandler serves a built-in app from the current folder (its own data
// folder: the working folder the worker entered).
func appHandler(app string) (wire.Handler, error) {
	if h, ok := extra[app]; ok {
		return h()
	}
	if app == StatusApp {
		return wire.NewToolServer(nil, nil), nil
	}
	m, err := specs.BuiltinByID(app)
	if err != nil {
		return nil, err
	}
	factory, ok := builtin.Lookup(app)
	if !ok {
		return nil, fmt.Errorf("worker: %s is not a runnable built-in app", app)
	}
	a, err := factory(".")
	if err != nil {
		return nil, fmt.Errorf("worker: start %s: %w", app, err)
	}
	var tools []sandbox.Tool
	for _, f := range m.Functions {
		in, _ := json.Marshal(f.Input)
		out, _ := json.Marshal(f.Output)
		tools = append(tools, sandbox.Tool{Name: f.Name, Description: f.Description, InputSchema: in, OutputSchema: out})
	}
	return wire.NewToolServer(tools, a.Call), nil
}
