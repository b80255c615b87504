package main

import (
	"context"
	"flag"
	"fmt"
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

// Sandbox runs `isolategpt sandbox run [--app NAME] [--allow-domain D]... -- CMD [ARGS...]`:
// any command under an app's policy (or the external-program policy), with
// its stdio attached, its exit status passed through, and what the sandbox
// refused reported on stderr.
func Sandbox(args []string, stdio IO) int {
	if len(args) == 0 || args[0] != "run" {
		fmt.Fprintln(stdio.Err, "usage: isolategpt sandbox run [--app NAME] [--allow-domain D]... -- CMD [ARGS...]")
		return ExitUsage
	}
	fs := flag.NewFlagSet("sandbox run", flag.ContinueOnError)
	fs.SetOutput(stdio.Err)
	var c common
	c.register(fs, stdio.Getenv)
	app := fs.String("app", "", "run in this app's folder under its policy and declared domains")
	var domains stringList
	fs.Var(&domains, "allow-domain", "an eTLD+1 domain the command may reach through the egress proxy (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(stdio.Err, "usage: isolategpt sandbox run [--app NAME] [--allow-domain D]... -- CMD [ARGS...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return ExitUsage
	}
	cmd := fs.Args()
	if len(cmd) == 0 {
		fs.Usage()
		return ExitUsage
	}
	spec := launch.RunSpec{Name: "sandbox-run", Policy: policy.ExternalPolicy(), Command: cmd, Domains: domains, Stdout: stdio.Out, Stderr: stdio.Err}
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
