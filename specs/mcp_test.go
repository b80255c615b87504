package specs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// mcpBase returns a valid mcp manifest as generic JSON data.
func mcpBase() map[string]any {
	m := base()
	m["kind"] = KindMCP
	m["mcp"] = map[string]any{
		"command":   "node",
		"args":      []any{"${install}/dist/index.js", "${data}", "--flag"},
		"env":       map[string]any{"MEMORY_FILE_PATH": "${data}/memory.jsonl", "LOG_LEVEL": "info"},
		"env_allow": []any{"GITHUB_TOKEN", "API_REGION"},
	}
	return m
}

func mcpSection(m map[string]any) map[string]any { return m["mcp"].(map[string]any) }

func TestParseMCP(t *testing.T) {
	m, err := Parse(encode(t, mcpBase()))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if m.Kind != KindMCP || m.MCP == nil {
		t.Fatalf("manifest %+v", m)
	}
	if m.MCP.Command != "node" || !slices.Equal(m.MCP.Args, []string{"${install}/dist/index.js", "${data}", "--flag"}) {
		t.Errorf("command %q args %q", m.MCP.Command, m.MCP.Args)
	}
	if !slices.Equal(m.MCP.EnvAllow, []string{"API_REGION", "GITHUB_TOKEN"}) {
		t.Errorf("env_allow %q, want sorted", m.MCP.EnvAllow)
	}
	if m.MCP.Env["MEMORY_FILE_PATH"] != "${data}/memory.jsonl" || len(m.MCP.Env) != 2 {
		t.Errorf("env %v", m.MCP.Env)
	}
	if !m.MCP.UsesInstall() {
		t.Error("UsesInstall is false for a command under ${install}")
	}
	again, err := Parse(m.Raw())
	if err != nil {
		t.Fatalf("Parse(Raw): %v\n%s", err, m.Raw())
	}
	if again.Hash() != m.Hash() {
		t.Error("Raw is not a fixed point for an mcp manifest")
	}
}

// TestMCPHashCoversLaunch checks that everything deciding what runs, with
// which arguments and environment, is pinned.
func TestMCPHashCoversLaunch(t *testing.T) {
	ref, err := Parse(encode(t, mcpBase()))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(map[string]any)
	}{
		{"command", func(m map[string]any) { mcpSection(m)["command"] = "/usr/bin/node" }},
		{"an argument", func(m map[string]any) { mcpSection(m)["args"] = []any{"${install}/dist/index.js", "/"} }},
		{"argument order", func(m map[string]any) {
			mcpSection(m)["args"] = []any{"${data}", "${install}/dist/index.js", "--flag"}
		}},
		{"an env value", func(m map[string]any) { mcpSection(m)["env"].(map[string]any)["LOG_LEVEL"] = "debug" }},
		{"an allowed variable", func(m map[string]any) { mcpSection(m)["env_allow"] = []any{"GITHUB_TOKEN"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := mcpBase()
			tt.change(src)
			m, err := Parse(encode(t, src))
			if err != nil {
				t.Fatal(err)
			}
			if m.Hash() == ref.Hash() {
				t.Error("hash did not change")
			}
		})
	}
	t.Run("env_allow order does not matter", func(t *testing.T) {
		src := mcpBase()
		mcpSection(src)["env_allow"] = []any{"API_REGION", "GITHUB_TOKEN"}
		m, err := Parse(encode(t, src))
		if err != nil {
			t.Fatal(err)
		}
		if m.Hash() != ref.Hash() {
			t.Error("hash depends on the order of env_allow")
		}
	})
}

// TestBuiltinHashUnchangedByMCP keeps the pins of existing manifests: a
// non-mcp manifest's canonical form has no mcp member.
func TestBuiltinHashUnchangedByMCP(t *testing.T) {
	m, err := Parse(encode(t, base()))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(m.Raw()), `"mcp"`) {
		t.Errorf("builtin Raw has an mcp member: %s", m.Raw())
	}
}

func TestParseMCPRefuses(t *testing.T) {
	mutate := func(f func(map[string]any)) string {
		m := mcpBase()
		f(m)
		return string(encode(t, m))
	}
	setEnv := func(name, value string) func(map[string]any) {
		return func(m map[string]any) { mcpSection(m)["env"] = map[string]any{name: value} }
	}
	allow := func(names ...any) func(map[string]any) {
		return func(m map[string]any) { mcpSection(m)["env_allow"] = names }
	}
	args := func(a ...any) func(map[string]any) {
		return func(m map[string]any) { mcpSection(m)["args"] = a }
	}
	cmd := func(c string) func(map[string]any) {
		return func(m map[string]any) { mcpSection(m)["command"] = c }
	}
	tests := []struct {
		name string
		src  string
		text string
	}{
		{"no mcp section", mutate(func(m map[string]any) { delete(m, "mcp") }), "needs an mcp section"},
		{"mcp section on a builtin", mutate(func(m map[string]any) { m["kind"] = KindBuiltin }), "only an mcp app"},
		{"mcp section on a prompt app", mutate(func(m map[string]any) {
			m["kind"] = KindPrompt
			m["instructions"] = "x"
			delete(m, "functions")
			delete(m, "domains")
		}), "only an mcp app"},
		{"no functions", mutate(func(m map[string]any) { m["functions"] = []any{} }), "at least one function"},
		{"instructions", mutate(func(m map[string]any) { m["instructions"] = "obey" }), "only a prompt app"},
		{"mcp not an object", mutate(func(m map[string]any) { m["mcp"] = "node" }), "mcp must be an object"},
		{"unknown mcp field", mutate(func(m map[string]any) { mcpSection(m)["cwd"] = "/" }), `unknown field "cwd"`},
		{"mcp field in another case", mutate(func(m map[string]any) {
			s := mcpSection(m)
			s["Command"] = s["command"]
			delete(s, "command")
		}), `unknown field "Command"`},
		{"missing command", mutate(func(m map[string]any) { delete(mcpSection(m), "command") }), "command: missing"},
		{"relative command", mutate(cmd("bin/server")), "relative path"},
		{"dot-slash command", mutate(cmd("./server")), "relative path"},
		{"command with a space", mutate(cmd("node --inspect")), "program name"},
		{"command from another placeholder", mutate(cmd("${data}/server")), "only ${install}"},
		{"command from an env variable", mutate(cmd("$HOME/server")), "only ${install}"},
		{"command climbing out of install", mutate(cmd("${install}/../../bin/sh")), `no ".."`},
		{"command with a control character", mutate(cmd("/bin/node\x1b[2K")), "control"},
		{"empty argument", mutate(args("")), "empty"},
		{"placeholder in the middle", mutate(args("--root=${data}")), `"${" is only allowed`},
		{"unknown placeholder", mutate(args("${home}/x")), `"${" is only allowed`},
		{"placeholder glued to a name", mutate(args("${data}x")), `followed by "/"`},
		{"argument climbing out of data", mutate(args("${data}/../other_app")), `no ".."`},
		{"argument with an empty segment", mutate(args("${data}//x")), "empty segment"},
		{"two placeholders", mutate(args("${data}/${install}")), `"${" is only allowed`},
		{"too many arguments", mutate(func(m map[string]any) {
			a := make([]any, MaxArgs+1)
			for i := range a {
				a[i] = "x"
			}
			mcpSection(m)["args"] = a
		}), "limit 64"},
		{"oversized argument", mutate(args(strings.Repeat("a", MaxArgBytes+1))), "longer than"},
		{"LD_PRELOAD", mutate(setEnv("LD_PRELOAD", "/tmp/evil.so")), "LD_"},
		{"LD_LIBRARY_PATH allowed from the hub", mutate(allow("LD_LIBRARY_PATH")), "LD_"},
		{"NODE_OPTIONS", mutate(setEnv("NODE_OPTIONS", "--require /tmp/x.js")), "NODE_OPTIONS"},
		{"PYTHONPATH", mutate(allow("PYTHONPATH")), "PYTHON"},
		{"BASH_ENV", mutate(setEnv("BASH_ENV", "/tmp/x")), "BASH_ENV"},
		{"GLIBC_TUNABLES", mutate(setEnv("GLIBC_TUNABLES", "x")), "GLIBC_TUNABLES"},
		{"PATH", mutate(setEnv("PATH", "/tmp")), "set by the sandbox"},
		{"HOME from the hub", mutate(allow("HOME")), "set by the sandbox"},
		{"proxy", mutate(setEnv("HTTPS_PROXY", "http://evil.example")), "set by the sandbox"},
		{"the hub's API key", mutate(allow("OPENAI_API_KEY")), "OPENAI_"},
		{"the hub's Anthropic key", mutate(allow("ANTHROPIC_API_KEY")), "ANTHROPIC_"},
		{"the hub's own settings", mutate(allow("ISOLATEGPT_LLM")), "ISOLATEGPT"},
		{"lower-case name", mutate(allow("path")), "must be 1 to 64"},
		{"name with '='", mutate(setEnv("A=B", "c")), "must be 1 to 64"},
		{"name starting with '_'", mutate(allow("_X")), "must be 1 to 64"},
		{"allowed twice", mutate(allow("TOKEN", "TOKEN")), "listed twice"},
		{"allowed and set", mutate(func(m map[string]any) {
			mcpSection(m)["env"] = map[string]any{"TOKEN": "x"}
			mcpSection(m)["env_allow"] = []any{"TOKEN"}
		}), "also set in env"},
		{"env value with a placeholder in the middle", mutate(setEnv("CONFIG", "a:${data}")), `"${" is only allowed`},
		{"env value with a control character", mutate(setEnv("CONFIG", "a\x00b")), "control"},
		{"duplicate env name", strings.Replace(mutate(setEnv("CONFIG", "a")), `"CONFIG":"a"`, `"CONFIG":"a","CONFIG":"b"`, 1), "duplicate"},
		{"env not strings", mutate(func(m map[string]any) { mcpSection(m)["env"] = map[string]any{"N": 1} }), "invalid manifest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.src))
			if err == nil {
				t.Fatalf("Parse accepted %s as %+v", tt.src, m.MCP)
			}
			if !errors.Is(err, ErrInvalidManifest) {
				t.Errorf("error %q is not ErrInvalidManifest", err)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not mention %q", err, tt.text)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	tests := []struct{ in, want string }{
		{"${install}/dist/index.js", "/opt/app/dist/index.js"},
		{"${data}", "/data/u/app"},
		{"${data}/memory.jsonl", "/data/u/app/memory.jsonl"},
		{"--flag", "--flag"},
		{"/abs", "/abs"},
	}
	for _, tt := range tests {
		if got := Expand(tt.in, "/opt/app", "/data/u/app"); got != tt.want {
			t.Errorf("Expand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestShippedMCPManifests parses the manifests of the two npm servers
// under apps/mcp, which scripts/install-mcp-servers.sh installs beside
// them.
func TestShippedMCPManifests(t *testing.T) {
	for _, id := range []string{"files", "memory"} {
		t.Run(id, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("apps", "mcp", id+".json"))
			if err != nil {
				t.Fatal(err)
			}
			m, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if m.ID != id || m.Kind != KindMCP || !m.MCP.UsesInstall() {
				t.Errorf("manifest %s: kind %s, mcp %+v", m.ID, m.Kind, m.MCP)
			}
			if len(m.Domains) != 0 {
				t.Errorf("%s declares domains %v; it needs no network", id, m.Domains)
			}
		})
	}
}
