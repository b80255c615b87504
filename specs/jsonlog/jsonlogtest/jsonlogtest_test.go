package jsonlogtest

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Inside the limit a write past n bytes is refused; after it, the same
// write goes through.
func TestWithFileSizeLimit(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	WithFileSizeLimit(t, 4096, func() {
		if _, err := f.Write(block); err != nil {
			t.Fatalf("a write within the limit: %v", err)
		}
		if _, err := f.Write(block); !errors.Is(err, syscall.EFBIG) {
			t.Errorf("a write past the limit: %v, want EFBIG", err)
		}
	})
	if _, err := f.Write(block); err != nil {
		t.Errorf("a write after the limit is lifted: %v", err)
	}
}
