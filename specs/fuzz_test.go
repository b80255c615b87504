package specs

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzParse is best run with -fuzzminimizetime=2s: the seeds are whole
// manifests of a few kilobytes, and minimizing each new input for the default
// minute keeps a worker from fuzzing at all.
func FuzzParse(f *testing.F) {
	for _, id := range []string{"metro_hail", "quick_ride", "travel_mate", "health_companion", "symptom_solver", "creative_muse"} {
		data, err := apps.ReadFile("apps/" + id + ".json")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(encode(f, base()))
	f.Add(encode(f, mcpBase()))
	for _, id := range []string{"files", "memory"} {
		data, err := os.ReadFile(filepath.Join("apps", "mcp", id+".json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"id":"a","version":"1","description":"d","kind":"mcp","mcp":{"command":"${install}/../x","Args":[]},"functions":[]}`))
	f.Add([]byte(`{"id":"a","id":"b"}`))
	f.Add([]byte(`{"ID":"a","version":"1","description":"d","kind":"prompt","instructions":"i"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidManifest) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v is neither ErrInvalidManifest nor ErrTooLarge", err)
			}
			return
		}
		if !validID(m.ID) {
			t.Fatalf("accepted id %q", m.ID)
		}
		for _, fn := range m.Functions {
			if !validID(fn.Name) || !fn.Input.Is("object") || !fn.Output.Is("object") {
				t.Fatalf("accepted function %+v", fn)
			}
		}
		if (m.Kind == KindMCP) != (m.MCP != nil) {
			t.Fatalf("kind %s with mcp section %+v", m.Kind, m.MCP)
		}
		if m.MCP != nil {
			checkAcceptedMCP(t, m.MCP)
		}
		again, err := Parse(m.Raw())
		if err != nil {
			t.Fatalf("Raw %s does not parse: %v", m.Raw(), err)
		}
		if !bytes.Equal(again.Raw(), m.Raw()) || again.Hash() != m.Hash() {
			t.Fatalf("Raw not a fixed point:\n%s\n%s", m.Raw(), again.Raw())
		}
	})
}

// checkAcceptedMCP states what Parse promises about an accepted mcp
// section, independently of how it checks it.
func checkAcceptedMCP(t *testing.T, c *MCP) {
	t.Helper()
	for _, name := range append(slices.Collect(maps.Keys(c.Env)), c.EnvAllow...) {
		for _, bad := range []string{"LD_", "DYLD_", "NODE_OPTIONS", "PATH", "HOME", "OPENAI_", "ANTHROPIC_"} {
			if strings.HasPrefix(name, bad) {
				t.Fatalf("accepted env name %q", name)
			}
		}
	}
	if !strings.HasPrefix(c.Command, "/") && !strings.HasPrefix(c.Command, PlaceholderInstall+"/") && strings.ContainsAny(c.Command, "/$ ") {
		t.Fatalf("accepted command %q", c.Command)
	}
	for _, s := range append(append([]string{c.Command}, c.Args...), slices.Collect(maps.Values(c.Env))...) {
		for _, seg := range strings.Split(s, "/") {
			if seg == ".." && (strings.HasPrefix(s, PlaceholderInstall) || strings.HasPrefix(s, PlaceholderData)) {
				t.Fatalf("accepted %q, which climbs out of its placeholder's folder", s)
			}
		}
		if i := strings.Index(s, "${"); i > 0 || strings.Count(s, "${") > 1 {
			t.Fatalf("accepted %q with a placeholder not at its start", s)
		}
	}
}
