package launch

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

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/cgroup"
)

// The sandbox is tested with the hub run as root (CI) and as an ordinary
// user (the desktop case). As root, a test re-runs itself as testUID, in a
// copy of this test binary that user may run; nothing is made on the host
// that outlives the test.
const (
	hubModeEnv = "ISOLATEGPT_TEST_HUB"
	testUID    = 61234
	// testGroup is a supplementary group of the test user: nothing of
	// the host that group may read must be reachable from its workers.
	testGroup = 61235
)

var (
	userBinOnce sync.Once
	userBin     string
	userBinErr  error
	userBinDir  string
)

// hubModes runs f as the hub runs here and, when that is root, again as an
// ordinary user.
func hubModes(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	if os.Getenv(hubModeEnv) == "user" || os.Getuid() != 0 {
		t.Run("user", f)
		return
	}
	t.Run("root", f)
	t.Run("user", asUser)
}

// asUser re-runs the calling top-level test as testUID and reports its
// outcome: its failures fail this test, its skip skips it.
func asUser(t *testing.T) {
	name := strings.Split(t.Name(), "/")[0]
	bin := userBinary(t)
	home := t.TempDir()
	if err := os.Chown(home, testUID, testUID); err != nil {
		t.Fatal(err)
	}
	openUp(t, home)
	cmd := exec.Command(bin, "-test.run", "^"+regexp.QuoteMeta(name)+"$", "-test.v", "-test.count=1", "-test.timeout=10m")
	cmd.Dir = home
	cmd.Env = []string{hubModeEnv + "=user", "TMPDIR=" + home, "HOME=" + home, "PATH=/usr/local/bin:/usr/bin:/bin"}
	if v := os.Getenv("ISOLATEGPT_MCP_DIR"); v != "" {
		cmd.Env = append(cmd.Env, "ISOLATEGPT_MCP_DIR="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: testUID, Gid: testUID, Groups: []uint32{testGroup}}}
	out, err := cmd.CombinedOutput()
	text := string(out)
	if strings.Contains(text, "--- SKIP: "+name+"/user") {
		// -v prints a skip's reason as it happens, under its RUN line.
		var why []string
		for _, line := range strings.Split(text, "\n") {
			if strings.Contains(line, "_test.go:") && !strings.Contains(line, "cgroups this hub cannot have") {
				why = append(why, strings.TrimSpace(line))
			}
		}
		t.Skipf("as an ordinary user: %s", strings.Join(why, "; "))
	}
	if err != nil || !strings.Contains(text, "--- PASS: "+name+"/user") {
		t.Fatalf("as an ordinary user (uid %d): %v\n%s", testUID, err, text)
	}
	if testing.Verbose() {
		t.Logf("as an ordinary user (uid %d):\n%s", testUID, text)
	}
}

// userBinary is a copy of this test binary the test user may run (go
// test's own build folder is closed to it).
func userBinary(t *testing.T) string {
	userBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "isolategpt-hubtest-")
		if err != nil {
			userBinErr = err
			return
		}
		userBinDir = dir
		if err := os.Chmod(dir, 0o755); err != nil {
			userBinErr = err
			return
		}
		src, err := os.Open("/proc/self/exe")
		if err != nil {
			userBinErr = err
			return
		}
		defer src.Close()
		dst := filepath.Join(dir, "launch.test")
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			userBinErr = err
			return
		}
		_, err = io.Copy(f, src)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		userBin, userBinErr = dst, err
	})
	if userBinErr != nil {
		t.Fatalf("a copy of the test binary for the test user: %v", userBinErr)
	}
	return userBin
}

// removeUserBinary runs after all tests.
func removeUserBinary() {
	if userBinDir != "" {
		os.RemoveAll(userBinDir)
	}
}

// openUp lets the test user through the folders above dir (search only).
func openUp(t *testing.T, dir string) {
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

// newLauncher is the launcher a test uses. Where the host cannot give this
// hub cgroups (an ordinary user on a cgroup v1 host) it allows a weaker
// sandbox, and says so; every other layer must still be there, which
// checkLayers asserts.
func newLauncher(t *testing.T) *Launcher {
	t.Helper()
	l := &Launcher{}
	if m := cgroup.Detect().Missing(); len(m) > 0 {
		t.Logf("cgroups this hub cannot have here, allowed for this test: %+v", m)
		l.AllowWeaker = true
	}
	return l
}

// checkLayers fails unless every layer of the last worker is enforced but
// the cgroups the host cannot give this hub.
func checkLayers(t *testing.T, l *Launcher) {
	t.Helper()
	ls := l.Layers()
	if len(ls) == 0 {
		t.Fatal("the launcher reports no layers")
	}
	seen := map[string]bool{}
	for _, ly := range ls {
		seen[ly.Name] = true
		if ly.Enforced {
			continue
		}
		if cg := strings.HasPrefix(ly.Name, "cgroup "); !cg || !l.AllowWeaker {
			t.Errorf("layer %s missing: %s", ly.Name, ly.Detail)
		}
	}
	for _, n := range sandbox.LayerOrder {
		if !seen[n] {
			t.Errorf("layer %s not reported", n)
		}
	}
}

// haveCgroups reports whether this hub gets cgroups here.
func haveCgroups() bool { return len(cgroup.Detect().Missing()) == 0 }
