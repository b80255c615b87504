// The command framework: a tree of commands over the standard flag
// package, with flags anywhere on the line, `help CMD`, -h on every
// command (exit 0), errors that name the flag or argument at fault, and
// shell completion generated from the same tree.

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
)

// cmdSpec is one isolategpt command, or a group of them (apps, eval).
type cmdSpec struct {
	name    string
	args    string // the positional arguments, for usage and checks: "QUERY...", "NAME", "[FILE]"
	summary string // one line, lower case
	help    string // more, for `help CMD`
	// new returns the command's options; nil for a group without a run of
	// its own.
	new  func() options
	subs []*cmdSpec
	// folder: the command works on the data folder, so another isolategpt
	// holding the folder may run it on this command's behalf.
	folder bool
	// signals: the command handles SIGINT and SIGTERM itself
	// (catchInterrupts); every other command run by this process gets
	// their default back before it runs.
	signals bool
	// dashArgs: "--" stays in the arguments run gets, where it separates
	// the command's own arguments from another command's (apps import);
	// the command checks them itself.
	dashArgs bool
	hidden   bool
}

// options are a command's flags and what it runs.
type options interface {
	// flags defines the command's flags on fs.
	flags(fs *flag.FlagSet, stdio IO)
	// run runs the command with its positional arguments, checked against
	// the command's args, and returns the exit code.
	run(args []string, stdio IO) int
}

// IO is the command's standard streams, environment and context.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
	Getenv   func(string) string
	// InTTY and OutTTY say whether stdin and stdout are terminals.
	InTTY, OutTTY bool
	// Dir is the folder relative paths are taken from; "" is the
	// process's working folder.
	Dir string
	// Ctx ends when the command should stop (its caller went away).
	Ctx context.Context
	// Argv is the command line after the program name.
	Argv []string
	// relay, when set, is what ends this command's run by another process
	// holding the data folder (a second signal, its deadline): Ctx's end
	// then only interrupts it — prompts denied, the work in flight
	// finished, its answer still relayed.
	relay context.Context
	// served is set when this command runs for another process through
	// the control socket of the process holding the data folder.
	served *served
}

func (s IO) ctx() context.Context {
	if s.Ctx == nil {
		return context.Background()
	}
	return s.Ctx
}

// path resolves a path the user gave against the folder they gave it in.
func (s IO) path(p string) string {
	if p == "" || filepath.IsAbs(p) || s.Dir == "" {
		return p
	}
	return filepath.Join(s.Dir, p)
}

func (s IO) getenv(k string) string {
	if s.Getenv == nil {
		return ""
	}
	return s.Getenv(k)
}

// fullName is "isolategpt apps install".
func fullName(path []*cmdSpec) string {
	names := []string{"isolategpt"}
	for _, c := range path {
		names = append(names, c.name)
	}
	return strings.Join(names, " ")
}

// dispatch runs the command named by args[0] (and its subcommands). No
// command, or flags alone, is the TUI.
func dispatch(args []string, stdio IO) int {
	if stdio.Argv == nil {
		stdio.Argv = args
	}
	switch {
	case len(args) == 0:
		return tuiCmd.main(nil, nil, stdio)
	case isHelp(args[0]):
		root.usage(nil, stdio.Out)
		return ExitOK
	case args[0] == "--version" || args[0] == "-version":
		return versionCmd.main(nil, args[1:], stdio)
	case strings.HasPrefix(args[0], "-"):
		return tuiCmd.main(nil, args, stdio)
	case root.sub(args[0]) != nil:
		return root.sub(args[0]).main(nil, args[1:], stdio)
	}
	fmt.Fprintf(stdio.Err, "isolategpt: unknown command %q\n\n", args[0])
	root.usage(nil, stdio.Err)
	return ExitUsage
}

// runCommand runs `isolategpt NAME ARGS...` (for the exported wrappers).
func runCommand(stdio IO, name string, args ...string) int {
	return dispatch(append([]string{name}, args...), stdio)
}

func (c *cmdSpec) sub(name string) *cmdSpec {
	for _, s := range c.subs {
		if s.name == name {
			return s
		}
	}
	return nil
}

func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

func (c *cmdSpec) main(parent []*cmdSpec, args []string, stdio IO) int {
	path := append(slices.Clone(parent), c)
	if len(c.subs) > 0 && (c.new == nil || len(args) > 0 && c.sub(args[0]) != nil) {
		switch {
		case len(args) > 0 && c.sub(args[0]) != nil:
			return c.sub(args[0]).main(path, args[1:], stdio)
		case len(args) > 0 && (isHelp(args[0]) || args[0] == "help"):
			c.usage(path, stdio.Out)
			return ExitOK
		case len(args) == 0:
			fmt.Fprintf(stdio.Err, "%s: missing command\n\n", fullName(path))
		default:
			fmt.Fprintf(stdio.Err, "%s: unknown command %q\n\n", fullName(path), args[0])
		}
		c.usage(path, stdio.Err)
		return ExitUsage
	}
	fs := flag.NewFlagSet(fullName(path), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := c.new()
	o.flags(fs, stdio)
	pos, err := parseArgs(fs, args, c.dashArgs)
	if errors.Is(err, flag.ErrHelp) {
		c.usage(path, stdio.Out)
		return ExitOK
	}
	if err == nil && !c.dashArgs {
		err = c.checkArgs(pos)
	}
	if err != nil {
		fmt.Fprintf(stdio.Err, "%s: %v\nRun '%s -h' for usage.\n", fullName(path), err, fullName(path))
		return ExitUsage
	}
	if !c.signals && stdio.served == nil {
		if s := releaseEarly(); s != nil {
			fmt.Fprintf(stdio.Err, "%s: interrupted by %s before it started; nothing was done (exit %d)\n", fullName(path), s, ExitInterrupted)
			return ExitInterrupted
		}
	}
	return o.run(pos, stdio)
}

// parseArgs parses flags wherever they are on the line — `ask 'list my
// files' --yes` — up to "--", after which everything is an argument.
func parseArgs(fs *flag.FlagSet, args []string, keepDash bool) ([]string, error) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			if keepDash {
				pos = append(pos, a)
			}
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			if isHelp(a) {
				return nil, flag.ErrHelp
			}
			return nil, fmt.Errorf("unknown flag %s (a word that starts with - goes after --)", a)
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 == len(args) {
			return nil, fmt.Errorf("flag %s needs a value", a)
		}
		i++
		flags = append(flags, args[i])
	}
	if err := fs.Parse(flags); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		// The flag package says "-timeout"; people type "--timeout".
		return nil, errors.New(strings.Replace(err.Error(), " -", " --", 1))
	}
	return pos, nil
}

// checkArgs checks the number of positional arguments against c.args.
func (c *cmdSpec) checkArgs(pos []string) error {
	var names []string
	lo, hi := 0, 0
	for _, a := range strings.Fields(c.args) {
		optional := strings.HasPrefix(a, "[")
		a = strings.Trim(a, "[]")
		many := strings.HasSuffix(a, "...")
		names = append(names, strings.TrimSuffix(a, "..."))
		if !optional {
			lo++
		}
		if many || hi < 0 {
			hi = -1
		} else {
			hi++
		}
	}
	switch {
	case len(pos) < lo:
		return fmt.Errorf("missing %s", names[len(pos)])
	case hi >= 0 && len(pos) > hi:
		return fmt.Errorf("unexpected argument %q", pos[hi])
	}
	return nil
}

// usage prints a command's help.
func (c *cmdSpec) usage(path []*cmdSpec, w io.Writer) {
	name := fullName(path)
	if len(c.subs) > 0 {
		fmt.Fprintf(w, "usage: %s COMMAND [flags]\n\n", name)
		if c.summary != "" {
			fmt.Fprintf(w, "%s\n\n", capital(c.summary))
		}
		fmt.Fprintln(w, "commands:")
		for _, s := range c.subs {
			if !s.hidden {
				fmt.Fprintf(w, "  %-18s %s\n", strings.TrimSpace(s.name+" "+s.args), s.summary)
			}
		}
		helpName := "isolategpt help"
		for _, p := range path {
			helpName += " " + p.name
		}
		fmt.Fprintf(w, "\nRun '%s COMMAND' or '%s COMMAND -h' for a command's flags.\n", helpName, name)
		if c.new == nil {
			return
		}
		fmt.Fprintln(w)
	}
	line := "usage: " + name + " [flags]"
	if c.args != "" {
		line += " " + c.args
	}
	fmt.Fprintln(w, line)
	if c.summary != "" {
		fmt.Fprintf(w, "\n%s\n", capital(c.summary))
	}
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.help))
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// Defaults as they read for anyone: the home folder as ~.
	c.new().flags(fs, IO{Getenv: func(k string) string {
		if k == "HOME" {
			return "~"
		}
		return ""
	}})
	var lines []string
	fs.VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		head := "--" + f.Name
		if kind != "" {
			head += " " + kind
		}
		l := fmt.Sprintf("  %-22s %s", head, usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" {
			l += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		lines = append(lines, l)
	})
	if len(lines) > 0 {
		fmt.Fprintf(w, "\nflags:\n%s\n", strings.Join(lines, "\n"))
	}
	fmt.Fprintln(w, "  -h, --help             this help")
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

// flagNames lists a command's flags as typed, for completion.
func (c *cmdSpec) flagNames() []string {
	if c.new == nil {
		return nil
	}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.new().flags(fs, IO{Getenv: func(string) string { return "" }})
	var out []string
	fs.VisitAll(func(f *flag.Flag) { out = append(out, "--"+f.Name) })
	return append(out, "--help")
}
