package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/egress"
	"github.com/isolategpt/isolategpt/sandbox/launch"
	"github.com/isolategpt/isolategpt/sandbox/policy"
	"github.com/isolategpt/isolategpt/specs"
)

// ExitCannotRun is `sandbox run`'s code when the sandbox cannot run the
// program it was given (as a shell's 126); 127 is a program not there.
const ExitCannotRun = 126

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

var sandboxCmd = &cmdSpec{
	name:    "sandbox",
	summary: "run any command the way an app runs, and see which sandbox layers this host gives",
	subs: []*cmdSpec{
		{name: "run", args: "CMD [ARGS...]", summary: "run CMD under an app's sandbox policy (flags go before --)",
			help: `Stdio is attached, the exit status is passed through, and what the sandbox
refused is reported on stderr. Put the command after --: everything after it
is the command's, flags included. A program given by path (./server) and
every --read-only path are shown read-only at their own paths inside; one
the sandbox's user may not run is refused before anything starts (exit 126).
Without --app the command gets an empty folder of its own at /run/app that
dies with it.`,
			new: func() options { return &sandboxOpts{} }},
		{name: "status", summary: "every layer of the sandbox this host gives this hub, and which are missing",
			help: `Starts a probe worker the way every app's starts and prints each layer:
namespaces, the minimal root, /proc, descriptors, capabilities, groups,
Landlock (ABI), seccomp, rlimits, cgroup controllers and the app folder's
limits. Exits 1 when a layer is missing: apps then start only with
--allow-weaker-sandbox.`,
			new: func() options { return &statusOpts{} }},
	},
}

type sandboxOpts struct {
	c                 common
	app               string
	domains, readOnly stringList
}

func (o *sandboxOpts) flags(fs *flag.FlagSet, stdio IO) {
	o.c.registerData(fs, stdio.Getenv)
	fs.StringVar(&o.app, "app", "", "run in this app's folder under its policy and declared domains")
	fs.Var(&o.domains, "allow-domain", "an eTLD+1 `domain` the command may reach through the egress proxy (repeatable)")
	fs.Var(&o.readOnly, "read-only", "a host `path` the command may read and run programs from, at its own path (repeatable)")
}

// Sandbox runs `isolategpt sandbox run|status`.
func Sandbox(args []string, stdio IO) int { return runCommand(stdio, "sandbox", args...) }

// sandboxPath is the PATH a command started by sandbox run sees.
const sandboxPath = "/usr/local/bin:/usr/bin:/bin"

func (o *sandboxOpts) run(cmd []string, stdio IO) int {
	c, domains := &o.c, o.domains
	// A program given by path is the user's, from the folder they are in.
	cmd = append([]string{}, cmd...)
	if strings.Contains(cmd[0], "/") {
		cmd[0] = stdio.path(cmd[0])
	}
	// A program that is not there is said so here, not as the odd way a
	// confined worker fails to start it.
	if err := findProgram(cmd[0]); err != nil {
		fmt.Fprintf(stdio.Err, "isolategpt sandbox run: %v\n", err)
		return 127
	}
	var readOnly []string
	for _, r := range o.readOnly {
		readOnly = append(readOnly, stdio.path(r))
	}
	spec := launch.RunSpec{Name: "sandbox-run", Policy: policy.ExternalPolicy(), Command: cmd, ReadOnly: readOnly, Domains: domains, Stdout: stdio.Out, Stderr: stdio.Err}
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
		spec.DataDir = filepath.Join(stdio.path(c.data), "apps", c.user, m.ID)
	}
	spec.Egress = func(e egress.Event) {
		switch {
		case e.Suppressed > 0:
			fmt.Fprintf(stdio.Err, "isolategpt sandbox: %s\n", e.Reason)
		case !e.Allowed:
			fmt.Fprintf(stdio.Err, "isolategpt sandbox: refused connection to %s:%d: %s\n", e.Host, e.Port, e.Reason)
		}
	}
	ctx, stop := signal.NotifyContext(stdio.ctx(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := (&launch.Launcher{AllowWeaker: c.weaker}).Run(ctx, spec)
	if res.Limit != "" {
		fmt.Fprintf(stdio.Err, "isolategpt sandbox: %v\n", err)
		return res.Exit
	}
	if err != nil {
		fmt.Fprintf(stdio.Err, "isolategpt sandbox: %v\n", err)
		switch {
		case errors.Is(err, launch.ErrProgram):
			return ExitCannotRun
		case res.Exit != 0:
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

// findProgram checks that the program a command names exists: a path as
// given (the user's own program, shown read-only inside), a bare name on
// the sandbox's PATH.
func findProgram(name string) error {
	if strings.Contains(name, "/") {
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
	for _, dir := range filepath.SplitList(sandboxPath) {
		if st, err := os.Stat(filepath.Join(dir, name)); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return nil
		}
	}
	return fmt.Errorf("%s: no such program on the sandbox's PATH (%s)", name, sandboxPath)
}

type statusOpts struct{ asJSON bool }

func (o *statusOpts) flags(fs *flag.FlagSet, _ IO) {
	fs.BoolVar(&o.asJSON, "json", false, "print the layers as JSON")
}

// run prints every layer of the sandbox as this host gives it to this
// hub, found by starting a probe worker. The exit code is 1 when a layer
// is missing.
func (o *statusOpts) run(_ []string, stdio IO) int {
	ctx, cancel := context.WithTimeout(stdio.ctx(), 30*time.Second)
	defer cancel()
	layers := (&launch.Launcher{}).Status(ctx)
	missing := sandbox.Missing(layers)
	if o.asJSON {
		b, _ := json.MarshalIndent(layers, "", "  ")
		fmt.Fprintln(stdio.Out, string(b))
	} else {
		var uname syscall.Utsname
		_ = syscall.Uname(&uname)
		who := fmt.Sprintf("uid %d", os.Getuid())
		if os.Getuid() == 0 {
			who = "root"
		}
		fmt.Fprintf(stdio.Out, "sandbox layers for a hub run by %s on Linux %s (found by starting a probe worker):\n\n", who, utsString(uname.Release[:]))
		w := tabwriter.NewWriter(stdio.Out, 0, 0, 2, ' ', 0)
		for _, l := range layers {
			state := "enforced"
			if !l.Enforced {
				state = "MISSING"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\n", l.Name, state, l.Detail)
		}
		w.Flush()
		if len(missing) == 0 {
			fmt.Fprintln(stdio.Out, "\nEvery layer is enforced.")
		} else {
			fmt.Fprintf(stdio.Out, "\n%d layer(s) missing: apps start only with --allow-weaker-sandbox (or ISOLATEGPT_ALLOW_WEAKER_SANDBOX=1).\n", len(missing))
		}
	}
	if len(missing) > 0 {
		return ExitFailed
	}
	return ExitOK
}

func utsString(b []int8) string {
	var s []byte
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}
