package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/isolategpt/isolategpt/actors/msg"
)

// compatServers returns the folder scripts/install-mcp-servers.sh
// installs the npm MCP servers into, from scripts/mcp/package-lock.json.
// A missing install fails the test, unless the script recorded that the
// npm registry was unreachable: then it skips and says so.
func compatServers(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), ".cache", "mcp")
	if _, err := os.Stat(filepath.Join(dir, ".installed")); err == nil {
		return dir
	}
	if why, err := os.ReadFile(filepath.Join(dir, ".unreachable")); err == nil {
		t.Skipf("the npm MCP servers are not installed because the npm registry was unreachable (%s)", strings.TrimSpace(string(why)))
	}
	t.Fatalf("the npm MCP servers are not installed in %s: run scripts/install-mcp-servers.sh before go test", dir)
	return ""
}

// binOf is the program an installed npm package names in its package.json.
func binOf(t *testing.T, servers, pkg string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(servers, "node_modules", pkg, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Bin map[string]string `json:"bin"`
	}
	if err := json.Unmarshal(b, &p); err != nil || len(p.Bin) != 1 {
		t.Fatalf("%s: bin %v, %v", pkg, p.Bin, err)
	}
	for _, bin := range p.Bin {
		return filepath.Join(servers, "node_modules", pkg, bin)
	}
	return ""
}

// askJSON runs `isolategpt ask --json` with stdin answering the prompts
// (or --yes when stdin is empty) and returns the answer.
func askJSON(t *testing.T, data, stdin, query string) *msg.Answer {
	t.Helper()
	a, _ := askPrompted(t, data, stdin, query)
	return a
}

// askPrompted is askJSON that also returns what the terminal prompter
// wrote (the prompts it showed).
func askPrompted(t *testing.T, data, stdin, query string) (*msg.Answer, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	args := append([]string{"--data", data, "--json"}, weakerFlags()...)
	args = append(args, query)
	if stdin == "" {
		args = append([]string{"--yes"}, args...)
	}
	Ask(args, IO{In: strings.NewReader(stdin), Out: &out, Err: &errOut, Getenv: func(string) string { return "" }})
	var a msg.Answer
	if err := json.Unmarshal(out.Bytes(), &a); err != nil {
		t.Fatalf("ask %q: no answer: %v\nstdout: %s\nstderr: %s", query, err, out.String(), errOut.String())
	}
	return &a, errOut.String()
}

// firstStep is the answer's first step.
func firstStep(t *testing.T, a *msg.Answer) msg.StepOutcome {
	t.Helper()
	if len(a.Steps) == 0 {
		t.Fatalf("no step ran: %s", a.Text)
	}
	return a.Steps[0]
}

// compatCase is one real server: how it is imported, what the import
// must report, and queries whose first step must call its function and
// return a result holding want.
type compatCase struct {
	name     string
	pkg      string
	args     []string // after the program
	flags    []string // apps import flags
	fromJSON bool     // import through an mcp.json (Claude Desktop format)
	env      map[string]string
	callable int
	dropped  []string
	asks     []compatAsk
}

type compatAsk struct {
	query, function, want string
}

var compatCases = []compatCase{
	{name: "files", pkg: "@modelcontextprotocol/server-filesystem", args: []string{"/run/app"}, callable: 14, asks: []compatAsk{
		{`Use files to list allowed directories`, "list_allowed_directories", "/run/app"},
		{`Use files to write file with path = "/run/app/todo.txt", content = "buy milk"`, "write_file", "Successfully wrote"},
		{`Use files to read text file with path = "/run/app/todo.txt"`, "read_text_file", "buy milk"},
	}},
	{name: "memory", pkg: "@modelcontextprotocol/server-memory", flags: []string{"--env", "MEMORY_FILE_PATH=${data}/memory.jsonl"}, callable: 9, asks: []compatAsk{
		{`Use memory to read the graph`, "read_graph", `"entities"`},
		{`Use memory to search nodes for "John"`, "search_nodes", `"relations"`},
	}},
	{name: "everything", pkg: "@modelcontextprotocol/server-everything", args: []string{"stdio"}, callable: 15,
		dropped: []string{"simulate-research-query"}, asks: []compatAsk{
			{`Use everything to get sum with a = 2, b = 3`, "get_sum", "The sum of 2 and 3 is 5"},
			{`Use everything to get tiny image`, "get_tiny_image", `"type":"image"`},
			{`Use everything to get structured content with location = "Chicago"`, "get_structured_content", `"humidity"`},
			{`Use everything to get resource links with count = 2`, "get_resource_links", `"type":"resource_link"`},
			{`Use everything to get roots list`, "get_roots_list", "file:///run/app"},
			{`Use everything to trigger sampling request with prompt = "hello"`, "trigger_sampling_request", "isolategpt:everything"},
			{`Use everything to trigger elicitation request`, "trigger_elicitation_request", "decline"},
			{`Use everything to trigger long running operation with duration = 1, steps = 2`, "trigger_long_running_operation", "completed"},
		}},
	{name: "thinking", pkg: "@modelcontextprotocol/server-sequential-thinking", callable: 1, asks: []compatAsk{
		{`Use thinking to run sequentialthinking with thought = "first step", next_thought_needed = false, thought_number = 1, total_thoughts = 1`, "sequentialthinking", `"thought_number":1`},
	}},
	{name: "time", pkg: "time-mcp", fromJSON: true, callable: 6, asks: []compatAsk{
		{`Use time to convert time with source_timezone = "UTC", target_timezone = "Asia/Tokyo", time = "2025-03-23 12:30:00"`, "convert_time", "2025-03-23 21:30:00"},
		{`Use time to get the days in month with date = "2024-02-10"`, "days_in_month", "29"},
	}},
	{name: "calc", pkg: "@coo-quack/calc-mcp", fromJSON: true, callable: 21, asks: []compatAsk{
		{`Use calc to hash with input = "hello", algorithm = "md5"`, "hash", "5d41402abc4b2a76b9719d911017c592"},
		{`Use calc to run math with expression = "2*(3+4)"`, "math", `"text":"14"`},
	}},
}

// TestCompatRealServers imports real npm MCP servers of six kinds (files,
// a knowledge graph, the protocol's reference server, a reasoning aid,
// time zones, a calculator) exactly as a user would — `apps import NAME --
// node PROGRAM` or `apps import --from mcp.json` — and asks isolategpt to
// call their tools through the hub, with no hand-editing. Each server is
// started once by the import and once per query.
func TestCompatRealServers(t *testing.T) {
	servers := compatServers(t)
	data := t.TempDir()
	mcpJSON := map[string]any{}
	for _, c := range compatCases {
		if c.fromJSON {
			mcpJSON[c.name] = map[string]any{"command": "node", "args": append([]string{binOf(t, servers, c.pkg)}, c.args...), "env": c.env}
		}
	}
	file := filepath.Join(t.TempDir(), "claude_desktop_config.json")
	b, _ := json.Marshal(map[string]any{"mcpServers": mcpJSON})
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runApps(t, data, "", "import", "--yes", "--from", file)
	if code != ExitOK {
		t.Fatalf("import --from: exit %d\n%s\n%s", code, out, errs)
	}
	for _, c := range compatCases {
		t.Run(c.name, func(t *testing.T) {
			if !c.fromJSON {
				args := append(append([]string{"import", "--yes"}, c.flags...), c.name, "--", "node", binOf(t, servers, c.pkg))
				code, out, errs := runApps(t, data, "", append(args, c.args...)...)
				if code != ExitOK {
					t.Fatalf("import: exit %d\n%s\n%s", code, out, errs)
				}
				checkImported(t, c, out)
			}
			_, show, _ := runApps(t, data, "", "show", c.name)
			if !strings.Contains(show, "Tools pin: sha256") {
				t.Errorf("tools/list not pinned at import:\n%s", show)
			}
			for _, ask := range c.asks {
				st := firstStep(t, askJSON(t, data, "", ask.query))
				if st.App != c.name || st.Function != ask.function {
					t.Errorf("%q planned %s.%s, want %s.%s", ask.query, st.App, st.Function, c.name, ask.function)
					continue
				}
				var res bytes.Buffer
				_ = json.Compact(&res, st.Result)
				if st.Status != msg.StatusOK || !strings.Contains(res.String(), ask.want) {
					t.Errorf("%s.%s: %s %s %s; want a result with %q", c.name, ask.function, st.Status, st.Reason, st.Result, ask.want)
				}
			}
		})
	}
	// The import's own summary, for the servers that came from mcp.json.
	for _, c := range compatCases {
		if c.fromJSON {
			checkImported(t, c, out)
		}
	}
}

// checkImported checks what apps import said it installed.
func checkImported(t *testing.T, c compatCase, out string) {
	t.Helper()
	want := "Installed " + c.name + " ("
	i := strings.Index(out, want)
	if i < 0 {
		t.Fatalf("%s not installed:\n%s", c.name, out)
	}
	total := c.callable + len(c.dropped)
	if line := out[i:]; !strings.Contains(line[:strings.Index(line, "\n")], strings.Join([]string{itoa(c.callable), "of its", itoa(total), "tools are callable"}, " ")) {
		t.Errorf("%s: %s", c.name, line[:strings.Index(line, "\n")])
	}
	for _, d := range c.dropped {
		if !strings.Contains(out, `"`+d+`": `) {
			t.Errorf("%s: dropped tool %q not listed", c.name, d)
		}
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestCompatGitServer imports @cyanheads/git-mcp-server from an mcp.json
// that sets git's identity through the curated GIT_* variables, and asks
// it to make and inspect a repository in its own folder. Node's
// process.memoryUsage(), which the server calls on every tool call, reads
// /proc/self: the sandbox gives each worker a private /proc (issue #11);
// on a host that cannot (a weaker sandbox) the test says so and skips.
func TestCompatGitServer(t *testing.T) {
	servers := compatServers(t)
	data := t.TempDir()
	file := filepath.Join(t.TempDir(), "mcp.json")
	b, _ := json.Marshal(map[string]any{"servers": map[string]any{"git": map[string]any{
		"type": "stdio", "command": "node", "args": []string{binOf(t, servers, "@cyanheads/git-mcp-server")},
		"env": map[string]string{"GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com",
			"GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.com", "GIT_TERMINAL_PROMPT": "0"},
	}}})
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runApps(t, data, "", "import", "--yes", "--from", file)
	if code != ExitOK {
		t.Fatalf("import: exit %d\n%s\n%s", code, out, errs)
	}
	checkImported(t, compatCase{name: "git", callable: 28}, out)
	st := firstStep(t, askJSON(t, data, "", `Use git to run git init with path = "/run/app/repo", initial_branch = "main"`))
	if st.App != "git" || st.Function != "git_init" {
		t.Fatalf("planned %s.%s", st.App, st.Function)
	}
	if strings.Contains(st.Reason, "uv_resident_set_memory") {
		t.Skipf("needs a private /proc in the sandbox (issue #11): %s", st.Reason)
	}
	if st.Status != msg.StatusOK {
		t.Fatalf("git_init: %s %s", st.Status, st.Reason)
	}
	st = firstStep(t, askJSON(t, data, "", `Use git to get git status with path = "/run/app/repo"`))
	if st.Status != msg.StatusOK || !strings.Contains(string(st.Result), "is_clean") {
		t.Errorf("git_status: %s %s %s", st.Status, st.Reason, st.Result)
	}
}

// TestCompatAsOrdinaryUser runs TestCompatRealServers again with the hub
// as an ordinary user (nobody), the way most people run it: the test
// binary is copied where that user can run it and started with its
// credentials.
func TestCompatAsOrdinaryUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("the hub runs as an ordinary user here already: TestCompatRealServers is that run")
	}
	compatServers(t)
	dir, err := os.MkdirTemp("", "compat-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	const nobody = 65534
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "compat.test")
	if out, err := exec.Command("cp", exe, bin).CombinedOutput(); err != nil {
		t.Fatalf("copy the test binary: %v: %s", err, out)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, "-test.run=^TestCompatRealServers$", "-test.count=1", "-test.v")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestCompatRealServers") {
		t.Fatalf("as uid %d: %v\n%s", nobody, err, out)
	}
}
