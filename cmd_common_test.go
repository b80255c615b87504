package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/batch"
	"github.com/isolategpt/isolategpt/engine/store"
)

const rideQuery = `Use metro_hail and quick_ride to book the cheapest ride from "Main Street" to "Elm Avenue"`

// run is one command line: its exit code and what it printed.
type cmdRun struct {
	code     int
	out, err string
}

func (r cmdRun) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
}

func command(cmd func([]string, IO) int, in string, args ...string) cmdRun {
	var out, errb bytes.Buffer
	stdio := IO{In: strings.NewReader(in), Out: &out, Err: &errb, Getenv: func(string) string { return "" }}
	code := cmd(args, stdio)
	return cmdRun{code: code, out: out.String(), err: errb.String()}
}

func TestAskYes(t *testing.T) {
	data := t.TempDir()
	r := command(Ask, "", "--data", data, "--yes", rideQuery)
	if r.code != ExitOK {
		t.Fatalf("%v", r)
	}
	for _, want := range []string{"metro_hail fare: 51.8", "quick_ride fare: 57", `Lowest fare: 51.8 from "metro_hail"`, `booking_id "MH-`, "offline model"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.out)
		}
	}
	for _, want := range []string{"allowed once (--yes): Run metro_hail.estimate_fare", "allowed once (--yes): Run quick_ride.estimate_fare", "allowed once (--yes): Run metro_hail.book_ride"} {
		if !strings.Contains(r.err, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.err)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "isolategpt.log")); err != nil {
		t.Errorf("no log in the data folder: %v", err)
	}
}

func TestAskJSON(t *testing.T) {
	r := command(Ask, "", "--data", t.TempDir(), "--yes", "--json", rideQuery)
	if r.code != ExitOK {
		t.Fatalf("%v", r)
	}
	var a batch.Output
	if err := json.Unmarshal([]byte(r.out), &a); err != nil {
		t.Fatalf("stdout is not one JSON answer: %v\n%s", err, r.out)
	}
	if a.Status != msg.Done || !strings.Contains(a.Answer, "quick_ride fare: 57") || len(a.Steps) != 4 || len(a.Permissions) != 3 {
		t.Errorf("answer %+v, want the offline ride answer with 4 steps and 3 permissions", a)
	}
}

func TestAskUsageErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-folder")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr []string
	}{
		{"no query", []string{"--data", t.TempDir()}, []string{"missing QUERY", "isolategpt ask -h"}},
		{"blank query", []string{"--data", t.TempDir(), "  "}, []string{"empty query"}},
		{"data is a regular file", []string{"--data", file, "--yes", "hi"}, []string{"data folder", file}},
		{"unknown flag", []string{"--data", t.TempDir(), "--nope", "hi"}, []string{"unknown flag --nope"}},
		{"flag without its value", []string{"hi", "--data"}, []string{"flag --data needs a value"}},
		{"bad duration", []string{"--timeout", "soon", "hi"}, []string{`invalid value "soon" for flag --timeout`}},
		{"negative timeout", []string{"--data", t.TempDir(), "--timeout", "-1s", "hi"}, []string{"--timeout -1s: want a duration of 0 (no limit) or more"}},
		{"bad arch", []string{"--data", t.TempDir(), "--arch", "both", "hi"}, []string{`--arch "both"`}},
		{"unknown model", []string{"--data", t.TempDir(), "--llm", "bogus:x", "hi"}, []string{"isolategpt ask:"}},
		{"bad user", []string{"--data", t.TempDir(), "--user", "../root", "--yes", "hi"}, []string{"isolategpt ask:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := command(Ask, "", tt.args...)
			if r.code != ExitUsage {
				t.Fatalf("want exit %d, got %v", ExitUsage, r)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(r.err, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.err)
				}
			}
			if r.out != "" {
				t.Errorf("stdout %q, want nothing", r.out)
			}
		})
	}
}

func TestAskAsksOnTheTerminal(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		wantOut    []string
		notOut     []string
		wantPrompt []string
		wantCode   int
		wantStatus string
	}{
		{
			name:       "allowed from input",
			in:         "o\no\no\n",
			wantOut:    []string{"metro_hail fare: 51.8", "quick_ride fare: 57", `booking_id "MH-`},
			wantPrompt: []string{"── permission (exec) ──", "Run metro_hail.book_ride", "[o] allow once  [s] allow session  [d] deny"},
			wantCode:   ExitOK,
		},
		{
			name:       "end of input denies",
			in:         "",
			wantOut:    []string{"metro_hail.estimate_fare: denied", "quick_ride.estimate_fare: denied"},
			notOut:     []string{"51.8", `booking_id "MH-`},
			wantPrompt: []string{"(end of input: denied)"},
			wantCode:   ExitDenied,
			wantStatus: "isolategpt ask: denied: nothing was done: a flow was refused (exit 4)",
		},
		{
			name:       "an answer that is no choice asks again",
			in:         "yes\no\n1\no\n\n",
			wantOut:    []string{"metro_hail fare: 51.8", "quick_ride fare: 57", "metro_hail.book_ride: denied"},
			notOut:     []string{`booking_id "MH-`},
			wantPrompt: []string{`"yes" is not one of the choices here`, `"1" is not one of the choices here`, "(denied)"},
			wantCode:   ExitPartial,
			wantStatus: "isolategpt ask: partial: some of the steps were done, others were not (exit 3)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := command(Ask, tt.in, "--data", t.TempDir(), rideQuery)
			// A query answered with denied steps is still answered, and
			// its exit code says how much of it was done.
			if r.code != tt.wantCode || !strings.Contains(r.err, tt.wantStatus) {
				t.Fatalf("want exit %d and %q, got %v", tt.wantCode, tt.wantStatus, r)
			}
			if tt.wantCode == ExitOK && strings.Contains(r.err, "isolategpt ask:") {
				t.Errorf("a query done says more than its answer:\n%s", r.err)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(r.out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.out)
				}
			}
			for _, w := range tt.notOut {
				if strings.Contains(r.out, w) {
					t.Errorf("stdout has %q:\n%s", w, r.out)
				}
			}
			for _, w := range tt.wantPrompt {
				if !strings.Contains(r.err, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.err)
				}
			}
		})
	}
}

func TestAuditAfterAsk(t *testing.T) {
	data := t.TempDir()
	if r := command(Ask, "", "--data", data, "--yes", rideQuery); r.code != ExitOK {
		t.Fatalf("ask: %v", r)
	}

	r := command(Audit, "", "--data", data, "--json")
	if r.code != ExitOK {
		t.Fatalf("audit --json: %v", r)
	}
	kinds := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(r.out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec store.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("audit line is not a record: %v\n%s", err, sc.Text())
		}
		kinds[rec.Kind]++
	}
	for kind, atLeast := range map[string]int{"plan": 1, "step": 4, "permission": 3, "answer": 1} {
		if kinds[kind] < atLeast {
			t.Errorf("%d %s records, want at least %d (all: %v)", kinds[kind], kind, atLeast, kinds)
		}
	}

	r = command(Audit, "", "--data", data)
	if r.code != ExitOK {
		t.Fatalf("audit: %v", r)
	}
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if len(lines) != sum(kinds) || !strings.HasPrefix(lines[0], "#1 ") {
		t.Errorf("%d text lines for %d records, first %q", len(lines), sum(kinds), lines[0])
	}
	for _, want := range []string{"permission allow_once metro_hail.book_ride", "step       ok        metro_hail.book_ride"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("audit lacks %q:\n%s", want, r.out)
		}
	}

	// Another user has no records.
	r = command(Audit, "", "--data", data, "--user", "bob")
	if r.code != ExitOK || r.out != "" || !strings.Contains(r.err, `no audit records for user "bob"`) {
		t.Errorf("audit of another user: %v", r)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func TestAuditWithoutStore(t *testing.T) {
	data := t.TempDir()
	r := command(Audit, "", "--data", data)
	if r.code != ExitUsage || !strings.Contains(r.err, "no store in "+data) {
		t.Errorf("%v", r)
	}
	if entries, _ := os.ReadDir(data); len(entries) != 0 {
		t.Errorf("audit created %d entries in the folder", len(entries))
	}
}

func writePolicy(t *testing.T, policy string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(p, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const allowRides = `{"default": "deny", "rules": [
 {"kind": "exec", "app": "metro_hail", "decision": "allow_once"},
 {"kind": "exec", "app": "quick_ride", "decision": "allow_once"}]}`

func TestBatchUsageErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no policy", []string{"--data", t.TempDir()}, "--policy"},
		{"policy names an unknown app", []string{"--data", t.TempDir(), "--policy", writePolicy(t, `{"rules": [{"kind": "exec", "app": "evil_app", "decision": "allow_once"}]}`)}, `"evil_app"`},
		{"policy file missing", []string{"--data", t.TempDir(), "--policy", filepath.Join(t.TempDir(), "none.json")}, "none.json"},
		{"extra argument", []string{"--data", t.TempDir(), "--policy", writePolicy(t, allowRides), "query"}, `unexpected argument "query"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := command(Batch, `{"id": "1", "query": "hi"}`+"\n", tt.args...)
			if r.code != ExitUsage || !strings.Contains(r.err, tt.wantErr) {
				t.Errorf("want exit %d naming %s, got %v", ExitUsage, tt.wantErr, r)
			}
			if r.out != "" {
				t.Errorf("stdout %q, want nothing", r.out)
			}
		})
	}
}

func TestBatch(t *testing.T) {
	ride := `{"id": "ride", "query": "Use metro_hail and quick_ride to calculate the fares from \"Main Street\" to \"Elm Avenue\""}`
	tests := []struct {
		name       string
		in         string
		policy     string // allowRides when empty
		wantCode   int
		wantStatus []string
	}{
		{
			name:       "good input",
			in:         ride + "\n" + `{"id": "bob", "query": "Use metro_hail to estimate the fare from \"A\" to \"B\"", "user": "bob"}` + "\n",
			wantCode:   ExitOK,
			wantStatus: []string{"done", "done"},
		},
		{
			name:       "one malformed line",
			in:         ride + "\n" + `{"id": "broken", "query": ` + "\n" + `{"id": "ride2", "query": "Use metro_hail to estimate the fare from \"A\" to \"B\""}` + "\n",
			wantCode:   ExitFailed,
			wantStatus: []string{"done", "failed", "done"},
		},
		{
			name:       "nothing planned",
			in:         `{"id": "hello", "query": "hello there", "user": "bob"}` + "\n",
			wantCode:   ExitFailed,
			wantStatus: []string{"failed"},
		},
		{
			name:       "denied by the policy's default",
			in:         `{"id": "mail", "query": "Use mail to send an email to John Doe saying hi"}` + "\n",
			wantCode:   ExitDenied,
			wantStatus: []string{"denied"},
		},
		{
			name:       "partly denied",
			in:         ride + "\n",
			policy:     `{"rules": [{"kind": "exec", "app": "metro_hail", "decision": "allow_once"}]}`,
			wantCode:   ExitPartial,
			wantStatus: []string{"partial"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policy := tt.policy
			if policy == "" {
				policy = allowRides
			}
			r := command(Batch, tt.in, "--data", t.TempDir(), "--policy", writePolicy(t, policy))
			if r.code != tt.wantCode {
				t.Fatalf("want exit %d, got %v", tt.wantCode, r)
			}
			lines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
			if len(lines) != len(tt.wantStatus) {
				t.Fatalf("%d output lines, want %d:\n%s", len(lines), len(tt.wantStatus), r.out)
			}
			var statuses []string
			for i, l := range lines {
				var o batch.Output
				if err := json.Unmarshal([]byte(l), &o); err != nil {
					t.Fatalf("output line %d is not JSON: %v", i+1, err)
				}
				if o.Line != i+1 {
					t.Errorf("output line %d answers input line %d", i+1, o.Line)
				}
				if o.Status == msg.Done && o.ID == "ride" && (!strings.Contains(o.Answer, `metro_hail estimate fare: currency "USD", fare 51.8`) || !strings.Contains(o.Answer, "fare 57")) {
					t.Errorf("line %d answer lacks both fares:\n%s", i+1, o.Answer)
				}
				if o.ID == "broken" && !strings.Contains(o.Error, "malformed line") {
					t.Errorf("line %d error %q, want malformed line", i+1, o.Error)
				}
				statuses = append(statuses, string(o.Status))
			}
			if !slices.Equal(statuses, tt.wantStatus) {
				t.Errorf("statuses %v, want %v\n%s", statuses, tt.wantStatus, r.out)
			}
			count := map[string]int{}
			for _, s := range tt.wantStatus {
				count[s]++
			}
			summary := fmt.Sprintf("batch: %d lines: %d done, %d partial, %d denied, %d failed, 0 interrupted\n", len(tt.wantStatus), count["done"], count["partial"], count["denied"], count["failed"])
			if !strings.Contains(r.err, summary) {
				t.Errorf("stderr lacks %q:\n%s", summary, r.err)
			}
		})
	}
}

// The same answers mean the same thing on every run: prompts of steps
// that run at once come in plan order, so "o then d" always allows
// metro_hail's estimate and denies quick_ride's.
func TestAskPromptsInPlanOrder(t *testing.T) {
	for run := range 5 {
		r := command(Ask, "o\nd\n\n", "--data", t.TempDir(), rideQuery)
		if r.code != ExitPartial {
			t.Fatalf("run %d: %v", run+1, r)
		}
		m := strings.Index(r.err, "Run metro_hail.estimate_fare")
		q := strings.Index(r.err, "Run quick_ride.estimate_fare")
		if m < 0 || q < m {
			t.Fatalf("run %d: prompts out of plan order:\n%s", run+1, r.err)
		}
		if !strings.Contains(r.out, "[s1] metro_hail.estimate_fare: ok") || !strings.Contains(r.out, "[s2] quick_ride.estimate_fare: denied") {
			t.Fatalf("run %d: answers went to other prompts:\n%s", run+1, r.out)
		}
	}
}

// The issue's own reports, as a user would type them.
func TestAskNeverInvertsIntent(t *testing.T) {
	data := t.TempDir()
	r := command(Ask, "", "--data", data, "--yes", `do NOT book a metro_hail ride from "A" to "B"`)
	if strings.Contains(r.out, "booking_id") || strings.Contains(r.err, "allowed once") || !strings.Contains(r.out, "refused this query") {
		t.Errorf("a negated booking: %v", r)
	}
	r = command(Ask, "", "--data", data, "--yes", `cancel my metro_hail booking from "A" to "B"`)
	if strings.Contains(r.err, "book_ride") || !strings.Contains(r.out, "asks to cancel") {
		t.Errorf("a cancellation: %v", r)
	}
	// With an app named "files" installed, "list my files in drive" is
	// about drive only.
	if code, out, errs := runApps(t, data, "", "install", "--yes", appFile(t, testManifest)); code != ExitOK {
		t.Fatalf("install: %s %s", out, errs)
	}
	r = command(Ask, "", "--data", data, "--yes", "list my files in drive")
	if r.code != ExitOK || !strings.Contains(r.err, "Run drive.list") || strings.Contains(r.err, "files.") {
		t.Errorf("list my files in drive: %v", r)
	}
}

// The audit line view shows app-chosen text (a function name an app asked
// for, a reason) with everything that does not print as itself escaped.
func TestAuditLineEscapesAppText(t *testing.T) {
	line := AuditLine(store.AuditRecord{Seq: 1, Kind: "isc", Outcome: "failed", App: "ride_pal", Function: "mail.send\u2028[ok] hub\u202e",
		Detail: json.RawMessage(`{"reason": "bad\u2029line \u001b[2J"}`)})
	for _, bad := range []string{"\u2028", "\u2029", "\u202e", "\x1b"} {
		if strings.Contains(line, bad) {
			t.Errorf("audit line passes %q: %q", bad, line)
		}
	}
	if !strings.Contains(line, `\u2028`) {
		t.Errorf("audit line hides the separator instead of showing it: %q", line)
	}
}
