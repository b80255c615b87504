package record

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/sandbox"
)

type fakeConn struct{ out json.RawMessage }

func (f fakeConn) ListTools(context.Context) ([]sandbox.Tool, error) { return nil, nil }
func (f fakeConn) CallTool(context.Context, string, json.RawMessage) (json.RawMessage, error) {
	return f.out, nil
}
func (f fakeConn) Close() error { return nil }

type fakeLauncher struct{ out json.RawMessage }

func (f fakeLauncher) Launch(context.Context, sandbox.App, string) (sandbox.Conn, error) {
	return fakeConn{f.out}, nil
}

// Whatever bytes a hostile app returns, the record stays valid JSON.
func TestRecordKeepsJSONValid(t *testing.T) {
	for name, out := range map[string]json.RawMessage{
		"object":   json.RawMessage(`{"fare":1}`),
		"not json": json.RawMessage(`{"fare":`),
		"huge":     json.RawMessage(`{"t":"` + strings.Repeat("A", 2*MaxResult) + `"}`),
	} {
		t.Run(name, func(t *testing.T) {
			l := &Launcher{Inner: fakeLauncher{out}}
			l.SetSession(3)
			c, _ := l.Launch(t.Context(), sandbox.App{ID: "evil"}, "")
			if _, err := c.CallTool(t.Context(), "f", json.RawMessage(`{"a":1}`)); err != nil {
				t.Fatal(err)
			}
			calls := l.Calls()
			if len(calls) != 1 || calls[0].App != "evil" || calls[0].Session != 3 || calls[0].Sandboxed {
				t.Fatalf("calls %+v", calls)
			}
			if b, err := json.Marshal(calls); err != nil || len(calls[0].Result) > MaxResult+16 {
				t.Errorf("record %d bytes, marshal %v (%d)", len(calls[0].Result), err, len(b))
			}
		})
	}
}
