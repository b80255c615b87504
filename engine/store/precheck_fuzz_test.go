package store

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadManifest: any bytes as a MANIFEST are read or refused, never a
// panic, and a file read whole ends at a record boundary.
func FuzzReadManifest(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("Bdgr\x00\x00\x00\x08"))
	f.Add([]byte("Bdgr\x00\x00\x00\x08\x00\x00\x00\x02\x00\x00\x00\x00\x0a\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "MANIFEST")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		m, err := readManifest(p)
		if err == nil && m == nil {
			t.Fatal("no error and no manifest")
		}
	})
}

// FuzzCheckLog: any bytes as a log are accepted or refused, never a panic.
func FuzzCheckLog(f *testing.F) {
	f.Add(make([]byte, 64), true)
	f.Add(append(make([]byte, 20), 0, 0, 5, 1, 0, 'k', 'e', 'y', 'x', 'x', 'v', 0, 0, 0, 0), false)
	f.Fuzz(func(t *testing.T, b []byte, torn bool) {
		p := filepath.Join(t.TempDir(), "000001.mem")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		_ = checkLog(p, 1<<20, torn)
	})
}
