package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
)

var helpCmd = &cmdSpec{
	name: "help", args: "[COMMAND...]",
	summary: "this list, or a command's flags: isolategpt help apps install",
	new:     func() options { return &helpOpts{} },
}

type helpOpts struct{}

func (*helpOpts) flags(*flag.FlagSet, IO) {}

func (*helpOpts) run(args []string, stdio IO) int {
	c, path := root, []*cmdSpec(nil)
	for _, a := range args {
		next := c.sub(a)
		if next == nil {
			fmt.Fprintf(stdio.Err, "%s: unknown command %q\n\n", fullName(path), a)
			c.usage(path, stdio.Err)
			return ExitUsage
		}
		c, path = next, append(path, next)
	}
	c.usage(path, stdio.Out)
	return ExitOK
}

var versionCmd = &cmdSpec{
	name: "version", summary: "the version and commit this binary was built from (also --version)",
	new: func() options { return &versionOpts{} },
}

type versionOpts struct{}

func (*versionOpts) flags(*flag.FlagSet, IO) {}

func (*versionOpts) run(_ []string, stdio IO) int {
	fmt.Fprintln(stdio.Out, Version())
	return ExitOK
}

// Version is the module version, the commit and the toolchain, from what
// the Go toolchain recorded in the binary.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "isolategpt (no build information) " + runtime.Version()
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	commit := "commit unknown: built without version control information"
	if rev := settings["vcs.revision"]; rev != "" {
		commit = "commit " + rev
		if t := settings["vcs.time"]; t != "" {
			commit += ", " + t
		}
		if settings["vcs.modified"] == "true" {
			commit += ", with uncommitted changes"
		}
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	return fmt.Sprintf("isolategpt %s (%s) %s %s/%s", v, commit, bi.GoVersion, runtime.GOOS, runtime.GOARCH)
}

var completionCmd = &cmdSpec{
	name: "completion", args: "SHELL",
	summary: "a shell completion script for bash, zsh or fish",
	help: `Load it in the shell, for example:
  bash:  source <(isolategpt completion bash)
  zsh:   source <(isolategpt completion zsh)
  fish:  isolategpt completion fish | source`,
	new: func() options { return &completionOpts{} },
}

type completionOpts struct{}

func (*completionOpts) flags(*flag.FlagSet, IO) {}

func (*completionOpts) run(args []string, stdio IO) int {
	switch args[0] {
	case "bash":
		writeBash(stdio.Out, false)
	case "zsh":
		writeBash(stdio.Out, true)
	case "fish":
		writeFish(stdio.Out)
	default:
		fmt.Fprintf(stdio.Err, "isolategpt completion: unknown shell %q (want bash, zsh or fish)\n", args[0])
		return ExitUsage
	}
	return ExitOK
}

// node is a command with its path, for the completion scripts.
type node struct {
	path string // "apps install"
	c    *cmdSpec
}

func nodes() []node {
	var out []node
	var walk func(prefix string, c *cmdSpec)
	walk = func(prefix string, c *cmdSpec) {
		out = append(out, node{path: prefix, c: c})
		for _, s := range c.subs {
			if !s.hidden {
				walk(strings.TrimSpace(prefix+" "+s.name), s)
			}
		}
	}
	walk("", root)
	return out
}

func subNames(c *cmdSpec) []string {
	var out []string
	for _, s := range c.subs {
		if !s.hidden {
			out = append(out, s.name)
		}
	}
	return out
}

// writeBash writes a bash completion function (zsh: through bashcompinit):
// the command path is the words that name subcommands; the candidates are
// that command's subcommands and flags. Anything else completes as a file.
func writeBash(w io.Writer, zsh bool) {
	fmt.Fprintln(w, "# isolategpt completion (isolategpt completion bash|zsh)")
	if zsh {
		fmt.Fprintln(w, "autoload -U +X bashcompinit && bashcompinit")
	}
	fmt.Fprint(w, `_isolategpt() {
    local cur="${COMP_WORDS[COMP_CWORD]}" path="" w i words=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${COMP_WORDS[i]}"
        [[ $w == "--" ]] && return 0
        case "$path:$w" in
`)
	for _, n := range nodes() {
		for _, s := range subNames(n.c) {
			next := strings.TrimSpace(n.path + " " + s)
			fmt.Fprintf(w, "        %q) path=%q ;;\n", n.path+":"+s, next)
		}
	}
	fmt.Fprint(w, `        esac
    done
    case "$path" in
`)
	for _, n := range nodes() {
		words := subNames(n.c)
		words = append(words, n.c.flagNames()...)
		if n.c == root {
			words = append(words, "--help", "--version")
		}
		fmt.Fprintf(w, "        %q) words=%q ;;\n", n.path, strings.Join(slices.Compact(words), " "))
	}
	fmt.Fprint(w, `    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _isolategpt isolategpt
`)
}

// writeFish writes fish completions: subcommands where their parent was
// typed, and each command's flags.
func writeFish(w io.Writer) {
	fmt.Fprintln(w, "# isolategpt completion (isolategpt completion fish)")
	for _, n := range nodes() {
		cond := "__fish_use_subcommand"
		if n.path != "" {
			parts := strings.Fields(n.path)
			cond = "__fish_seen_subcommand_from " + parts[len(parts)-1]
		}
		for _, s := range n.c.subs {
			if !s.hidden {
				fmt.Fprintf(w, "complete -c isolategpt -f -n %q -a %q -d %q\n", cond, s.name, s.summary)
			}
		}
		if n.path == "" {
			continue
		}
		for _, f := range n.c.flagNames() {
			fmt.Fprintf(w, "complete -c isolategpt -n %q -l %s\n", cond, strings.TrimPrefix(f, "--"))
		}
	}
}
