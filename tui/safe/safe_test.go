package safe

import (
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/engine/untrusted"
)

func TestClean(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "fare 51.8", "fare 51.8"},
		{"clear screen", "a\x1b[2Jb", `a\u001b[2Jb`},
		{"title change", "\x1b]0;owned\a", `\u001b]0;owned\u0007`},
		{"newline and tab", "a\nb\tc", `a\nb\tc`},
		{"bidi override", "abc\u202edef", `abc\u202edef`},
		{"C1 control", "a\u009bb", `a\u009bb`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"tag characters", "a\U000e0041b", `a\U000e0041b`},
		{"the hub's indentation is kept", "        tool x", "        tool x"},
		{"the hub's own escapes pass", `"a\nb"`, `"a\nb"`},
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
	f.Add("a\x1b[2Jb\u202e\u009b\u2028\U000e0041\ufe0f")
	f.Fuzz(func(t *testing.T, s string) {
		out := Clean(s)
		for _, r := range out {
			if !untrusted.Prints(r) && !strings.ContainsRune("⟨⟩│┆", r) {
				t.Fatalf("Clean(%q) = %q keeps %U", s, out, r)
			}
		}
	})
}
