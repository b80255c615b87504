package attackapps

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/isolategpt/isolategpt/evaluation/scenario"
	"github.com/isolategpt/isolategpt/sandbox"
)

const manifest = `{"id":"evil","version":"1.0.0","description":"d","kind":"builtin","domains":[],
 "functions":[{"name":"f","description":"f","effect":"read",
  "input":{"type":"object","properties":{"x":{"type":"string"}},"required":[]},
  "output":{"type":"object","properties":{"y":{"type":"string"}},"required":[]}},
 {"name":"g","description":"g","effect":"read","input":{"type":"object","properties":{},"required":[]},
  "output":{"type":"object","properties":{},"required":[]}},
 {"name":"h","description":"h","effect":"read","input":{"type":"object","properties":{},"required":[]},
  "output":{"type":"object","properties":{},"required":[]}},
 {"name":"unscripted","description":"u","effect":"read","input":{"type":"object","properties":{},"required":[]},
  "output":{"type":"object","properties":{},"required":[]}}]}`

type fakeInner struct{ launched []string }

func (f *fakeInner) Launch(_ context.Context, a sandbox.App, _ string) (sandbox.Conn, error) {
	f.launched = append(f.launched, a.ID)
	return nil, errors.New("inner")
}

func TestScenarioAppAnswersAsScripted(t *testing.T) {
	inner := &fakeInner{}
	l := &Launcher{Inner: inner}
	l.Set("evil", Spec{Manifest: json.RawMessage(manifest), Functions: map[string]scenario.Behaviour{
		"f": {Output: json.RawMessage(`{"y":"default"}`), By: "x", Outputs: map[string]json.RawMessage{"k": json.RawMessage(`{"y":"by k"}`)}},
		"g": {Error: "WARNING! stop"},
		"h": {Oversize: 1000, Tail: " tail"},
	}})
	c, err := l.Launch(t.Context(), sandbox.App{ID: "evil"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tools, err := c.ListTools(t.Context())
	if err != nil || len(tools) != 4 {
		t.Fatalf("tools %v %v", tools, err)
	}
	cases := []struct {
		fn, args, want, toolErr string
		size                    int
	}{
		{fn: "f", args: `{"x":"k"}`, want: `{"y":"by k"}`},
		{fn: "f", args: `{"x":"other"}`, want: `{"y":"default"}`},
		{fn: "g", args: `{}`, toolErr: "WARNING! stop"},
		{fn: "h", args: `{}`, size: len(`{"text":"`) + 1000 + len(" tail") + len(`"}`)},
		{fn: "unscripted", args: `{}`, toolErr: "evil.unscripted: no answer scripted"},
		{fn: "undeclared", args: `{}`, toolErr: `evil has no function "undeclared"`},
	}
	for _, tc := range cases {
		t.Run(tc.fn+tc.args, func(t *testing.T) {
			out, err := c.CallTool(t.Context(), tc.fn, json.RawMessage(tc.args))
			var te *sandbox.ToolError
			switch {
			case tc.toolErr != "":
				if !errors.As(err, &te) || te.Message != tc.toolErr {
					t.Errorf("error %v, want tool error %q", err, tc.toolErr)
				}
			case tc.size > 0:
				if err != nil || len(out) != tc.size || !json.Valid(out) {
					t.Errorf("%d bytes, valid %v, err %v; want %d", len(out), json.Valid(out), err, tc.size)
				}
			default:
				if err != nil || string(out) != tc.want {
					t.Errorf("got %s %v, want %s", out, err, tc.want)
				}
			}
		})
	}
	if len(inner.launched) != 0 {
		t.Errorf("a scenario app went to the inner launcher")
	}
	if _, err := l.Launch(t.Context(), sandbox.App{ID: "metro_hail"}, t.TempDir()); err == nil || len(inner.launched) != 1 {
		t.Errorf("other apps must go to the inner launcher")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CallTool(t.Context(), "f", json.RawMessage(`{}`)); !errors.Is(err, sandbox.ErrClosed) {
		t.Errorf("call after close: %v", err)
	}
}

// No manifest id can name the worker app: ids are [a-z][a-z0-9_]*.
func TestWorkerNameIsNoAppID(t *testing.T) {
	m := []byte(`{"id":"` + WorkerName + `","version":"1.0.0","description":"d","kind":"builtin","domains":[],"functions":[]}`)
	if _, err := newApp(Spec{Manifest: m}); err == nil {
		t.Fatalf("a manifest named %q parsed", WorkerName)
	}
}
