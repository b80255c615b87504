package npm

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// Which program runs may not depend on which of two "bin" keys a reader
// takes: an ambiguous package.json is refused, a plain one read.
func TestBinOfReadsPackageJSONStrictly(t *testing.T) {
	for name, tt := range map[string]struct {
		pj, bin string
		want    error
	}{
		"one bin":          {`{"name":"srv","version":"1.2.3","bin":"cli.js","scripts":{"x":"y"}}`, "node_modules/srv/cli.js", nil},
		"named bin":        {`{"version":"1.2.3","bin":{"srv":"a.js","other":"b.js"}}`, "node_modules/srv/a.js", nil},
		"two bin keys":     {`{"version":"1.2.3","bin":"cli.js","bin":"evil.js"}`, "", strictjson.ErrDuplicateKey},
		"duplicate in bin": {`{"version":"1.2.3","bin":{"srv":"a.js","srv":"evil.js"}}`, "", strictjson.ErrDuplicateKey},
		"case-folded bin":  {`{"version":"1.2.3","bin":"cli.js","BIN":"evil.js"}`, "", strictjson.ErrUnknownField},
		"trailing":         {`{"version":"1.2.3","bin":"cli.js"}{"bin":"evil.js"}`, "", strictjson.ErrTrailingData},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			pkg := filepath.Join(dir, "node_modules", "srv")
			if err := os.MkdirAll(pkg, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(pkg, "package.json"), []byte(tt.pj), 0o600); err != nil {
				t.Fatal(err)
			}
			_, bin, err := binOf(dir, "srv")
			if !errors.Is(err, tt.want) || bin != tt.bin {
				t.Errorf("binOf = %q, %v; want %q, %v", bin, err, tt.bin, tt.want)
			}
		})
	}
}
