package store

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// nobody is the ordinary user the root-run tests drop to.
const nobody = 65534

// TestFaultsAsOrdinaryUser runs the damage, crash-image, check and guard
// tests again as an ordinary user (nobody) when the tests run as root, in
// a child process of this test binary with its own temporary folder.
func TestFaultsAsOrdinaryUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: already an ordinary user (the tests themselves ran as one)")
	}
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(base, "store.test")
	if err := os.WriteFile(exe, self, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(base, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(tmp, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^(TestDamageIsAnErrorNamingTheFile|TestCrashImageOpens|TestWALGarbageRefused|TestCheckFindsEachDamage|TestBackupRestore|TestDiskGuardRefusesAndRecovers|TestAnchorFindsLostData|TestCrashLeftoverTables)$", "-test.v")
	cmd.Env = []string{"TMPDIR=" + tmp, "HOME=" + tmp, "PATH=" + os.Getenv("PATH")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("as uid %d: %v\n%s", nobody, err, out)
	}
	if n := strings.Count(string(out), "\n--- PASS: Test"); n != 8 {
		t.Fatalf("as uid %d: %d tests passed, want 8:\n%s", nobody, n, out)
	}
	t.Logf("as uid %d: 8 tests passed", nobody)
}
