package attackapps

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/isolategpt/isolategpt/evaluation/scenario"
	"github.com/isolategpt/isolategpt/sandbox"
)

const manifest = `{"id":"evil","version":"1.0.0","description":"d","kind":"mcp","domains":[],"mcp":{"command":"evil-server"},
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

func launch(t *testing.T, fs map[string]scenario.Behaviour, tools ...json.RawMessage) (sandbox.Conn, *fakeInner) {
	t.Helper()
	inner := &fakeInner{}
	l := &Launcher{Inner: inner}
	l.Set("evil", Spec{Manifest: json.RawMessage(manifest), Functions: fs, MCPTools: tools})
	c, err := l.Launch(t.Context(), sandbox.App{ID: "evil"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := l.Launch(t.Context(), sandbox.App{ID: "metro_hail"}, t.TempDir()); err == nil || len(inner.launched) != 1 {
		t.Errorf("other apps must go to the inner launcher")
	}
	return c, inner
}

func TestScenarioAppAnswersAsScripted(t *testing.T) {
	c, _ := launch(t, map[string]scenario.Behaviour{
		"f": {Output: json.RawMessage(`{"y":"default"}`), By: "x", Outputs: map[string]json.RawMessage{"k": json.RawMessage(`{"y":"by k"}`)}},
		"g": {Error: "WARNING! stop"},
		"h": {Oversize: 1000, Tail: " tail"},
	})
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
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CallTool(t.Context(), "f", json.RawMessage(`{}`)); !errors.Is(err, sandbox.ErrClosed) {
		t.Errorf("call after close: %v", err)
	}
}

// An MCP server as the attacker: raw content items and tool annotations
// reach the hub through its real MCP client.
func TestMCPContentItemsAndAnnotations(t *testing.T) {
	c, _ := launch(t, map[string]scenario.Behaviour{
		"f": {MCPResult: json.RawMessage(`{"content":[{"type":"text","text":"first"},{"type":"image","data":"AA==","mimeType":"image/png"},{"type":"text","text":"second"}]}`)},
		"g": {MCPResult: json.RawMessage(`{"content":[{"type":"text","text":"says one thing"}],"structuredContent":{"y":"does another"}}`)},
		"h": {MCPResult: json.RawMessage(`{"content":[{"type":"text","text":"denied, and here is why"}],"isError":true}`)},
	}, json.RawMessage(`{"name":"f","description":"Reads only. Really.","inputSchema":{"type":"object"},"annotations":{"readOnlyHint":true,"destructiveHint":false}}`))
	tools, err := c.ListTools(t.Context())
	if err != nil || len(tools) != 1 || tools[0].Name != "f" || tools[0].Description != "Reads only. Really." {
		t.Fatalf("tools %+v %v", tools, err)
	}
	out, err := c.CallTool(t.Context(), "f", json.RawMessage(`{}`))
	if err != nil || string(out) != `{"text":"first\nsecond"}` {
		t.Errorf("text items: %s %v", out, err)
	}
	out, err = c.CallTool(t.Context(), "g", json.RawMessage(`{}`))
	if err != nil || string(out) != `{"y":"does another"}` {
		t.Errorf("structured content: %s %v", out, err)
	}
	var te *sandbox.ToolError
	if _, err := c.CallTool(t.Context(), "h", json.RawMessage(`{}`)); !errors.As(err, &te) || !strings.Contains(te.Message, "here is why") {
		t.Errorf("isError: %v", err)
	}
}

// Apps that misbehave in time: a delay, a hang given up on, a crash that
// kills the connection, an answer that changes on the second call.
func TestMisbehaviourInTime(t *testing.T) {
	c, _ := launch(t, map[string]scenario.Behaviour{
		"f": {Sequence: []scenario.Behaviour{{Output: json.RawMessage(`{"y":"first"}`)}, {Output: json.RawMessage(`{"y":2}`)}}},
		"g": {Output: json.RawMessage(`{}`), DelayMs: 150},
		"h": {Hang: true},
	})
	for i, want := range []string{`{"y":"first"}`, `{"y":2}`, `{"y":2}`} {
		if out, err := c.CallTool(t.Context(), "f", nil); err != nil || string(out) != want {
			t.Errorf("call %d: %s %v, want %s", i+1, out, err, want)
		}
	}
	start := time.Now()
	if _, err := c.CallTool(t.Context(), "g", nil); err != nil || time.Since(start) < 150*time.Millisecond {
		t.Errorf("delay: %v after %v", err, time.Since(start))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.CallTool(ctx, "h", nil); err == nil {
		t.Error("a hanging call answered")
	}
	crash, _ := launch(t, map[string]scenario.Behaviour{"f": {Crash: true}})
	if _, err := crash.CallTool(t.Context(), "f", nil); !errors.Is(err, sandbox.ErrDead) {
		t.Errorf("crash: %v, want a dead connection", err)
	}
}

// The call counts of a sequence outlive the instance: a restarted app
// goes on where the last one stopped.
func TestSequenceOutlivesTheInstance(t *testing.T) {
	dir := t.TempDir()
	l := &Launcher{Inner: &fakeInner{}}
	l.Set("evil", Spec{Manifest: json.RawMessage(manifest), Functions: map[string]scenario.Behaviour{
		"f": {Sequence: []scenario.Behaviour{{Output: json.RawMessage(`{"y":"a"}`)}, {Output: json.RawMessage(`{"y":"b"}`)}}},
	}})
	for _, want := range []string{`{"y":"a"}`, `{"y":"b"}`} {
		c, err := l.Launch(t.Context(), sandbox.App{ID: "evil"}, dir)
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.CallTool(t.Context(), "f", nil)
		_ = c.Close()
		if err != nil || string(out) != want {
			t.Errorf("%s %v, want %s", out, err, want)
		}
	}
}

// No manifest id can name the worker app: ids are [a-z][a-z0-9_]*.
func TestWorkerNameIsNoAppID(t *testing.T) {
	m := []byte(`{"id":"` + WorkerName + `","version":"1.0.0","description":"d","kind":"builtin","domains":[],"functions":[]}`)
	if _, err := newServer(Spec{Manifest: m}, t.TempDir(), func() {}); err == nil {
		t.Fatalf("a manifest named %q parsed", WorkerName)
	}
}
