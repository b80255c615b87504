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

// runAsNobody runs the named tests of this test binary again as nobody,
// in a child process with its own temporary folder, and fails unless each
// of them passed there. It skips when the tests already run as an
// ordinary user, or inside such a child.
func runAsNobody(t *testing.T, tests ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: already an ordinary user (the tests themselves ran as one)")
	}
	if os.Getenv("ISOLATEGPT_STORE_AS_USER") != "" {
		t.Skip("inside the re-run")
	}
	base := t.TempDir()
	// The test's temporary folder and its parent, which Go makes 0700.
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
	cmd := exec.Command(exe, "-test.run=^("+strings.Join(tests, "|")+")$", "-test.v")
	cmd.Env = []string{"TMPDIR=" + tmp, "HOME=" + tmp, "ISOLATEGPT_STORE_AS_USER=1", "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("as uid %d: %v\n%s", nobody, err, out)
	}
	for _, name := range tests {
		if !strings.Contains(string(out), "--- PASS: "+name+" ") {
			t.Errorf("as uid %d, %s did not pass:\n%s", nobody, name, out)
		}
	}
	t.Logf("as uid %d: %d tests passed", nobody, len(tests))
}

// TestFaultsAsOrdinaryUser runs the damage, crash-image, check, guard,
// anchor and crash-leftover tests again as an ordinary user (nobody) when
// the tests run as root.
func TestFaultsAsOrdinaryUser(t *testing.T) {
	runAsNobody(t, "TestDamageIsAnErrorNamingTheFile", "TestCrashImageOpens", "TestWALGarbageRefused",
		"TestCheckFindsEachDamage", "TestBackupRestore", "TestDiskGuardRefusesAndRecovers", "TestAnchorFindsLostData",
		"TestCrashLeftoverTables", "TestTornCopyIsACrash", "TestZeroedEntryIsFoundByTheAnchor",
		"TestEmptyLogIsACrashLeftover", "TestEmptyValueLogIsACrashLeftover")
}
