// Package safe makes text fit for the terminal: whatever an app or a model
// wrote is shown as characters, never interpreted as control sequences,
// and nothing invisible in it can change how a line reads
// (engine/untrusted does the escaping).
package safe

import (
	"github.com/charmbracelet/x/ansi"

	"github.com/isolategpt/isolategpt/engine/untrusted"
)

// Clean writes every character that does not print as itself — control
// characters (escape sequences start with one), line separators, bidi
// controls, zero-width, tag and variation characters — as a visible
// escape, and counts long runs of spaces. Text the hub rendered already
// (its escapes and marks) passes unchanged.
func Clean(s string) string { return untrusted.Clean(s) }

// Cut shortens s to at most n cells, marking the cut. Styling escapes that
// the TUI itself added are kept whole.
func Cut(s string, n int) string {
	if n < 1 {
		return s
	}
	return ansi.Truncate(s, n, "…")
}
