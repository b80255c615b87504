// Package untrusted renders text the hub did not write — an app's output,
// an error text, a model's answer, a name from a server's tools/list — so
// that a person sees exactly what it is and nothing about it can change
// how the hub's own words read.
//
// Every character that would not print as itself is written as a visible
// escape: control characters (terminal escapes among them), line and
// paragraph separators, bidirectional controls, zero-width and other
// format characters, Unicode tag characters, variation selectors and the
// other default-ignorable code points, private-use and unassigned code
// points, spaces other than U+0020, and invalid UTF-8. A run of more than
// two spaces is written as a count, so padding cannot push text to the
// start of a line. The hub's own marks (⟨ ⟩, used around the hub's notes
// in answers, and │ ┆, its gutters) are escaped too, so app text cannot
// imitate them.
package untrusted

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
)

// hubMarks are characters the hub uses to frame its own notes and blocks;
// app text never shows them unescaped.
var hubMarks = map[rune]bool{'⟨': true, '⟩': true, '│': true, '┆': true}

// ignorable are the default-ignorable code points (Unicode's
// DerivedCoreProperties) and other characters that render as nothing or
// as blank space, beyond what the categories below already catch.
var ignorable = &unicode.RangeTable{
	R16: []unicode.Range16{
		{Lo: 0x00ad, Hi: 0x00ad, Stride: 1},
		{Lo: 0x034f, Hi: 0x034f, Stride: 1},
		{Lo: 0x061c, Hi: 0x061c, Stride: 1},
		{Lo: 0x115f, Hi: 0x1160, Stride: 1},
		{Lo: 0x17b4, Hi: 0x17b5, Stride: 1},
		{Lo: 0x180b, Hi: 0x180f, Stride: 1},
		{Lo: 0x200b, Hi: 0x200f, Stride: 1},
		{Lo: 0x202a, Hi: 0x202e, Stride: 1},
		{Lo: 0x2060, Hi: 0x206f, Stride: 1},
		{Lo: 0x2800, Hi: 0x2800, Stride: 1},
		{Lo: 0x3164, Hi: 0x3164, Stride: 1},
		{Lo: 0xfe00, Hi: 0xfe0f, Stride: 1},
		{Lo: 0xfeff, Hi: 0xfeff, Stride: 1},
		{Lo: 0xffa0, Hi: 0xffa0, Stride: 1},
		{Lo: 0xfff0, Hi: 0xfffb, Stride: 1},
	},
	R32: []unicode.Range32{
		{Lo: 0x1bca0, Hi: 0x1bca3, Stride: 1},
		{Lo: 0x1d173, Hi: 0x1d17a, Stride: 1},
		{Lo: 0xe0000, Hi: 0xe0fff, Stride: 1},
	},
}

// Prints reports whether r shows as itself: a visible letter, mark,
// number, punctuation or symbol, or the ASCII space. Combining marks are
// checked by Escape in context (a long run of them is escaped).
func Prints(r rune) bool {
	switch {
	case r == ' ':
		return true
	case r == utf8.RuneError, hubMarks[r]:
		return false
	case unicode.Is(ignorable, r):
		return false
	case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs, unicode.Zl, unicode.Zp, unicode.Zs, unicode.Me):
		return false
	}
	return unicode.IsGraphic(r)
}

// maxMarks is how many combining marks in a row one base character may
// carry before the rest are escaped ("Zalgo" text can overwrite the lines
// above and below it).
const maxMarks = 2

// Escape returns s with every character that does not print as itself
// written as a Go-style escape (\n, \t, \u2028, \U000e0041, \xff for a
// byte that is not UTF-8), runs of more than two spaces written as
// "⟨N spaces⟩" and a backslash doubled, so that the escapes are
// unambiguous. The result is one line of printable text.
func Escape(s string) string { return escape(s, true) }

// Clean is Escape for text the hub rendered (a prompt's values, a line of
// an answer), which may hold its escapes, its marks and its indentation:
// backslashes, the hub's marks and spaces are left as they are (app text
// in it had its padding counted when the hub rendered it). Text the hub rendered passes
// unchanged; anything that slipped through still cannot reach the
// terminal raw.
func Clean(s string) string { return escape(s, false) }

func escape(s string, untrusted bool) string {
	var b strings.Builder
	marks, spaces := 0, 0
	flush := func() {
		switch {
		case spaces > 2:
			fmt.Fprintf(&b, "⟨%d spaces⟩", spaces)
		case spaces > 0:
			b.WriteString(strings.Repeat(" ", spaces))
		}
		spaces = 0
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == ' ' && !untrusted {
			b.WriteByte(' ')
			i += size
			marks = 0
			continue
		}
		if r == ' ' {
			spaces++
			i += size
			marks = 0
			continue
		}
		flush()
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\' && untrusted:
			b.WriteString(`\\`)
		case hubMarks[r] && !untrusted:
			b.WriteRune(r)
		case unicode.Is(unicode.Mn, r) && Prints(r):
			marks++
			if marks > maxMarks {
				b.WriteString(escapeRune(r))
			} else {
				b.WriteRune(r)
			}
		case Prints(r):
			marks = 0
			b.WriteRune(r)
		default:
			marks = 0
			b.WriteString(escapeRune(r))
		}
		i += size
	}
	flush()
	return b.String()
}

func escapeRune(r rune) string {
	switch r {
	case '\n':
		return `\n`
	case '\t':
		return `\t`
	case '\r':
		return `\r`
	}
	if r < 0x10000 {
		return fmt.Sprintf(`\u%04x`, r)
	}
	return fmt.Sprintf(`\U%08x`, r)
}

// Quote returns s escaped as Escape does and in double quotes, with a
// double quote inside escaped, cut to at most max characters of s (0: no
// limit); a cut value ends in an ellipsis and says how long it really is.
func Quote(s string, max int) string {
	cut, n := s, utf8.RuneCountInString(s)
	if max > 0 && n > max {
		cut = string([]rune(s)[:max])
	}
	q := `"` + strings.ReplaceAll(Escape(cut), `"`, `\"`) + `"`
	if cut != s {
		q += fmt.Sprintf("… (%d characters)", n)
	}
	return q
}

// Value renders a decoded JSON value (as schema.Decode returns it) for a
// person: a string quoted, a number as written, true, false and null as
// themselves, anything else as compact JSON with its strings escaped as
// JSON does it; at most max characters of a string or of the JSON text (0:
// no limit).
func Value(v any, max int) string {
	switch t := v.(type) {
	case string:
		return Quote(t, max)
	case json.Number:
		return Escape(t.String())
	case bool:
		return strconv.FormatBool(t)
	case nil:
		return "null"
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return Quote(fmt.Sprint(v), max)
	}
	s := string(JSON(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))))
	n := utf8.RuneCountInString(s)
	if max > 0 && n > max {
		s = string([]rune(s)[:max])
	}
	s = collapseSpaces(s)
	if max > 0 && n > max {
		s += fmt.Sprintf("… (%d characters)", n)
	}
	return s
}

// collapseSpaces writes each run of more than two spaces as a count.
func collapseSpaces(s string) string {
	if !strings.Contains(s, "   ") {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		i := strings.Index(s, "   ")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		n := len(s[i:]) - len(strings.TrimLeft(s[i:], " "))
		fmt.Fprintf(&b, "⟨%d spaces⟩", n)
		s = s[i+n:]
	}
	return b.String()
}

// JSON returns JSON text with every character that does not print as
// itself written as a \u escape (a surrogate pair above U+FFFF). In valid
// JSON such characters can only be inside strings, where the escape
// stands for the same character: the result decodes to the same value.
// ASCII is left as it is (encoding/json already escapes ASCII controls).
func JSON(b []byte) []byte {
	clean := true
	for _, r := range string(b) {
		if r >= utf8.RuneSelf && !Prints(r) {
			clean = false
			break
		}
	}
	if clean {
		return b
	}
	var out bytes.Buffer
	for _, r := range string(b) {
		if r < utf8.RuneSelf || Prints(r) {
			out.WriteRune(r)
			continue
		}
		if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
			fmt.Fprintf(&out, `\u%04x\u%04x`, r1, r2)
			continue
		}
		fmt.Fprintf(&out, `\u%04x`, r)
	}
	return out.Bytes()
}

// JSONWriter passes whole JSON documents to w with JSON applied; give it
// to a json.Encoder, which writes each document in one call.
func JSONWriter(w io.Writer) io.Writer { return jsonWriter{w} }

type jsonWriter struct{ w io.Writer }

func (j jsonWriter) Write(p []byte) (int, error) {
	if _, err := j.w.Write(JSON(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Gutter is the mark that starts every line of a block of app text the hub
// lays out itself; Escape never lets app text show it.
const Gutter = "│ "

// Block lays text the hub rendered (escaped, on one line) out on lines of
// at most width terminal cells, each starting with indent and the gutter:
// no terminal at least indent+2+width cells wide wraps them, so the text
// cannot begin a line of its own that reads as the hub's.
func Block(text, indent string, width int) []string {
	var out []string
	for _, l := range strings.Split(ansi.Hardwrap(text, max(width, 8), true), "\n") {
		out = append(out, indent+Gutter+l)
	}
	return out
}
