package main

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// every lists each command's path: "ask", "apps install", …
func every() [][]string {
	var out [][]string
	for _, n := range nodes() {
		if n.path != "" {
			out = append(out, strings.Fields(n.path))
		}
	}
	return out
}

// -h, --help and `help CMD` print the command's own help on stdout and
// exit 0, for every command; the help lists only the command's flags.
func TestHelpForEveryCommand(t *testing.T) {
	for _, path := range every() {
		name := strings.Join(path, " ")
		t.Run(name, func(t *testing.T) {
			c := root
			for _, p := range path {
				c = c.sub(p)
			}
			for _, args := range [][]string{
				append(slices.Clone(path), "-h"),
				append(slices.Clone(path), "--help"),
				append([]string{"help"}, path...),
			} {
				code, out, errs := capture(t, args...)
				if code != ExitOK || errs != "" {
					t.Errorf("%q: exit %d, stderr %q", args, code, errs)
				}
				if !strings.Contains(out, "usage: isolategpt "+name) {
					t.Errorf("%q: help is not %s's:\n%s", args, name, out)
				}
				if len(c.subs) == 0 && !strings.Contains(out, "--help") {
					t.Errorf("%q: no flags listed:\n%s", args, out)
				}
			}
		})
	}
	// audit plans nothing: no --llm in its help.
	if _, out, _ := capture(t, "audit", "-h"); strings.Contains(out, "--llm") || !strings.Contains(out, "--since") {
		t.Errorf("audit's help:\n%s", out)
	}
	if code, _, errs := capture(t, "help", "nosuch"); code != ExitUsage || !strings.Contains(errs, `unknown command "nosuch"`) {
		t.Errorf("help nosuch: exit %d, %q", code, errs)
	}
}

// Flags go anywhere on the line, and "--" ends them.
func TestFlagsAnywhere(t *testing.T) {
	data := t.TempDir()
	r := command(Ask, "", "--data", data, fareAB, "--yes")
	if r.code != ExitOK || !strings.Contains(r.out, "metro_hail estimate fare") || strings.Contains(r.out, "--yes") {
		t.Errorf("ask QUERY --yes: %v", r)
	}
	if r := command(Apps, "", "show", "quick_ride", "--data", data); r.code != ExitOK || !strings.Contains(r.out, "App quick_ride") {
		t.Errorf("apps show NAME --data D: %v", r)
	}
	// After --, a word that looks like a flag is part of the query (which
	// the offline model cannot plan: nothing done, exit 1).
	if r := command(Ask, "", "--data", data, "--yes", "--", "--yes", "hello"); r.code != ExitFailed || !strings.Contains(r.out, "found no installed app") {
		t.Errorf("ask -- --yes hello: %v", r)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, out, _ := capture(t, args...)
		if code != ExitOK || !strings.HasPrefix(out, "isolategpt ") || !strings.Contains(out, "go1.") {
			t.Errorf("%v: exit %d %q", args, code, out)
		}
	}
}

// The completion scripts name every command and its flags; bash's
// completes a partial command and a partial flag.
func TestCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		code, out, _ := capture(t, "completion", sh)
		if code != ExitOK || !strings.Contains(out, "isolategpt") || !strings.Contains(out, "revoke") {
			t.Errorf("completion %s: exit %d\n%s", sh, code, out)
		}
	}
	if code, _, errs := capture(t, "completion", "tcsh"); code != ExitUsage || !strings.Contains(errs, `unknown shell "tcsh"`) {
		t.Errorf("completion tcsh: %d %q", code, errs)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	_, script, _ := capture(t, "completion", "bash")
	for line, want := range map[string]string{
		"isolategpt as":                 "ask",
		"isolategpt apps in":            "install",
		"isolategpt ask --y":            "--yes",
		"isolategpt apps install --y":   "--yes",
		"isolategpt grants r":           "revoke",
		"isolategpt audit --fo":         "--follow",
		"isolategpt eval attacks --sce": "--scenario",
	} {
		words := strings.Fields(line)
		cmd := exec.Command(bash, "-c", script+`
COMP_WORDS=(`+line+`); COMP_CWORD=`+string(rune('0'+len(words)-1))+`; _isolategpt; printf '%s\n' "${COMPREPLY[@]}"`)
		out, err := cmd.CombinedOutput()
		if err != nil || !slices.Contains(strings.Fields(string(out)), want) {
			t.Errorf("%q completes to %q, want %q (%v)", line, out, want, err)
		}
	}
}

// ask --json and a batch line are the same document: the same field
// names, durations in milliseconds.
func TestAskJSONIsABatchLine(t *testing.T) {
	data := t.TempDir()
	r := command(Ask, "", "--data", data, "--yes", "--json", fareAB)
	var ask map[string]any
	if err := json.Unmarshal([]byte(r.out), &ask); err != nil {
		t.Fatalf("%v: %v", r, err)
	}
	in := `{"id": "1", "query": "Use metro_hail to estimate the fare from \"A\" to \"B\""}` + "\n"
	b := command(Batch, in, "--data", data, "--policy", writePolicy(t, allowRides))
	var line map[string]any
	if err := json.Unmarshal([]byte(b.out), &line); err != nil {
		t.Fatalf("%v: %v", b, err)
	}
	for _, k := range []string{"status", "answer", "model", "plan", "steps", "permissions", "llm", "duration_ms", "query_id"} {
		if _, ok := ask[k]; !ok {
			t.Errorf("ask --json lacks %q: %v", k, keys(ask))
		}
		if _, ok := line[k]; !ok {
			t.Errorf("the batch line lacks %q: %v", k, keys(line))
		}
	}
	for _, doc := range []map[string]any{ask, line} {
		step := doc["steps"].([]any)[0].(map[string]any)
		if _, ok := step["duration_ms"]; !ok || step["duration_ns"] != nil || doc["duration_ns"] != nil {
			t.Errorf("durations not in milliseconds: %v", doc)
		}
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// --timeout 0 is no limit.
func TestTimeoutZero(t *testing.T) {
	if r := command(Ask, "", "--data", t.TempDir(), "--yes", "--timeout", "0", fareAB); r.code != ExitOK {
		t.Errorf("%v", r)
	}
}

// Batch on a terminal says it reads stdin, and what to type.
func TestBatchOnATerminalSaysSo(t *testing.T) {
	var out, errb strings.Builder
	stdio := IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(string) string { return "" }, InTTY: true}
	if code := Batch([]string{"--data", t.TempDir(), "--policy", writePolicy(t, allowRides)}, stdio); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "reading queries from the terminal, one JSON line each") {
		t.Errorf("stderr: %s", errb.String())
	}
}
