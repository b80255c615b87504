// Command isolategpt is an LLM assistant that uses third-party apps it does
// not trust: each app runs isolated, a trusted hub plans and routes every
// message between them, and the user decides every new flow of data or
// control. See README.md.
package main

import (
	"context"
	"os"

	"github.com/isolategpt/isolategpt/evaluation/attackapps"
	"github.com/isolategpt/isolategpt/sandbox/worker"
)

// Exit codes. README.md documents them; a script can tell from them
// whether the work it asked for was done.
const (
	ExitOK          = 0 // the work asked for was done
	ExitFailed      = 1 // the command ran, and something in it failed
	ExitUsage       = 2 // bad flags, configuration or data folder
	ExitPartial     = 3 // some of the work was done, some was not
	ExitDenied      = 4 // the work was not done because a flow was refused
	ExitInterrupted = 5 // a signal or Ctrl+C stopped the work
	ExitStore       = 6 // the store is damaged, full or unusable
)

// root is every command, in the order `isolategpt help` lists them.
var root = &cmdSpec{
	summary: "an LLM assistant that uses apps it does not trust, each isolated, every flow between them yours to decide",
	subs: []*cmdSpec{
		tuiCmd, askCmd, batchCmd, auditCmd, grantsCmd, appsCmd, storeCmd, sandboxCmd, evalCmd,
		helpCmd, versionCmd, completionCmd,
	},
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	defer logPanic()
	// The sandbox's child side: started by the hub, not by people. The
	// evaluation's scenario apps are served only under a worker name no
	// manifest id can spell, so only `eval --sandbox` can start one.
	attackapps.RegisterWorker()
	if code, ok := worker.Dispatch(args); ok {
		return code
	}
	return dispatch(args, IO{
		In: os.Stdin, Out: os.Stdout, Err: logStderr(os.Stderr), Getenv: os.Getenv,
		InTTY: isTerminal(os.Stdin), OutTTY: isTerminal(os.Stdout),
		Ctx: context.Background(),
	})
}
