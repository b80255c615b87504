// Package hubtest runs a sandbox test with the hub as it runs here and,
// when that is root, again as an ordinary user: the desktop case, which CI
// (root) would otherwise never see. The second run is this test binary
// again, copied where the test user may run it, run as that user with
// only the calling top-level test selected; nothing it makes on the host
// outlives the test.
package hubtest

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// The test user and its supplementary group (nothing of the host that
// group may read must be reachable from its workers).
const (
	UID   = 61234
	Group = 61235
	env   = "ISOLATEGPT_TEST_HUB"
)

var (
	binOnce sync.Once
	bin     string
	binErr  error
	binDir  string
)

// Modes runs f as "root" (when the hub runs as root here) and as "user".
func Modes(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	if os.Getenv(env) == "user" || os.Getuid() != 0 {
		t.Run("user", f)
		return
	}
	t.Run("root", f)
	t.Run("user", asUser)
}

// AsUser reports whether this process is the ordinary-user run.
func AsUser() bool { return os.Getuid() != 0 }

// asUser re-runs the calling top-level test as UID and reports its
// outcome: its failures fail this test, its skip skips it.
func asUser(t *testing.T) {
	name := strings.Split(t.Name(), "/")[0]
	b := binary(t)
	home := t.TempDir()
	if err := os.Chown(home, UID, UID); err != nil {
		t.Fatal(err)
	}
	OpenUp(t, home)
	cmd := exec.Command(b, "-test.run", "^"+regexp.QuoteMeta(name)+"$", "-test.v", "-test.count=1", "-test.timeout=10m")
	cmd.Dir = home
	cmd.Env = []string{env + "=user", "TMPDIR=" + home, "HOME=" + home, "PATH=/usr/local/bin:/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: UID, Gid: UID, Groups: []uint32{Group}}}
	out, err := cmd.CombinedOutput()
	text := string(out)
	if strings.Contains(text, "--- SKIP: "+name+"/user") {
		// -v prints a skip's reason as it happens, under its RUN line.
		var why []string
		for _, line := range strings.Split(text, "\n") {
			if strings.Contains(line, "_test.go:") {
				why = append(why, strings.TrimSpace(line))
			}
		}
		t.Skipf("as an ordinary user: %s", strings.Join(why, "; "))
	}
	if err != nil || !strings.Contains(text, "--- PASS: "+name+"/user") {
		t.Fatalf("as an ordinary user (uid %d): %v\n%s", UID, err, text)
	}
	if testing.Verbose() {
		t.Logf("as an ordinary user (uid %d):\n%s", UID, text)
	}
}

// binary is a copy of this test binary the test user may run (go test's
// own build folder is closed to it).
func binary(t *testing.T) string {
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "isolategpt-hubtest-")
		if err != nil {
			binErr = err
			return
		}
		binDir = dir
		if err := os.Chmod(dir, 0o755); err != nil {
			binErr = err
			return
		}
		src, err := os.Open("/proc/self/exe")
		if err != nil {
			binErr = err
			return
		}
		defer src.Close()
		dst := filepath.Join(dir, filepath.Base(os.Args[0]))
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			binErr = err
			return
		}
		_, err = io.Copy(f, src)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		bin, binErr = dst, err
	})
	if binErr != nil {
		t.Fatalf("a copy of the test binary for the test user: %v", binErr)
	}
	return bin
}

// Cleanup removes the copy of the test binary; call it from TestMain after
// the tests ran.
func Cleanup() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// OpenUp lets the test user through the folders above dir (search only).
func OpenUp(t *testing.T, dir string) {
	t.Helper()
	for p := filepath.Dir(dir); p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode&0o001 == 0 {
			if err := os.Chmod(p, os.FileMode(st.Mode&0o777|0o711)); err != nil {
				t.Fatal(err)
			}
		}
	}
}
