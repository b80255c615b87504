package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/cgroup"
	"github.com/isolategpt/isolategpt/sandbox/hubtest"
)

// sandboxTry runs `isolategpt sandbox ARGS`. Where this host gives the hub
// no cgroups (an ordinary user on cgroup v1), `run` gets the opt-in, which
// TestSandboxRunNeedsConsent checks is needed.
func sandboxTry(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	if len(args) > 0 && args[0] == "run" {
		args = append(append([]string{"run"}, weakerFlags()...), args[1:]...)
	}
	var out, errb bytes.Buffer
	env := map[string]string{"ISOLATEGPT_DATA": t.TempDir()}
	code := Sandbox(args, IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] }})
	return code, out.String(), errb.String()
}

func TestSandboxRun(t *testing.T) {
	hubtest.Modes(t, func(t *testing.T) {
		dir := t.TempDir()
		hubtest.OpenUp(t, dir)
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		write := func(name, text string, mode os.FileMode) string {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte(text), mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
			return p
		}
		prog := write("server", "#!/bin/sh\necho \"$0 ran with $1\"\n", 0o755)
		closed := write("closed", "#!/bin/sh\necho ran\n", 0o300)
		data := write("data.txt", "granted", 0o644)
		outside := filepath.Join(dir, "escape")
		tests := []struct {
			name       string
			args       []string
			code       int
			out, errIn string
		}{
			{"exit status passes through", []string{"run", "--", "/bin/sh", "-c", "echo hi; exit 5"}, 5, "hi\n", ""},
			{"the host's files do not exist inside", []string{"run", "--", "/bin/cat", "/etc/shadow"}, 1, "", "No such file"},
			{"writing outside is refused", []string{"run", "--", "/bin/sh", "-c", "echo x > " + outside}, 2, "", "nonexistent"},
			{"a program given by path runs", []string{"run", "--", prog, "arg"}, 0, prog + " ran with arg\n", ""},
			{"a relative path works too", []string{"run", "--", "./" + filepath.Base(prog)}, 0, "", ""},
			{"a program the sandbox may not read", []string{"run", "--", closed}, ExitCannotRun, "", "cannot run this program"},
			{"a program that does not exist", []string{"run", "--", filepath.Join(dir, "none")}, 127, "", "none: no such program"},
			{"a granted file is readable", []string{"run", "--read-only", data, "--", "/bin/cat", data}, 0, "granted", ""},
			{"a grant inside the sandbox's own folder", []string{"run", "--read-only", "/proc/1", "--", "/bin/true"}, ExitCannotRun, "", "sandbox's own"},
			{"a built-in app's policy runs no program", []string{"run", "--app", "metro_hail", "--", "/bin/true"}, ExitUsage, "", "operation not permitted"},
			{"unknown app", []string{"run", "--app", "ghost", "--", "/bin/true"}, ExitUsage, "", "ghost"},
			{"a domain that is not eTLD+1", []string{"run", "--allow-domain", "api.example.com", "--", "/bin/true"}, ExitUsage, "", `declare "example.com"`},
			{"no command", []string{"run"}, ExitUsage, "", "missing CMD"},
			{"no subcommand", []string{}, ExitUsage, "", "usage"},
			{"a missing program on PATH", []string{"run", "--", "no-such-tool"}, 127, "", "no such program on the sandbox's PATH"},
			{"a folder is no program", []string{"run", "--", "/tmp"}, 127, "", "/tmp: is a folder"},
			{"flags before --, the command's after", []string{"run", "--", "/bin/sh", "-c", "echo $0", "--app"}, 0, "--app\n", ""},
		}
		wd, _ := os.Getwd()
		defer os.Chdir(wd)
		if err := os.Chdir(dir); err != nil {
			t.Fatal(err)
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code, out, errOut := sandboxTry(t, tt.args...)
				if code != tt.code || (tt.out != "" && out != tt.out) || !strings.Contains(errOut, tt.errIn) {
					t.Errorf("code %d (want %d), stdout %q (want %q), stderr %q (want it to mention %q)", code, tt.code, out, tt.out, errOut, tt.errIn)
				}
			})
		}
		if _, err := os.Stat(outside); err == nil {
			t.Error("a file was written outside the sandbox")
		}
	})
}

// TestSandboxRunNeedsConsent: a hub this host cannot give every layer
// starts nothing until the user opts into the weaker sandbox.
func TestSandboxRunNeedsConsent(t *testing.T) {
	hubtest.Modes(t, func(t *testing.T) {
		if len(cgroup.Detect().Missing()) == 0 {
			t.Skip("this host gives this hub every layer (sandbox/launch's TestWeakerSandboxNeedsConsent takes layers away)")
		}
		var out, errb bytes.Buffer
		code := Sandbox([]string{"run", "--", "/bin/true"}, IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(string) string { return "" }})
		if code != ExitUsage || !strings.Contains(errb.String(), "--allow-weaker-sandbox") || !strings.Contains(errb.String(), "cgroup memory") {
			t.Errorf("code %d, stderr %q: want a refusal naming the missing layers and the opt-in", code, errb.String())
		}
	})
}

func TestSandboxStatus(t *testing.T) {
	hubtest.Modes(t, func(t *testing.T) {
		missing := len(cgroup.Detect().Missing()) > 0
		code, out, errOut := sandboxTry(t, "status")
		t.Logf("sandbox status:\n%s%s", out, errOut)
		want := ExitOK
		if missing {
			want = ExitFailed
		}
		if code != want {
			t.Errorf("exit %d, want %d", code, want)
		}
		for _, name := range sandbox.LayerOrder {
			if !strings.Contains(out, name) {
				t.Errorf("status does not report %s", name)
			}
		}
		if missing != strings.Contains(out, "MISSING") {
			t.Errorf("status says MISSING: %v, want %v", strings.Contains(out, "MISSING"), missing)
		}
		_, js, _ := sandboxTry(t, "status", "--json")
		var layers []sandbox.Layer
		if err := json.Unmarshal([]byte(js), &layers); err != nil || len(layers) != len(sandbox.LayerOrder) {
			t.Errorf("status --json: %v, %d layers", err, len(layers))
		}
	})
}

// TestSandboxRunsRealPrograms: what MCP servers and their tools need works
// inside: an absolute HOME and TMPDIR of their own, a /proc for Node, git
// without the host's configuration, and programs from a read-only folder
// (but never from the app's own).
func TestSandboxRunsRealPrograms(t *testing.T) {
	hubtest.Modes(t, func(t *testing.T) {
		install := t.TempDir()
		hubtest.OpenUp(t, install)
		if err := os.Chmod(install, 0o755); err != nil {
			t.Fatal(err)
		}
		tool := filepath.Join(install, "tool")
		if err := os.WriteFile(tool, []byte("#!/bin/sh\necho tool ran\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		script := `set -e
echo "home=$HOME tmp=$TMPDIR"
` + tool + `
cp ` + tool + ` ./mine; ./mine || echo "./mine refused"
git init -q repo && cd repo && git -c user.name=a -c user.email=a@example.com commit -q --allow-empty -m first && git log --format=%s
git config --global core.editor true && cat "$HOME/.gitconfig" | head -1
git config --system --list 2>/dev/null || echo "no system gitconfig"
if command -v node >/dev/null; then node -e 'const os=require("os"); console.log("node", process.memoryUsage().rss > 0, os.homedir(), os.tmpdir())'; else echo "node true /run/app /tmp"; fi`
		code, out, errOut := sandboxTry(t, "run", "--read-only", install, "--", "/bin/sh", "-c", script)
		want := "home=/run/app tmp=/tmp\ntool ran\n./mine refused\nfirst\n[core]\nno system gitconfig\nnode true /run/app /tmp\n"
		if code != 0 || out != want {
			t.Errorf("exit %d\nstdout %q\nwant   %q\nstderr %q", code, out, want, errOut)
		}
	})
}
