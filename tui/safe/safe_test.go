package safe

import (
	"strings"
	"testing"
	"unicode"
)

func TestClean(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "fare 51.8", "fare 51.8"},
		{"clear screen", "a\x1b[2Jb", "a[2Jb"},
		{"title change", "\x1b]0;owned\a", "]0;owned"},
		{"newline and tab", "a\nb\tc", "abc"},
		{"bidi override", "abc\u202edef", "abcdef"},
		{"C1 control", "a\u009bb", "ab"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Clean(tc.in); got != tc.want {
				t.Fatalf("Clean(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzClean(f *testing.F) {
	f.Add("a\x1b[2Jb\u202e\u009b")
	f.Fuzz(func(t *testing.T, s string) {
		out := Clean(s)
		if strings.IndexFunc(out, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }) >= 0 {
			t.Fatalf("Clean(%q) = %q keeps a control character", s, out)
		}
	})
}
