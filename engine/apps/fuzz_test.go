package apps

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/isolategpt/isolategpt/sandbox"
)

// FuzzCanonicalTools feeds a server's tools/list (as the wire layer hands
// it over) to the pin: it must not panic, must not depend on the order the
// server listed the tools in, and must be a fixed point.
func FuzzCanonicalTools(f *testing.F) {
	f.Add([]byte(`[{"name":"a","description":"d","inputSchema":{"type":"object","properties":{"p":{"type":"string"}}}},{"name":"b","inputSchema":{"type":"object"},"outputSchema":{"type":"object"}}]`))
	f.Add([]byte(`[{"name":"x","inputSchema":{"a":1e400,"b":[1,2,{"c":null}]}}]`))
	f.Add([]byte(`[{"name":"a","inputSchema":{}},{"name":"a","inputSchema":{}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var tools []sandbox.Tool
		if json.Unmarshal(data, &tools) != nil {
			return
		}
		canon, err := CanonicalTools(tools)
		if err != nil {
			return
		}
		rev := slices.Clone(tools)
		slices.Reverse(rev)
		again, err := CanonicalTools(rev)
		if err != nil || !bytes.Equal(canon, again) {
			t.Fatalf("order changes the pin:\n%s\n%s (%v)", canon, again, err)
		}
		var back []canonTool
		if err := json.Unmarshal(canon, &back); err != nil {
			t.Fatalf("canonical form does not decode: %v", err)
		}
		round := make([]sandbox.Tool, 0, len(back))
		for _, c := range back {
			round = append(round, sandbox.Tool{Name: c.Name, Description: c.Description, InputSchema: c.InputSchema, OutputSchema: c.OutputSchema})
		}
		fixed, err := CanonicalTools(round)
		if err != nil || !bytes.Equal(canon, fixed) {
			t.Fatalf("not a fixed point:\n%s\n%s (%v)", canon, fixed, err)
		}
		diffTools(canon, again) // must not panic
	})
}
