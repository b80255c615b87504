package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
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
// program it was given (as a shell's 126).
const ExitCannotRun = 126

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

const sandboxUsage = `usage: isolategpt sandbox run [--app NAME] [--allow-domain D]... [--read-only PATH]... -- CMD [ARGS...]
       isolategpt sandbox status [--json]`

// Sandbox runs `isolategpt sandbox run|status`.
func Sandbox(args []string, stdio IO) int {
	if len(args) == 0 {
		fmt.Fprintln(stdio.Err, sandboxUsage)
		return ExitUsage
	}
	switch args[0] {
	case "run":
		return sandboxRunCmd(args[1:], stdio)
	case "status":
		return sandboxStatusCmd(args[1:], stdio)
	}
	fmt.Fprintln(stdio.Err, sandboxUsage)
	return ExitUsage
}

// sandboxRunCmd runs any command under an app's policy (or the
// external-program policy), with its stdio attached, its exit status
// passed through, and what the sandbox refused reported on stderr.
func sandboxRunCmd(args []string, stdio IO) int {
	fs := flag.NewFlagSet("sandbox run", flag.ContinueOnError)
	fs.SetOutput(stdio.Err)
	var c common
	c.register(fs, stdio.Getenv)
	app := fs.String("app", "", "run in this app's folder under its policy and declared domains")
	var domains, readOnly stringList
	fs.Var(&domains, "allow-domain", "an eTLD+1 domain the command may reach through the egress proxy (repeatable)")
	fs.Var(&readOnly, "read-only", "a host file or folder the command may read and run programs from, at its own path (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(stdio.Err, sandboxUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	cmd := fs.Args()
	if len(cmd) == 0 {
		fs.Usage()
		return ExitUsage
	}
	// Without --app the command gets an empty folder that dies with it.
	spec := launch.RunSpec{Name: "sandbox-run", Policy: policy.ExternalPolicy(), Command: cmd, ReadOnly: readOnly, Domains: domains, Stdout: stdio.Out, Stderr: stdio.Err}
	if f, ok := stdio.In.(*os.File); ok {
		spec.Stdin = f
	}
	if *app != "" {
		m, err := specs.BuiltinByID(*app)
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
	}
	spec.Egress = func(e egress.Event) {
		switch {
		case e.Suppressed > 0:
			fmt.Fprintf(stdio.Err, "isolategpt sandbox: %s\n", e.Reason)
		case !e.Allowed:
			fmt.Fprintf(stdio.Err, "isolategpt sandbox: refused connection to %s:%d: %s\n", e.Host, e.Port, e.Reason)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
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

// sandboxStatusCmd prints every layer of the sandbox as this host gives it
// to this hub, found by starting a probe worker. The exit code is 1 when a
// layer is missing: apps then start only with --allow-weaker-sandbox.
func sandboxStatusCmd(args []string, stdio IO) int {
	fs := flag.NewFlagSet("sandbox status", flag.ContinueOnError)
	fs.SetOutput(stdio.Err)
	asJSON := fs.Bool("json", false, "print the layers as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stdio.Err, sandboxUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return ExitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	layers := (&launch.Launcher{}).Status(ctx)
	missing := sandbox.Missing(layers)
	if *asJSON {
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
