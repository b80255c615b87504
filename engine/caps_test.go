package engine

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParseCap: a cap read from the environment is either an error that
// names the variable, or zero for an empty value, or an integer from 1 to
// maxCap that the text spells.
func FuzzParseCap(f *testing.F) {
	for _, s := range []string{"", "1", " 16 ", "0", "-1", "abc", "1e3", "100000", "100001", "0x10", "+5", "9999999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseCap(EnvMaxWorkers, s)
		if err != nil {
			if !strings.Contains(err.Error(), EnvMaxWorkers) {
				t.Fatalf("error %q does not name the variable", err)
			}
			return
		}
		if strings.TrimSpace(s) == "" {
			if n != 0 {
				t.Fatalf("empty value gave %d", n)
			}
			return
		}
		if n < 1 || n > maxCap {
			t.Fatalf("%q accepted as %d", s, n)
		}
		if m, err := strconv.Atoi(strings.TrimSpace(s)); err != nil || m != n {
			t.Fatalf("%q accepted as %d", s, n)
		}
	})
}
