package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// panicAfterLogOpen makes the test binary, run as isolategpt, panic in a
// goroutine once the data folder's log is open (TestMain).
const panicAfterLogOpen = "ISOLATEGPT_TEST_PANIC_AFTER_LOG_OPEN"

// A panic goes to the data folder's log, with its stack, as well as to
// stderr.
func TestPanicGoesToTheLog(t *testing.T) {
	data := t.TempDir()
	p := startWith(t, procOptions{env: append(os.Environ(), panicAfterLogOpen+"=1")}, "ask", "--yes", "--data", data, fareAB)
	if code := p.wait(t); code != 2 || !strings.Contains(p.err.String(), "panic: a bug the test planted") {
		t.Fatalf("want the runtime's exit 2 for a panic, on stderr: %v", p)
	}
	log, err := os.ReadFile(filepath.Join(data, "isolategpt.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"panic: a bug the test planted", "goroutine ", "TestMain.func"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
}

// The commands' own messages on stderr — an error, a status, a batch's
// summary — are logged too; prompts are not.
func TestMessagesGoToTheLog(t *testing.T) {
	data := t.TempDir()
	bad := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(bad, []byte(`{"rules": [{"kind": "exec", "app": "metro_hale", "decision": "allow_once"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if p := start(t, "", "batch", "--data", data, "--policy", bad); p.wait(t) != ExitUsage {
		t.Fatalf("%v", p)
	}
	if p := start(t, "d\n", "ask", "--data", data, fareAB); p.wait(t) != ExitDenied {
		t.Fatalf("%v", p)
	}
	log, err := os.ReadFile(filepath.Join(data, "isolategpt.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`isolategpt batch: policy: `, `unknown app \"metro_hale\"`, "isolategpt ask: denied: nothing was done"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(string(log), "permission (exec)") {
		t.Errorf("a prompt was logged:\n%s", log)
	}
}
