package importer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/specs"
	"github.com/isolategpt/isolategpt/specs/schema"
)

// recorded reads a tools/list recorded from a real npm server
// (testdata/NAME.json: serverInfo, instructions, tools).
func recorded(t *testing.T, name string) (Source, []sandbox.Tool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		ServerInfo struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"serverInfo"`
		Instructions string         `json:"instructions"`
		Tools        []sandbox.Tool `json:"tools"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	// The wire's own reading of execution.taskSupport, which plain JSON
	// decoding of sandbox.Tool does not do.
	var raw struct {
		Tools []struct {
			Execution struct {
				TaskSupport string `json:"taskSupport"`
			} `json:"execution"`
		} `json:"tools"`
	}
	_ = json.Unmarshal(b, &raw)
	for i := range d.Tools {
		d.Tools[i].TaskSupport = raw.Tools[i].Execution.TaskSupport
	}
	src := Source{ID: name, Version: "1", MCP: &specs.MCP{Command: "node", Args: []string{"${install}/index.js"}},
		ServerName: d.ServerInfo.Name, ServerVersion: d.ServerInfo.Version, Instructions: d.Instructions}
	return src, d.Tools
}

// TestRealServersImport imports the tools/lists of seven real npm servers:
// every tool becomes a function (none of them needs a task), names and
// property names that are not identifiers get aliases, and the manifest
// parses and round-trips through its canonical form.
func TestRealServersImport(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tools   int
		dropped []string
		alias   map[string]string // a few function → tool names to check
	}{
		{"calc", 21, nil, nil},
		{"everything", 15, []string{"simulate-research-query"}, map[string]string{"get_sum": "get-sum", "get_tiny_image": "get-tiny-image"}},
		{"fs", 14, nil, nil},
		{"git", 28, nil, nil},
		{"mem", 9, nil, nil},
		{"seq", 1, nil, nil},
		{"time", 6, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, tools := recorded(t, tc.name)
			r, err := Build(src, tools)
			if err != nil {
				t.Fatal(err)
			}
			var dropped []string
			for _, d := range r.Dropped {
				dropped = append(dropped, d.Tool)
			}
			if !slices.Equal(dropped, tc.dropped) || len(r.Functions) != tc.tools {
				t.Fatalf("%d functions, dropped %+v; want %d, %v", len(r.Functions), r.Dropped, tc.tools, tc.dropped)
			}
			m, err := r.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			for fn, tool := range tc.alias {
				f, ok := m.Function(fn)
				if !ok || f.Tool != tool {
					t.Errorf("function %s: %+v", fn, f)
				}
			}
			for _, f := range m.Functions {
				if f.Effect != specs.EffectWrite {
					t.Errorf("%s is %s before the user confirmed any effect", f.Name, f.Effect)
				}
				for _, n := range f.Input.PropertyNames() {
					if !schema.ValidName(n) {
						t.Errorf("%s: property %q is not an identifier", f.Name, n)
					}
				}
			}
			again, err := specs.Parse(m.Raw())
			if err != nil || again.Hash() != m.Hash() {
				t.Fatalf("canonical form does not round-trip: %v", err)
			}
		})
	}
}

// TestAliasesRoundTrip: sequential-thinking's camelCase parameters are
// planned under snake_case aliases, validated by the server's own schema
// after renaming, and renamed back for the server.
func TestAliasesRoundTrip(t *testing.T) {
	src, tools := recorded(t, "seq")
	r, err := Build(src, tools)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := r.Manifest()
	f, ok := m.Function("sequentialthinking")
	if !ok {
		t.Fatal("no sequentialthinking")
	}
	want := []string{"next_thought_needed", "thought", "thought_number", "total_thoughts"}
	if got := f.Input.Required(); !slices.Equal(got, want) {
		t.Fatalf("required %v, want %v", got, want)
	}
	args := map[string]any{"thought": "t", "next_thought_needed": false, "thought_number": json.Number("1"), "total_thoughts": json.Number("1")}
	if err := f.Input.Validate(args); err != nil {
		t.Fatalf("valid arguments refused: %v", err)
	}
	realArgs, err := f.Input.ToReal(args)
	if err != nil || realArgs.(map[string]any)["nextThoughtNeeded"] != false {
		t.Fatalf("ToReal = %v, %v", realArgs, err)
	}
	// The server's own constraint (thoughtNumber minimum 1) is applied
	// though the planner's view never showed it… and so is the type.
	args["thought_number"] = json.Number("0")
	if err := f.Input.Validate(args); err == nil || !strings.Contains(err.Error(), "thoughtNumber") {
		t.Errorf("thought_number 0: %v", err)
	}
	args["thought_number"] = "one"
	if err := f.Input.Validate(args); err == nil {
		t.Error("a string for an integer was accepted")
	}
}

// TestDroppedToolsAreListed: a task-only tool and other refusals are
// listed with their reason, the rest kept.
func TestDroppedToolsAreListed(t *testing.T) {
	tools := []sandbox.Tool{
		{Name: "ok", InputSchema: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string","pattern":"(?=x)"}}}`)},
		{Name: "task", TaskSupport: "required", InputSchema: json.RawMessage(`{"type":"object"}`)},
		{Name: "remote", InputSchema: json.RawMessage(`{"type":"object","properties":{"a":{"$ref":"https://example.com/s.json"}}}`)},
		{Name: "notobj", InputSchema: json.RawMessage(`{"type":"string"}`)},
		{Name: "bad name!", InputSchema: json.RawMessage(`{"type":"object"}`)},
		{Name: "Ok", InputSchema: json.RawMessage(`{"type":"object"}`)},
		{Name: "untyped", InputSchema: json.RawMessage(`{}`)},
	}
	r, err := Build(Source{ID: "x", Version: "1", MCP: &specs.MCP{Command: "srv"}}, tools)
	if err != nil {
		t.Fatal(err)
	}
	var dropped []string
	for _, d := range r.Dropped {
		dropped = append(dropped, d.Tool)
	}
	if !slices.Equal(dropped, []string{"task", "remote", "notobj", "bad name!"}) {
		t.Errorf("dropped %+v", r.Dropped)
	}
	if len(r.Functions) != 3 || r.Functions[0].Name != "ok" || r.Functions[1].Name != "ok_2" || r.Functions[1].Tool != "Ok" || r.Functions[2].Name != "untyped" {
		t.Errorf("functions %+v", r.Functions)
	}
	if !slices.Equal(r.Functions[0].Removed, []string{"pattern at #/properties/q"}) {
		t.Errorf("removed %v", r.Functions[0].Removed)
	}
}

// TestEffectsAreConfirmed: the server's read-only claims are proposals;
// only Apply makes a function read.
func TestEffectsAreConfirmed(t *testing.T) {
	src, tools := recorded(t, "mem")
	r, err := Build(src, tools)
	if err != nil {
		t.Fatal(err)
	}
	claimed := slices.Sorted(slices.Values(r.ClaimedReadOnly()))
	if !slices.Equal(claimed, []string{"open_nodes", "read_graph", "search_nodes"}) {
		t.Fatalf("claimed read-only %v", claimed)
	}
	r.Apply(claimed[:1])
	m, _ := r.Manifest()
	for _, f := range m.Functions {
		want := specs.EffectWrite
		if f.Name == "open_nodes" {
			want = specs.EffectRead
		}
		if f.Effect != want {
			t.Errorf("%s: %s, want %s", f.Name, f.Effect, want)
		}
	}
}

func TestIdentifier(t *testing.T) {
	for in, want := range map[string]string{
		"get-sum": "get_sum", "nextThoughtNeeded": "next_thought_needed", "git_log": "git_log",
		"HTTPServer": "httpserver", "a..b": "a_b", "9lives": "x_9lives", "": "x_", "__x__": "x",
		strings.Repeat("ab", 30): strings.Repeat("ab", 20), "résumé": "r_sum",
	} {
		if got := Identifier(in); got != want || !schema.ValidName(got) {
			t.Errorf("Identifier(%q) = %q, want %q", in, got, want)
		}
	}
}
