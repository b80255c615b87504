package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/isolategpt/isolategpt/sandbox/egress"
	"github.com/isolategpt/isolategpt/sandbox/launch"
	"github.com/isolategpt/isolategpt/sandbox/policy"
	"github.com/isolategpt/isolategpt/specs"
)

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

var sandboxCmd = &cmdSpec{
	name:    "sandbox",
	summary: "run any command the way an app runs, and see what the sandbox refuses",
	subs: []*cmdSpec{
		{name: "run", args: "CMD [ARGS...]", summary: "run CMD under an app's sandbox policy (flags go before --)",
			help: `Stdio is attached, the exit status is passed through, and what the sandbox
refused is reported on stderr. Put the command after --: everything after it
is the command's, flags included.`,
			new: func() options { return &sandboxOpts{} }},
	},
}

type sandboxOpts struct {
	c       common
	app     string
	domains stringList
}

func (o *sandboxOpts) flags(fs *flag.FlagSet, stdio IO) {
	o.c.registerData(fs, stdio.Getenv)
	fs.StringVar(&o.app, "app", "", "run in this app's folder under its policy and declared domains")
	fs.Var(&o.domains, "allow-domain", "an eTLD+1 `domain` the command may reach through the egress proxy (repeatable)")
}

// Sandbox runs `isolategpt sandbox run [--app NAME] [--allow-domain D]... -- CMD [ARGS...]`:
// any command under an app's policy (or the external-program policy), with
// its stdio attached, its exit status passed through, and what the sandbox
// refused reported on stderr.
func Sandbox(args []string, stdio IO) int { return runCommand(stdio, "sandbox", args...) }

// sandboxPath is the PATH a command started by sandbox run sees.
const sandboxPath = "/usr/local/bin:/usr/bin:/bin"

func (o *sandboxOpts) run(cmd []string, stdio IO) int {
	c, domains := &o.c, o.domains
	// A program that is not there is said so here, not as the odd way a
	// confined worker fails to start it.
	if err := findProgram(cmd[0]); err != nil {
		fmt.Fprintf(stdio.Err, "isolategpt sandbox run: %v\n", err)
		return 127
	}
	spec := launch.RunSpec{Name: "sandbox-run", Policy: policy.ExternalPolicy(), Command: cmd, Domains: domains, Stdout: stdio.Out, Stderr: stdio.Err}
	if f, ok := stdio.In.(*os.File); ok {
		spec.Stdin = f
	}
	if o.app != "" {
		m, err := specs.BuiltinByID(o.app)
		if err != nil {
			fmt.Fprintf(stdio.Err, "isolategpt sandbox: %v\n", err)
			return ExitUsage
		}
		if m.Kind == specs.KindBuiltin {
			// Built-in apps run under the strict profile, which runs no
			// other program: that is what the command will meet.
			spec.Policy = policy.BuiltinPolicy()
		}
		spec.Name = m.ID
		spec.Domains = append(append([]string{}, m.Domains...), domains...)
		spec.DataDir = filepath.Join(c.data, "apps", c.user, m.ID)
	} else {
		dir, err := os.MkdirTemp("", "isolategpt-sandbox-")
		if err != nil {
			fmt.Fprintf(stdio.Err, "isolategpt sandbox: %v\n", err)
			return ExitUsage
		}
		defer os.RemoveAll(dir)
		spec.DataDir = filepath.Join(dir, "app")
	}
	spec.Egress = func(e egress.Event) {
		if !e.Allowed {
			fmt.Fprintf(stdio.Err, "isolategpt sandbox: refused connection to %s:%d: %s\n", e.Host, e.Port, e.Reason)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := (&launch.Launcher{}).Run(ctx, spec)
	if err != nil {
		fmt.Fprintf(stdio.Err, "isolategpt sandbox: %v\n", err)
		if res.Exit != 0 {
			return res.Exit
		}
		return ExitUsage
	}
	switch res.Signal {
	case "":
	case "SIGSYS":
		fmt.Fprintf(stdio.Err, "isolategpt sandbox: %s was killed by seccomp (a forbidden system call)\n", cmd[0])
	default:
		fmt.Fprintf(stdio.Err, "isolategpt sandbox: %s was killed by %s\n", cmd[0], res.Signal)
	}
	return res.Exit
}

// findProgram checks that the program a command names exists: an absolute
// path as given, a bare name on the sandbox's PATH. (A relative path is
// the sandbox's: it starts in the app's folder.)
func findProgram(name string) error {
	if filepath.IsAbs(name) {
		st, err := os.Stat(name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("%s: no such program", name)
		case err != nil:
			return err
		case st.IsDir():
			return fmt.Errorf("%s: is a folder, not a program", name)
		case st.Mode()&0o111 == 0:
			return fmt.Errorf("%s: not executable", name)
		}
		return nil
	}
	if strings.Contains(name, "/") {
		return nil
	}
	for _, dir := range filepath.SplitList(sandboxPath) {
		if st, err := os.Stat(filepath.Join(dir, name)); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return nil
		}
	}
	return fmt.Errorf("%s: no such program on the sandbox's PATH (%s)", name, sandboxPath)
}
