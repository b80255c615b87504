package store

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// smallFS mounts a tmpfs of size bytes for the test, or skips it where
// this process may not mount (not root, no CAP_SYS_ADMIN).
func smallFS(t *testing.T, size int64) string {
	t.Helper()
	if raceOn {
		t.Skip("skipped under the race detector (filling a filesystem through Badger takes minutes there); run without -race")
	}
	if os.Geteuid() != 0 {
		t.Skip("skipped: mounting a small tmpfs needs root; the fake-statfs tests cover the guard")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Skipf("skipped: cannot mount a tmpfs here (%v); the fake-statfs tests cover the guard", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// ballast fills fs until free bytes are left, in a file the test can
// remove to give the space back.
func ballast(t *testing.T, dir string, free uint64) string {
	t.Helper()
	have, err := statfsFree(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "ballast")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for n := int64(have - free); n > 0; n -= int64(len(buf)) {
		if _, err := f.Write(buf[:min(n, int64(len(buf)))]); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// fillUntilRefused writes audit records until the store refuses one, and
// returns how many it took.
func fillUntilRefused(t *testing.T, s *Store, max int) (int, error) {
	detail := []byte(fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", 20000)))
	for i := range max {
		if _, err := s.Audit(AuditRecord{User: "alice", Kind: "step", Detail: detail}); err != nil {
			return i, err
		}
	}
	return max, nil
}

// TestDiskFullOnASmallFilesystem fills a real small filesystem: the store
// refuses writes with ErrDiskFull while the process goes on, keeps every
// record it accepted, and writes again once space is back.
func TestDiskFullOnASmallFilesystem(t *testing.T) {
	fsDir := smallFS(t, 160<<20)
	dir := filepath.Join(fsDir, "store")
	s, err := Open(dir, Options{MinFree: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := ballast(t, fsDir, 80<<20)
	n, err := fillUntilRefused(t, s, 200000)
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("after %d records: %v, want ErrDiskFull", n, err)
	}
	t.Logf("refused after %d records: %v", n, err)
	if err := s.Writable(); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Writable: %v", err)
	}
	if got := countAudit(t, s); got != n {
		t.Fatalf("%d records readable, %d accepted", got, n)
	}
	os.Remove(b)
	if err := s.Writable(); err != nil {
		t.Fatalf("space back, Writable: %v", err)
	}
	if _, err := s.Audit(AuditRecord{User: "alice", Kind: "step"}); err != nil {
		t.Fatalf("space back, Audit: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := countAudit(t, s2); got != n+1 {
		t.Fatalf("after reopening: %d records, want %d", got, n+1)
	}
}

// TestDiskFullGuardOff is the same fill with the guard switched off, in a
// child process: Badger writes into its memory-mapped log until a page
// cannot be backed and the process dies (SIGBUS) or fails — what the
// guard prevents.
func TestDiskFullGuardOff(t *testing.T) {
	if dir := os.Getenv("STORE_GUARD_OFF_DIR"); dir != "" {
		s, err := Open(filepath.Join(dir, "store"), Options{MinFree: -1})
		if err != nil {
			fmt.Println("open:", err)
			os.Exit(3)
		}
		n, err := fillUntilRefused(t, s, 200000)
		fmt.Printf("wrote %d records, then: %v\n", n, err)
		s.Close()
		os.Exit(0)
	}
	fsDir := smallFS(t, 160<<20)
	ballast(t, fsDir, 24<<20)
	cmd := exec.Command(os.Args[0], "-test.run=^TestDiskFullGuardOff$")
	cmd.Env = append(os.Environ(), "STORE_GUARD_OFF_DIR="+fsDir)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("with the guard off the fill ended cleanly (%v): the disk did not fill?\n%s", err, tail(out))
	}
	ws, _ := ee.Sys().(syscall.WaitStatus)
	t.Logf("guard off: exit %d, signal %v, output ends:\n%s", ee.ExitCode(), ws.Signal(), tail(out))
	if !strings.Contains(string(out), "SIGBUS") && !strings.Contains(string(out), "fault") && ws.Signal() != syscall.SIGBUS {
		t.Logf("not a SIGBUS, but the fill failed: %v", err)
	}
}

func tail(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[:min(len(lines), 6)], "\n")
}
