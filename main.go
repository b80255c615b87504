// Command isolategpt is an LLM assistant that uses third-party apps it does
// not trust: each app runs isolated, a trusted hub plans and routes every
// message between them, and the user decides every new flow of data or
// control. See README.md.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/isolategpt/isolategpt/evaluation/attackapps"
	"github.com/isolategpt/isolategpt/sandbox/worker"
)

const usage = `usage: isolategpt COMMAND [flags]

commands:
  (none), tui    the terminal UI: chat, permission dialogs, live view, metrics, apps
                 (--metrics-addr ADDR serves Prometheus metrics)
  ask QUERY      answer one query, asking permissions on the terminal (--yes allows once)
  batch          answer JSON-lines queries from stdin with a permission policy (--policy FILE)
  audit          print the audit log of a user
  apps list | show NAME | install FILE | remove NAME
                 the built-in and installed apps; install shows a manifest whole and asks
  sandbox run -- CMD [ARGS...]
                 run any command under an app's sandbox policy and see what it may do
  sandbox status every layer of the sandbox this host gives (and which are missing)
  eval attacks | functionality | case-studies
                 the evaluation suites on isolategpt and the non-isolated baseline
                 (--sandbox runs apps in workers, --json FILE writes the results)

Run 'isolategpt COMMAND -h' for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	// The sandbox's child side: started by the hub, not by people. The
	// evaluation's scenario apps are served only under a worker name no
	// manifest id can spell, so only `eval --sandbox` can start one.
	attackapps.RegisterWorker()
	if code, ok := worker.Dispatch(args); ok {
		return code
	}
	stdio := IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv}
	if len(args) == 0 {
		return TUI(nil, stdio)
	}
	switch args[0] {
	case "tui":
		return TUI(args[1:], stdio)
	case "ask":
		return Ask(args[1:], stdio)
	case "batch":
		return Batch(args[1:], stdio)
	case "audit":
		return Audit(args[1:], stdio)
	case "apps":
		return Apps(args[1:], stdio)
	case "eval":
		return Eval(args[1:], stdio)
	case "sandbox":
		return Sandbox(args[1:], stdio)
	case "help", "-h", "--help":
		fmt.Fprint(os.Stdout, usage)
		return ExitOK
	default:
		// Flags without a command are the TUI's: isolategpt --data DIR.
		if strings.HasPrefix(args[0], "-") {
			return TUI(args, stdio)
		}
		fmt.Fprintf(os.Stderr, "isolategpt: unknown command %q\n\n%s", args[0], usage)
		return ExitUsage
	}
}
