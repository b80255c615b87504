// Signals from the process's first moment: internal/earlysignal catches
// SIGINT and SIGTERM before flags are parsed, a store opened or an engine
// started, so no window exists in which one kills ask or batch unhandled.
// ask and batch take the catch over (catchInterrupts): a signal that came
// before they started is their first, and they stop before they hold the
// data folder. Every other command gives it back to the default (the TUI
// handles its own keys and signals), exiting 5 first if a signal came.

package main

import (
	"os"

	"github.com/isolategpt/isolategpt/internal/earlysignal"
)

// takeEarly hands the catch, with any signal already caught, to a
// command's own handling; nil if there is none (a test calling a command
// in process, a command served for another process).
func takeEarly() chan os.Signal { return earlysignal.Take() }

// releaseEarly gives SIGINT and SIGTERM back to their default, and
// returns the signal that came while they were caught, or nil.
func releaseEarly() os.Signal { return earlysignal.Release() }
