// Package safe makes text fit for the terminal: whatever an app or a model
// wrote is shown as characters, never interpreted as control sequences.
package safe

import (
	"strings"
	"unicode"

	"github.com/charmbracelet/x/ansi"
)

// Clean drops control characters (escape sequences start with one) and
// bidirectional overrides, which can make text read as something it is not.
func Clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return -1
		}
		return r
	}, s)
}

// Cut shortens s to at most n cells, marking the cut. Styling escapes that
// the TUI itself added are kept whole.
func Cut(s string, n int) string {
	if n < 1 {
		return s
	}
	return ansi.Truncate(s, n, "…")
}
