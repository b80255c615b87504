// Signals for ask and batch, in two stages: the first SIGINT or SIGTERM
// (Ctrl+C) interrupts — the prompt open is denied, so is every later one,
// the query in flight finishes, the answer and the summary are written and
// the store is closed; a second aborts — the query in flight is given up,
// and the store is still closed on the way out.

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/batch"
)

// interrupts is what a command sees of the two stages.
type interrupts struct {
	// soft ends at the first signal, with batch.ErrInterrupted as its
	// cause, or when the caller went away (a served command's client).
	// Waiting for the data folder, or another process's run of this
	// command, is given up then.
	soft context.Context
	// hard ends at the second signal: the work in flight is abandoned.
	hard context.Context
	// stop is soft's end as a channel, for batch.Runner.Stop and
	// batch.Interruptible.
	stop <-chan struct{}
}

// errAborted is the cause of hard's end.
var errAborted = fmt.Errorf("%w twice: aborted", batch.ErrInterrupted)

// catchInterrupts starts the two stages for a command. A command this
// process serves for another (stdio.served) catches no signal — they are
// its holder's — and is interrupted when its client goes away. Call
// release when the command is done.
func catchInterrupts(stdio IO, name string) (in *interrupts, release func()) {
	parent := stdio.ctx()
	if stdio.served != nil {
		// Interrupted when the client goes away, or when it was
		// interrupted once itself (its Ctrl+C, relayed).
		soft, cancelSoft := context.WithCancelCause(parent)
		hard, cancel := context.WithCancelCause(context.WithoutCancel(parent))
		if s := stdio.served.session; s != nil && s.Interrupted != nil {
			go func() {
				select {
				case <-s.Interrupted:
					cancelSoft(batch.ErrInterrupted)
				case <-soft.Done():
				}
			}()
		}
		return &interrupts{soft: soft, hard: hard, stop: soft.Done()}, func() { cancelSoft(nil); cancel(nil) }
	}
	soft, cancelSoft := context.WithCancelCause(parent)
	hard, cancelHard := context.WithCancelCause(context.WithoutCancel(parent))
	// The catch since the process started (cmd_signals_early.go), with
	// a signal that came before this command started, or a new one.
	sigs := takeEarly()
	if sigs == nil {
		sigs = make(chan os.Signal, 2)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	n := 0
	select {
	case s := <-sigs:
		// Caught before the command started: it stops before it holds
		// the data folder.
		n++
		fmt.Fprintf(stdio.Err, "isolategpt %s: %s before it started\n", name, s)
		cancelSoft(batch.ErrInterrupted)
	default:
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case s := <-sigs:
				n++
				if n == 1 {
					fmt.Fprintf(stdio.Err, "\nisolategpt %s: %s: finishing the work in flight, every further prompt denied (again to abort)\n", name, s)
					cancelSoft(batch.ErrInterrupted)
					continue
				}
				fmt.Fprintf(stdio.Err, "\nisolategpt %s: %s again: aborting; closing the store\n", name, s)
				cancelHard(errAborted)
				return
			case <-done:
				return
			}
		}
	}()
	in = &interrupts{soft: soft, hard: hard, stop: soft.Done()}
	return in, func() {
		// Called once the store is closed: until then no signal, a
		// third one included, may end the process.
		signal.Stop(sigs)
		close(done)
		wg.Wait()
		cancelSoft(nil)
		cancelHard(nil)
	}
}

// interrupted says whether the first stage came (or the caller went away).
func (in *interrupts) interrupted() bool { return in.soft.Err() != nil }

// stoppedCode is the exit code of a command whose ctx ended before it
// ran: failed when its time ran out, interrupted otherwise.
func stoppedCode(ctx context.Context) int {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ExitFailed
	}
	return ExitInterrupted
}

// exitCode is the exit code for a query's or a batch's outcome.
func exitCode(o msg.Outcome) int {
	switch o {
	case msg.Done:
		return ExitOK
	case msg.Partial:
		return ExitPartial
	case msg.Denied:
		return ExitDenied
	case msg.Interrupted:
		return ExitInterrupted
	}
	return ExitFailed
}
