package store

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestAuditChainAsOrdinaryUser runs the chain, verify and intent tests
// again as uid 65534 when the suite runs as root: the store must work, and
// catch the same tampering, for a user without privileges.
func TestAuditChainAsOrdinaryUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("already an ordinary user: the tests above ran as one")
	}
	if os.Getenv("ISOLATEGPT_STORE_AS_USER") != "" {
		t.Skip("inside the re-run")
	}
	const nobody = 65534
	base := t.TempDir()
	// The test's temporary folder and its parent, which Go makes 0700.
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o755); err != nil {
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
	cmd := exec.Command(exe, "-test.run=^(TestAuditChainVerifies|TestAuditVerifyDetectsTampering|TestAuditVerifyAnchor|TestAuditLegacyStore|TestAuditIntentInterrupted|TestAuditAsyncFlush)$", "-test.v")
	cmd.Env = []string{"TMPDIR=" + tmp, "HOME=" + tmp, "ISOLATEGPT_STORE_AS_USER=1", "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("as uid %d: %v\n%s", nobody, err, out)
	}
	for _, name := range []string{"TestAuditChainVerifies", "TestAuditVerifyDetectsTampering", "TestAuditIntentInterrupted", "TestAuditAsyncFlush"} {
		if !strings.Contains(string(out), "--- PASS: "+name) {
			t.Errorf("as uid %d, %s did not pass:\n%s", nobody, name, out)
		}
	}
}
