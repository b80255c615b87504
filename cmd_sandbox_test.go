package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sandboxRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := map[string]string{"ISOLATEGPT_DATA": t.TempDir()}
	code := Sandbox(args, IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] }})
	if strings.Contains(errb.String(), "landlock is not available") {
		t.Skip("kernel has no Landlock: " + errb.String())
	}
	return code, out.String(), errb.String()
}

func TestSandboxRun(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "escape")
	tests := []struct {
		name       string
		args       []string
		code       int
		out, errIn string
	}{
		{"exit status passes through", []string{"run", "--", "/bin/sh", "-c", "echo hi; exit 5"}, 5, "hi\n", ""},
		{"reading /etc/shadow is refused", []string{"run", "--", "/bin/cat", "/etc/shadow"}, 1, "", "Permission denied"},
		{"writing outside is refused", []string{"run", "--", "/bin/sh", "-c", "echo x > " + outside}, 2, "", "Permission denied"},
		{"a built-in app's policy runs no program", []string{"run", "--app", "metro_hail", "--", "/bin/true"}, ExitUsage, "", "operation not permitted"},
		{"unknown app", []string{"run", "--app", "ghost", "--", "/bin/true"}, ExitUsage, "", "ghost"},
		{"a domain that is not eTLD+1", []string{"run", "--allow-domain", "api.example.com", "--", "/bin/true"}, ExitUsage, "", `declare "example.com"`},
		{"no command", []string{"run"}, ExitUsage, "", "missing CMD"},
		{"no subcommand", []string{}, ExitUsage, "", "usage"},
		{"a missing program is named", []string{"run", "--", "/missing"}, 127, "", "/missing: no such program"},
		{"a missing program on PATH", []string{"run", "--", "no-such-tool"}, 127, "", "no such program on the sandbox's PATH"},
		{"a folder is no program", []string{"run", "--", "/tmp"}, 127, "", "/tmp: is a folder"},
		{"flags before --, the command's after", []string{"run", "--", "/bin/sh", "-c", "echo $0", "--app"}, 0, "--app\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := sandboxRun(t, tt.args...)
			if code != tt.code || (tt.out != "" && out != tt.out) || !strings.Contains(errOut, tt.errIn) {
				t.Errorf("code %d (want %d), stdout %q, stderr %q (want it to mention %q)", code, tt.code, out, errOut, tt.errIn)
			}
		})
	}
	if _, err := os.Stat(outside); err == nil {
		t.Error("a file was written outside the sandbox")
	}
}
