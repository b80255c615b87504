package apps

import (
	"os"
	"path/filepath"
	"testing"
)

func TestBlockedNamesTheClosedFolder(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to judge another user's access by file mode")
	}
	base := t.TempDir()
	for _, d := range []string{base, filepath.Dir(base)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	closed := filepath.Join(base, "closed")
	inner := filepath.Join(closed, "installs", "npm-x")
	if err := os.MkdirAll(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	if got := Blocked(inner, 65534, 65534); got != closed {
		t.Errorf("Blocked = %q, want %q", got, closed)
	}
	if got := Blocked(inner, 0, 0); got != "" {
		t.Errorf("root blocked at %q", got)
	}
	if err := os.Chmod(closed, 0o711); err != nil {
		t.Fatal(err)
	}
	if got := Blocked(inner, 65534, 65534); got != "" {
		t.Errorf("a traversable path blocked at %q", got)
	}
}
