package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/isolategpt/isolategpt/engine"
	"github.com/isolategpt/isolategpt/engine/apps"
	"github.com/isolategpt/isolategpt/engine/apps/importer"
	"github.com/isolategpt/isolategpt/engine/apps/nodefetch"
	"github.com/isolategpt/isolategpt/engine/apps/npm"
	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/launch"
	"github.com/isolategpt/isolategpt/sandbox/wire"
	"github.com/isolategpt/isolategpt/specs"
	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// importHelp is `isolategpt help apps import`.
const importHelp = `isolategpt apps import [flags] NAME -- COMMAND [ARGS...]
isolategpt apps import [flags] --from mcp.json [NAME...]

Starts an MCP server in the sandbox, reads its tools, shows the manifest
made from them and installs it once you agree; the tools/list you reviewed
is pinned. "npx -y PKG@VERSION ARGS" installs the npm package into a
content-addressed folder (with its lock file, no install scripts) first.
mcp.json is the VS Code ("servers"), Cursor or Claude Desktop
("mcpServers") format; NAME picks servers from it (all by default).`

// importFlags are the choices apps import takes.
type importFlags struct {
	common
	yes, allowScripts, noRoots bool
	from, installs, dir        string
	timeout                    int
	domains, envAllow, env     multiFlag
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func (f *importFlags) flags(fs *flag.FlagSet, stdio IO) {
	f.registerData(fs, stdio.Getenv)
	fs.BoolVar(&f.yes, "yes", false, "no questions: accept the server's read-only claims and install (for scripts)")
	fs.StringVar(&f.from, "from", "", "import the servers of an mcp.json `FILE`")
	fs.BoolVar(&f.allowScripts, "allow-scripts", false, "let npm run the packages' install scripts (they run outside any sandbox)")
	fs.StringVar(&f.installs, "installs", "", "folder for npm installs (default DATA/installs; the sandbox's user must be able to reach it)")
	fs.StringVar(&f.dir, "dir", "", "the folder a local server's files are in (${install}, read-only to it); default: found from its paths")
	fs.IntVar(&f.timeout, "timeout", 0, "wall-clock limit of one call, in seconds (default: the hub's)")
	fs.BoolVar(&f.noRoots, "no-roots", false, "offer the server no MCP roots (by default: its own folder)")
	fs.Var(&f.domains, "domain", "a domain the server may reach through the egress proxy (repeatable)")
	fs.Var(&f.envAllow, "env-allow", "a variable copied from your environment to the server (repeatable)")
	fs.Var(&f.env, "env", "NAME=VALUE: a variable the server gets; VALUE may start with ${data} (its folder) (repeatable)")
}

// run runs `isolategpt apps import`: args are the NAMEs, then "--" and the
// server's command when there is one.
func (f *importFlags) run(args []string, stdio IO) int {
	var command []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, command = args[:i], args[i+1:]
	}
	names := args
	f.installs, f.dir = stdio.path(f.installs), stdio.path(f.dir)
	var servers []server
	switch {
	case f.from != "" && len(command) > 0:
		fmt.Fprintln(stdio.Err, "isolategpt apps import: give either --from FILE or -- COMMAND, not both")
		return ExitUsage
	case f.from != "":
		var err error
		if servers, err = readMCPJSON(stdio.path(f.from), names); err != nil {
			fmt.Fprintf(stdio.Err, "isolategpt apps import: %v\n", err)
			return ExitUsage
		}
	case len(names) == 1 && len(command) > 0:
		servers = []server{{name: names[0], command: command[0], args: command[1:], env: map[string]string{}}}
	default:
		fmt.Fprintln(stdio.Err, "isolategpt apps import: usage: NAME -- COMMAND [ARGS...], or --from mcp.json [NAME...] (see isolategpt help apps import)")
		return ExitUsage
	}
	for _, kv := range f.env {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			fmt.Fprintf(stdio.Err, "isolategpt apps import: --env %q: give NAME=VALUE\n", kv)
			return ExitUsage
		}
		for i := range servers {
			if servers[i].env == nil {
				servers[i].env = map[string]string{}
			}
			servers[i].env[name] = value
		}
	}
	return f.withEngine(stdio, "apps import", holdOptions{}, func(e *engine.Engine) int {
		code := ExitOK
		for _, s := range servers {
			if err := importOne(e.Apps(), s, f, stdio); err != nil {
				fmt.Fprintf(stdio.Err, "isolategpt apps import %s: %v\n", s.name, err)
				code = ExitFailed
			}
		}
		return code
	})
}

// server is one server to import, as the user named it.
type server struct {
	name, command string
	args          []string
	env           map[string]string
}

// maxMCPJSON bounds an mcp.json file.
const maxMCPJSON = 1 << 20

// readMCPJSON reads the stdio servers of an mcp.json file: "servers"
// (VS Code) or "mcpServers" (Cursor, Claude Desktop), through the strict
// decoder (no repeated keys, bad UTF-8 or trailing data). Members this
// import cannot honour (a working folder, an env file, a URL) are refused
// by name rather than ignored; a server marked disabled is left out.
func readMCPJSON(path string, only []string) ([]server, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v, err := strictjson.Value(b, maxMCPJSON)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	doc, _ := v.(map[string]any)
	all, _ := doc["mcpServers"].(map[string]any)
	if all == nil {
		all, _ = doc["servers"].(map[string]any)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("%s names no servers (under \"servers\" or \"mcpServers\")", path)
	}
	for _, n := range only {
		if _, ok := all[n]; !ok {
			return nil, fmt.Errorf("%s has no server %q", path, n)
		}
	}
	var out []server
	for _, name := range slices.Sorted(mapKeys(all)) {
		if len(only) > 0 && !slices.Contains(only, name) {
			continue
		}
		e, ok := all[name].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: server %q is not an object", path, name)
		}
		if off, _ := e["disabled"].(bool); off {
			continue
		}
		for _, k := range []string{"url", "cwd", "envFile", "headers"} {
			if _, ok := e[k]; ok {
				return nil, fmt.Errorf("%s: server %q: %q is not supported (only stdio servers started by a command run in the sandbox, in their own folder)", path, name, k)
			}
		}
		typ, _ := e["type"].(string)
		command, _ := e["command"].(string)
		if command == "" || (typ != "" && typ != "stdio") {
			return nil, fmt.Errorf("%s: server %q is not started by a command (only stdio servers run in the sandbox)", path, name)
		}
		s := server{name: name, command: command, env: map[string]string{}}
		args, _ := e["args"].([]any)
		for _, a := range args {
			str, ok := a.(string)
			if !ok {
				return nil, fmt.Errorf("%s: server %q: args must be strings", path, name)
			}
			s.args = append(s.args, str)
		}
		env, _ := e["env"].(map[string]any)
		for k, val := range env {
			str, ok := val.(string)
			if !ok {
				return nil, fmt.Errorf("%s: server %q: env %s must be a string", path, name, k)
			}
			s.env[k] = str
		}
		out = append(out, s)
	}
	return out, nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// importOne installs (for npx), starts, reads, shows, asks and installs
// one server.
func importOne(reg *apps.Registry, s server, f *importFlags, stdio IO) error {
	id := importer.Identifier(s.name)
	if id != s.name {
		fmt.Fprintf(stdio.Out, "%q is not an app name; importing it as %s.\n", s.name, id)
	}
	if strings.Contains(id, "__") {
		return fmt.Errorf("the name %s may not contain \"__\"", id)
	}
	if _, err := reg.Get(id); err == nil || errors.Is(err, apps.ErrBuiltin) || errors.Is(err, apps.ErrPin) {
		return fmt.Errorf("an app named %s exists: remove it first, or import under another name", id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := &specs.MCP{Env: s.env, EnvAllow: f.envAllow, Timeout: f.timeout, NoRoots: f.noRoots}
	installDir, version, origin, err := f.locate(ctx, s, c, stdio)
	if err != nil {
		return err
	}
	if c.Env == nil {
		c.Env = map[string]string{}
	}
	if installDir != "" {
		uid, gid := launch.SandboxIDs()
		if at := apps.Blocked(installDir, uid, gid); at != "" {
			return fmt.Errorf("the sandbox's user (uid %d) cannot reach %s: %s is closed to others; install into a folder others may pass through (--installs DIR, or --dir for a local server)", uid, installDir, at)
		}
	}
	if len(f.domains) > 0 && filepath.Base(c.Command) == "node" {
		// Node's own fetch ignores the proxy variables: a preload routes
		// it through the egress proxy (the proxy still decides).
		if installDir == "" {
			fmt.Fprintln(stdio.Out, "Note: no install folder to keep the fetch preload in: Node's built-in fetch will not reach the declared domains (give --dir).")
		} else if err := nodefetch.Install(installDir); err != nil {
			fmt.Fprintf(stdio.Out, "Note: %v: Node's built-in fetch will not reach the declared domains.\n", err)
		} else {
			c.Args = append([]string{"--require", nodefetch.Arg}, c.Args...)
		}
	}
	if err := importer.CheckMCP(id, c, f.domains); err != nil {
		return err
	}
	tmpRoot := filepath.Join(f.data, "tmp")
	if err := os.MkdirAll(tmpRoot, 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(tmpRoot, "import-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(stdio.Out, "Starting %s in the sandbox to read its tools…\n", id)
	l := &launch.Launcher{StartTimeout: 60 * time.Second, CallTimeout: 60 * time.Second, AllowWeaker: f.weaker}
	conn, err := l.Launch(ctx, apps.LaunchMCP(id, c, f.domains, installDir, sandbox.DataPath, stdio.Getenv), tmp)
	if err != nil {
		return fmt.Errorf("start the server: %w", err)
	}
	tools, err := conn.ListTools(ctx)
	var init wire.InitializeResult
	if sv, ok := conn.(interface{ Server() wire.InitializeResult }); ok {
		init = sv.Server()
	}
	conn.Close()
	if err != nil {
		return fmt.Errorf("read its tools: %w", err)
	}
	if version == "" {
		version = init.ServerInfo.Version
	}
	if !validVersion(version) {
		version = "0"
	}
	src := importer.Source{ID: id, Version: version, MCP: c, Domains: f.domains,
		ServerName: init.ServerInfo.Name, ServerVersion: init.ServerInfo.Version, Instructions: init.Instructions}
	r, err := importer.Build(src, tools)
	if err != nil {
		showDropped(r, stdio)
		return err
	}
	readOnly := r.ClaimedReadOnly()
	r.Apply(readOnly)
	m, err := r.Manifest()
	if err != nil {
		return err
	}
	for _, l := range DescribeManifest(m, installDir, origin) {
		fmt.Fprintln(stdio.Out, l)
	}
	showReport(r, stdio)
	if len(readOnly) > 0 && !f.yes {
		fmt.Fprintf(stdio.Out, "The server claims these are read-only (no side effects): %s.\n", strings.Join(readOnly, ", "))
		if !confirm(stdio, "Treat them as read-only? Otherwise every function is a write, and asks before each run.") {
			readOnly = nil
			r.Apply(nil)
			if m, err = r.Manifest(); err != nil {
				return err
			}
			fmt.Fprintln(stdio.Out, "Every function is a write.")
		}
	}
	q := fmt.Sprintf("Install %s with exactly this manifest, and pin the %d tools its server reported?", id, len(tools))
	if !f.yes && !confirm(stdio, q) {
		fmt.Fprintln(stdio.Out, "Not installed.")
		return errors.New("not installed")
	}
	cand := &apps.Candidate{Manifest: m, Source: "import: " + strings.Join(append([]string{s.command}, s.args...), " "), Dir: installDir, Tools: tools}
	if err := reg.Install(cand, false); err != nil {
		return err
	}
	uid, gid := launch.SandboxIDs()
	for _, p := range cand.Unreadable(uid, gid) {
		fmt.Fprintf(stdio.Out, "WARNING: the sandbox's user (uid %d) cannot read %s: the app will fail to start. Use --installs with a folder others may reach.\n", uid, p)
	}
	fmt.Fprintf(stdio.Out, "Installed %s (pin sha256 %s; tools/list pinned). %d of its %d tools are callable as %s.NAME.\n",
		id, m.Hash(), len(m.Functions), len(tools), id)
	return nil
}

// locate finds where the server's files are and writes its command with
// ${install} for that folder: an npx package is installed first; a local
// program is found from its paths (or --dir).
func (f *importFlags) locate(ctx context.Context, s server, c *specs.MCP, stdio IO) (dir, version, origin string, err error) {
	pkg, rest, err := npm.ParseNPX(s.command, s.args)
	switch {
	case err == nil:
		root := f.installs
		if root == "" {
			root = filepath.Join(f.data, "installs")
		}
		fmt.Fprintf(stdio.Out, "Installing %s with npm into %s (no install scripts%s)…\n", pkg, root, map[bool]string{true: ": allowed by --allow-scripts", false: ""}[f.allowScripts])
		inst, err := (&npm.Installer{Root: root, AllowScripts: f.allowScripts}).Install(ctx, pkg)
		if err != nil {
			return "", "", "", err
		}
		if inst.Bin == "" {
			return "", "", "", fmt.Errorf("%s names no program to run (no bin in its package.json)", pkg)
		}
		c.Command, c.Args = "node", append([]string{specs.PlaceholderInstall + "/" + inst.Bin}, rest...)
		what := "installed"
		if inst.Reused {
			what = "already installed"
		}
		fmt.Fprintf(stdio.Out, "%s %s@%s in %s (lock sha256 %s).\n", what, pkg.Name, inst.Version, inst.Dir, shortHash(inst.Lock))
		return inst.Dir, inst.Version, fmt.Sprintf("npm %s@%s, lock sha256 %s", pkg.Name, inst.Version, inst.Lock), nil
	case !errors.Is(err, npm.ErrNotNPX):
		return "", "", "", err
	}
	c.Command, c.Args = s.command, slices.Clone(s.args)
	dir = f.dir
	if dir == "" {
		dir = findInstallDir(append([]string{s.command}, s.args...))
	}
	if dir != "" {
		if dir, err = filepath.Abs(dir); err != nil {
			return "", "", "", err
		}
		c.Command = underInstall(c.Command, dir)
		for i := range c.Args {
			c.Args[i] = underInstall(c.Args[i], dir)
		}
		version = packageVersion(dir)
	}
	return dir, version, "a local command", nil
}

// findInstallDir guesses the folder a local server lives in from the first
// absolute path among its command and arguments: the folder above its
// node_modules, else the nearest folder with a package.json, else its own.
func findInstallDir(words []string) string {
	for _, w := range words {
		if !filepath.IsAbs(w) {
			continue
		}
		if info, err := os.Stat(w); err != nil || info.IsDir() {
			continue
		}
		if i := strings.Index(w, "/node_modules/"); i > 0 {
			return w[:i]
		}
		for d := filepath.Dir(w); d != "/"; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "package.json")); err == nil {
				return d
			}
		}
		return filepath.Dir(w)
	}
	return ""
}

func underInstall(s, dir string) string {
	if s == dir {
		return specs.PlaceholderInstall
	}
	if strings.HasPrefix(s, dir+"/") {
		return specs.PlaceholderInstall + s[len(dir):]
	}
	return s
}

func packageVersion(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return ""
	}
	var p struct {
		Version string `json:"version"`
	}
	if strictjson.UnmarshalKnown(b, &p, 4<<20) != nil {
		return "" // no version: the caller asks for one
	}
	return p.Version
}

// validVersion is specs' rule for a manifest version.
func validVersion(v string) bool {
	if v == "" || len(v) > specs.MaxVersion {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (i > 0 && strings.IndexByte(".+-", c) >= 0)) {
			return false
		}
	}
	return true
}

// showReport prints what the import changed, hid or left out.
func showReport(r *importer.Report, stdio IO) {
	showDropped(r, stdio)
	var hidden, renamed, notes, text []string
	for _, fn := range r.Functions {
		if fn.Result == specs.ResultText {
			text = append(text, fn.Name)
		}
		if len(fn.Hidden) > 0 {
			hidden = append(hidden, fmt.Sprintf("  %s: %s", fn.Name, strings.Join(fn.Hidden, ", ")))
		}
		if len(fn.Removed) > 0 {
			notes = append(notes, fmt.Sprintf("  %s: removed %s (cannot be applied here)", fn.Name, strings.Join(fn.Removed, "; ")))
		}
		var parts []string
		if fn.Name != fn.Tool {
			parts = append(parts, fmt.Sprintf("tool %q", fn.Tool))
		}
		for _, real := range slices.Sorted(mapKeys(fn.Aliases)) {
			parts = append(parts, fmt.Sprintf("%q → %s", real, fn.Aliases[real]))
		}
		if len(parts) > 0 {
			renamed = append(renamed, fmt.Sprintf("  %s: %s", fn.Name, strings.Join(parts, ", ")))
		}
		for _, n := range fn.Notes {
			notes = append(notes, fmt.Sprintf("  %s: %s", fn.Name, n))
		}
	}
	if len(text) > 0 {
		fmt.Fprintf(stdio.Out, "Results read as content items (text, images, resources; the server declares no output schema): %s\n", strings.Join(text, ", "))
	}
	if len(renamed) > 0 {
		fmt.Fprintln(stdio.Out, "Names that are not identifiers, and the identifiers used for them:")
		printLines(stdio, renamed)
	}
	if len(hidden) > 0 {
		fmt.Fprintln(stdio.Out, "Schema keywords the planner does not see (the validator applies them all):")
		printLines(stdio, hidden)
	}
	if len(notes) > 0 {
		fmt.Fprintln(stdio.Out, "Changed by the import:")
		printLines(stdio, notes)
	}
}

func showDropped(r *importer.Report, stdio IO) {
	if r == nil || len(r.Dropped) == 0 {
		return
	}
	fmt.Fprintf(stdio.Out, "Tools left out (%d), never callable:\n", len(r.Dropped))
	for _, d := range r.Dropped {
		fmt.Fprintf(stdio.Out, "  %q: %s\n", d.Tool, d.Reason)
	}
}

func printLines(stdio IO, lines []string) {
	for _, l := range lines {
		fmt.Fprintln(stdio.Out, l)
	}
}
