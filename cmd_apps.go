package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/isolategpt/isolategpt/engine"
	"github.com/isolategpt/isolategpt/engine/apps"
	ut "github.com/isolategpt/isolategpt/engine/untrusted"
	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/launch"
	"github.com/isolategpt/isolategpt/specs"
	"github.com/isolategpt/isolategpt/specs/schema"
)

var appsCmd = &cmdSpec{
	name: "apps", folder: true,
	summary: "the built-in and installed apps; install shows a manifest whole and asks",
	subs: []*cmdSpec{
		{name: "list", folder: true, summary: "the built-in and installed apps, with their pins",
			new: func() options { return &appsOpts{cmd: "list"} }},
		{name: "show", args: "NAME", folder: true, summary: "one app's whole manifest and pins",
			new: func() options { return &appsOpts{cmd: "show"} }},
		{name: "install", args: "FILE", folder: true, summary: "show a manifest file whole, ask, and install it",
			new: func() options { return &appsOpts{cmd: "install"} }},
		{name: "import", args: "[NAME...] [-- COMMAND ARGS...]", folder: true, dashArgs: true,
			summary: "start an MCP server in the sandbox, read its tools, show the manifest made from them, install it",
			help:    importHelp,
			new:     func() options { return &importFlags{} }},
		{name: "remove", args: "NAME", folder: true, summary: "uninstall an installed app (its data folders stay)",
			new: func() options { return &appsOpts{cmd: "remove"} }},
	},
}

type appsOpts struct {
	c   common
	cmd string
	yes bool
}

func (o *appsOpts) flags(fs *flag.FlagSet, stdio IO) {
	o.c.registerData(fs, stdio.Getenv)
	if o.cmd == "install" {
		fs.BoolVar(&o.yes, "yes", false, "install without asking (for scripts): you accept the manifest as printed")
	}
}

// Apps runs `isolategpt apps list | show NAME | install FILE | remove NAME`.
// While another isolategpt holds the data folder, the command runs in that
// process; an install is used by a running engine from its next start.
func Apps(args []string, stdio IO) int { return runCommand(stdio, "apps", args...) }

func (o *appsOpts) run(args []string, stdio IO) int {
	o.c.readOnly = o.cmd == "list" || o.cmd == "show"
	return o.c.withEngine(stdio, "apps "+o.cmd, holdOptions{}, func(e *engine.Engine) int {
		reg := e.Apps()
		switch o.cmd {
		case "list":
			return appsList(reg, stdio)
		case "show":
			return appsShow(reg, args[0], stdio)
		case "install":
			code := appsInstall(reg, stdio.path(args[0]), o.yes, stdio)
			if code == ExitOK && stdio.served != nil {
				fmt.Fprintf(stdio.Out, "The isolategpt holding this data folder (pid %d) uses the app from its next start; later commands started while it runs go through it.\n", os.Getpid())
			}
			return code
		default:
			return appsRemove(reg, args[0], stdio)
		}
	})
}

func appsList(reg *apps.Registry, stdio IO) int {
	all, err := reg.List()
	code := ExitOK
	if err != nil {
		// Apps whose pin broke are named here and do not run.
		fmt.Fprintf(stdio.Err, "isolategpt apps list: %v\n", err)
		code = ExitFailed
	}
	fmt.Fprintf(stdio.Out, "%-18s %-8s %-10s %5s  %-12s %-12s %s\n", "APP", "KIND", "VERSION", "FUNCS", "PIN", "TOOLS PIN", "SOURCE")
	for _, a := range all {
		m := a.Manifest
		source, tools := "built in", "-"
		if !a.Builtin {
			source = a.Source
			if m.Kind == specs.KindMCP {
				tools = shortHash(a.ToolsHash)
				if a.ToolsHash == "" {
					tools = "at 1st start"
				}
			}
		}
		fmt.Fprintf(stdio.Out, "%-18s %-8s %-10s %5d  %-12s %-12s %s\n", m.ID, m.Kind, m.Version, len(m.Functions), shortHash(m.Hash()), tools, source)
	}
	return code
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func appsShow(reg *apps.Registry, id string, stdio IO) int {
	a, err := reg.Get(id)
	if err != nil {
		fmt.Fprintf(stdio.Err, "isolategpt apps show: %v\n", err)
		return ExitFailed
	}
	source := "built into isolategpt"
	if !a.Builtin {
		source = "installed from " + a.Source
	}
	for _, l := range DescribeManifest(a.Manifest, a.Dir, source) {
		fmt.Fprintln(stdio.Out, l)
	}
	if a.Manifest.Kind == specs.KindMCP {
		if a.ToolsHash == "" {
			fmt.Fprintln(stdio.Out, "Tools pin: none yet; the tools/list its server reports at its first start will be pinned.")
		} else {
			fmt.Fprintf(stdio.Out, "Tools pin: sha256 %s\n", a.ToolsHash)
			if tools, err := reg.PinnedTools(id); err == nil {
				var names []string
				for _, t := range tools {
					names = append(names, fmt.Sprintf("%q", t.Name))
				}
				fmt.Fprintf(stdio.Out, "  the server reported %d tools: %s\n", len(tools), strings.Join(names, ", "))
			}
		}
	}
	return ExitOK
}

func appsInstall(reg *apps.Registry, file string, yes bool, stdio IO) int {
	cand, err := apps.Load(file)
	if err != nil {
		fmt.Fprintf(stdio.Err, "isolategpt apps install: %v\n", err)
		return ExitFailed
	}
	m := cand.Manifest
	old, err := reg.Get(m.ID)
	replace := false
	switch {
	case err == nil && old.Builtin:
		fmt.Fprintf(stdio.Err, "isolategpt apps install: %s is a built-in app; an installed app cannot take its name\n", m.ID)
		return ExitFailed
	case err == nil && old.Manifest.Hash() == m.Hash() && old.Dir == cand.Dir:
		fmt.Fprintf(stdio.Out, "%s is already installed with this manifest (pin %s); nothing to do.\n", m.ID, shortHash(m.Hash()))
		return ExitOK
	case err == nil:
		replace = true
	case errors.Is(err, apps.ErrBuiltin):
		fmt.Fprintf(stdio.Err, "isolategpt apps install: %s is the name of a built-in app; an installed app cannot take it\n", m.ID)
		return ExitFailed
	case !errors.Is(err, apps.ErrNotInstalled):
		// A broken pin is replaced only by a fresh, approved install.
		replace = errors.Is(err, apps.ErrPin)
		if !replace {
			fmt.Fprintf(stdio.Err, "isolategpt apps install: %v\n", err)
			return ExitFailed
		}
	}
	for _, l := range DescribeManifest(m, cand.Dir, "from "+cand.Source) {
		fmt.Fprintln(stdio.Out, l)
	}
	if m.MCP != nil {
		uid, gid := launch.SandboxIDs()
		for _, p := range cand.Unreadable(uid, gid) {
			fmt.Fprintf(stdio.Out, "WARNING: the sandbox's user (uid %d) cannot read %s: the app will fail to start. Install its server in a folder others may read.\n", uid, p)
		}
		for _, name := range m.MCP.EnvAllow {
			state := "not set in your environment: the app will not get it"
			if stdio.Getenv != nil && stdio.Getenv(name) != "" {
				state = "set in your environment: its value will be passed to the app"
			}
			fmt.Fprintf(stdio.Out, "  %s is %s\n", name, state)
		}
	}
	if replace {
		from := "a manifest that no longer matches its pin"
		if old.Manifest != nil {
			from = fmt.Sprintf("version %s (pin %s)", old.Manifest.Version, shortHash(old.Manifest.Hash()))
		}
		fmt.Fprintf(stdio.Out, "This REPLACES the installed %s, which you approved earlier: %s.\n", m.ID, from)
	}
	if !yes && !confirm(stdio, fmt.Sprintf("Install %s with exactly this manifest?", m.ID)) {
		fmt.Fprintf(stdio.Out, "Not installed.\n")
		return ExitFailed
	}
	if err := reg.Install(cand, replace); err != nil {
		fmt.Fprintf(stdio.Err, "isolategpt apps install: %v\n", err)
		return ExitFailed
	}
	fmt.Fprintf(stdio.Out, "Installed %s (pin sha256 %s). Its functions are called as %s.NAME.\n", m.ID, m.Hash(), m.ID)
	if m.Kind == specs.KindMCP {
		fmt.Fprintln(stdio.Out, "The tools/list its server reports at its first start will be pinned; if it ever changes, the app is stopped until you approve.")
	}
	return ExitOK
}

// confirm asks a y/N question on the terminal; anything but y or yes,
// and the end of input, is no.
func confirm(stdio IO, q string) bool {
	fmt.Fprintf(stdio.Out, "%s [y/N] ", q)
	line, err := readLine(stdio.In)
	if err != nil && (!errors.Is(err, io.EOF) || line == "") {
		fmt.Fprintln(stdio.Out)
		return false
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

// maxAnswer bounds a typed answer.
const maxAnswer = 4096

// readLine reads one line a byte at a time: a later question reads the
// next line, which a buffered reader would have swallowed (answers piped
// in, or relayed from another process, come several lines at once).
func readLine(r io.Reader) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for b.Len() < maxAnswer {
		n, err := r.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				return b.String(), nil
			}
			b.WriteByte(buf[0])
		}
		if err != nil {
			return b.String(), err
		}
	}
	return b.String(), nil
}

func appsRemove(reg *apps.Registry, id string, stdio IO) int {
	if err := reg.Remove(id); err != nil {
		fmt.Fprintf(stdio.Err, "isolategpt apps remove: %v\n", err)
		return ExitFailed
	}
	fmt.Fprintf(stdio.Out, "Removed %s. Its data folders and memory were kept.\n", id)
	return ExitOK
}

// DescribeManifest renders a whole manifest for a person deciding whether
// to install it: the hub's facts first (what runs, with which files,
// environment and network, which functions with which types), then every
// app-authored text, marked UNTRUSTED and quoted line by line.
func DescribeManifest(m *specs.Manifest, dir, source string) []string {
	lines := []string{
		fmt.Sprintf("App %s, version %s, kind %s (%s)", m.ID, m.Version, m.Kind, source),
		fmt.Sprintf("Pin: sha256 %s", m.Hash()),
	}
	if c := m.MCP; c != nil {
		cmd := append([]string{c.Command}, c.Args...)
		for i, s := range cmd {
			cmd[i] = quoteArg(s)
		}
		lines = append(lines, "Runs, inside a sandbox: "+strings.Join(cmd, " "))
		if c.UsesInstall() {
			lines = append(lines, fmt.Sprintf("  ${install} = %s (read-only to the app)", dir))
		}
		lines = append(lines, fmt.Sprintf("  ${data} = the app's own folder for each user, seen as %s in its sandbox: the only folder it may write, and its working folder", sandbox.DataPath))
		if len(c.Env) == 0 {
			lines = append(lines, "Environment it sets: none")
		} else {
			lines = append(lines, "Environment it sets:")
			for _, k := range slices.Sorted(maps.Keys(c.Env)) {
				lines = append(lines, fmt.Sprintf("  %s=%s", k, quoteArg(c.Env[k])))
			}
		}
		if len(c.EnvAllow) == 0 {
			lines = append(lines, "Environment it reads from yours: none")
		} else {
			lines = append(lines, "Environment it reads from yours (values are passed to the app): "+strings.Join(c.EnvAllow, ", "))
		}
	}
	if len(m.Domains) == 0 {
		lines = append(lines, "Network: none")
	} else {
		lines = append(lines, "Network, through the hub's egress proxy only: "+strings.Join(m.Domains, ", "))
	}
	if len(m.Functions) == 0 {
		lines = append(lines, "Functions: none (a prompt app: its instructions go to its own spoke only)")
	} else {
		lines = append(lines, fmt.Sprintf("Functions (%d), always called by their qualified names (* = required):", len(m.Functions)))
		width := 0
		for _, f := range m.Functions {
			width = max(width, len(m.ID)+1+len(f.Name))
		}
		for _, f := range m.Functions {
			effect := "read "
			if f.Effect == specs.EffectWrite {
				effect = "WRITE"
			}
			lines = append(lines, fmt.Sprintf("  %-*s  %s  in %s", width, m.ID+"."+f.Name, effect, shape(f.Input)))
			lines = append(lines, fmt.Sprintf("  %-*s         out %s", width, "", shape(f.Output)))
		}
	}
	lines = append(lines, "UNTRUSTED text written by the app, not by isolategpt (never shown to the planner):")
	lines = append(lines, untrusted("description", m.Description)...)
	if m.Instructions != "" {
		lines = append(lines, untrusted("instructions", m.Instructions)...)
	}
	for _, f := range m.Functions {
		if f.Description != "" {
			lines = append(lines, untrusted(m.ID+"."+f.Name, f.Description)...)
		}
		for _, d := range schemaTexts(m.ID+"."+f.Name+" input", f.Input) {
			lines = append(lines, untrusted(d[0], d[1])...)
		}
		for _, d := range schemaTexts(m.ID+"."+f.Name+" output", f.Output) {
			lines = append(lines, untrusted(d[0], d[1])...)
		}
	}
	return lines
}

// schemaTexts collects the descriptions and titles inside a schema, with
// where they are: app-authored text the user sees before installing.
func schemaTexts(at string, s *schema.Schema) [][2]string {
	if s == nil {
		return nil
	}
	var out [][2]string
	if d := s.Description(); d != "" {
		out = append(out, [2]string{at, d})
	}
	if t := s.Title(); t != "" {
		out = append(out, [2]string{at + " (title)", t})
	}
	for _, n := range s.PropertyNames() {
		p, _ := s.Property(n)
		out = append(out, schemaTexts(at+"."+n, p)...)
	}
	if s.Items() != nil {
		out = append(out, schemaTexts(at+"[]", s.Items())...)
	}
	return out
}

func untrusted(what, text string) []string {
	out := []string{"  " + what + ":"}
	for _, l := range strings.Split(text, "\n") {
		out = append(out, "    | "+ut.Escape(l))
	}
	return out
}

// quoteArg shows an argument as is when it is plain, quoted otherwise.
func quoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"'\\") {
		return s
	}
	return fmt.Sprintf("%q", s)
}

// shape is a one-line summary of an object schema: {name*: type, …}, with
// * on required properties.
func shape(s *schema.Schema) string {
	if s == nil {
		return "?"
	}
	if s.Is(schema.TypeObject) {
		var parts []string
		for _, n := range s.PropertyNames() {
			p, _ := s.Property(n)
			req := ""
			if s.IsRequired(n) {
				req = "*"
			}
			parts = append(parts, n+req+": "+shape(p))
		}
		if s.AdditionalProperties() {
			parts = append(parts, "…")
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	if s.Is(schema.TypeArray) && s.Items() != nil {
		return "[" + shape(s.Items()) + "]"
	}
	return strings.Join(s.Types(), "|")
}
