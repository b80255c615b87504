// Package builtin is the code of the built-in apps: each answers calls to the
// functions its embedded manifest declares and keeps its records only in the
// data folder it was started with.
//
// The apps trust nothing they are sent: arguments are decoded strictly and
// checked against the app's own manifest before any work is done, and a bad
// call is answered with a *sandbox.ToolError.
package builtin

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/specs"
)

// App is one running instance of a built-in app.
type App interface {
	// Call runs one function. Bad arguments and unknown functions are
	// reported as *sandbox.ToolError.
	Call(ctx context.Context, function string, args json.RawMessage) (json.RawMessage, error)
}

// Factory starts an app whose state lives in dataDir, which must exist.
type Factory func(dataDir string) (App, error)

// MaxArgsBytes is the largest argument document an app reads.
const MaxArgsBytes = 64 << 10

var factories = map[string]Factory{
	"metro_hail":       newRide(metroHail),
	"quick_ride":       newRide(quickRide),
	"travel_mate":      newTravelMate,
	"health_companion": newHealthCompanion,
	"mail":             newMail,
	"drive":            newDrive,
}

// Lookup returns the factory of a built-in app. Prompt apps have no code and
// no factory.
func Lookup(id string) (Factory, bool) {
	f, ok := factories[id]
	return f, ok
}

// IDs returns the ids of the apps that have code, sorted.
func IDs() []string {
	ids := make([]string, 0, len(factories))
	for id := range factories {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// manifest loads the app's own embedded manifest, the contract its
// arguments are checked against.
func manifest(id string) (*specs.Manifest, error) {
	m, err := specs.BuiltinByID(id)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", id, err)
	}
	return m, nil
}

// toolError is an error the app reports to its caller.
func toolError(format string, args ...any) error {
	return &sandbox.ToolError{Message: fmt.Sprintf(format, args...)}
}

// decodeArgs checks args against the declared input of function and returns
// them as a map of decoded values.
func decodeArgs(m *specs.Manifest, function string, args json.RawMessage) (map[string]any, error) {
	f, ok := m.Function(function)
	if !ok {
		return nil, toolError("%s has no function %q", m.ID, function)
	}
	v, err := f.Input.DecodeValidate(args, MaxArgsBytes)
	if err != nil {
		return nil, toolError("%s.%s: bad arguments: %v", m.ID, function, err)
	}
	return v.(map[string]any), nil // the input schema is an object schema
}

// str returns a string argument; the input schema has checked its type.
func str(args map[string]any, name string) string {
	s, _ := args[name].(string)
	return s
}

// result encodes a function's result.
func result(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	return b, nil
}
