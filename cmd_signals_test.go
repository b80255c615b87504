package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/batch"
	"github.com/isolategpt/isolategpt/engine/store"
)

// asUsers runs f as the user the tests run as and, when that is root, as
// an ordinary user (nobody) too: the binary and a data folder that user
// may use, and how to start the binary as them.
func asUsers(t *testing.T, f func(t *testing.T, data string, run func(o procOptions, args ...string) *proc)) {
	users := []string{"self"}
	if os.Geteuid() == 0 {
		users = append(users, "nobody")
	}
	for _, u := range users {
		t.Run(u, func(t *testing.T) {
			base, exe, data, cred := testUserFolder(t, u == "nobody")
			f(t, data, func(o procOptions, args ...string) *proc {
				o.exe, o.cred = exe, cred
				// o.env adds to the user's own environment.
				o.env = append([]string{"HOME=" + base, "PATH=/usr/bin:/bin"}, o.env...)
				if cred != nil {
					// An ordinary user makes no cgroup on a cgroup v1
					// host: its apps start only with a weaker sandbox.
					o.env = append(o.env, "ISOLATEGPT_ALLOW_WEAKER_SANDBOX=1")
				}
				if o.dir == "" {
					o.dir = base
				}
				return startWith(t, o, args...)
			})
		})
	}
}

// auditOf reads the data folder's audit log through the audit command,
// which opens the store: it must have been closed.
func auditOf(t *testing.T, run func(o procOptions, args ...string) *proc, data string) []store.AuditRecord {
	t.Helper()
	p := run(procOptions{}, "audit", "--json", "--data", data)
	if code := p.wait(t); code != ExitOK {
		t.Fatalf("audit after the signal: %v", p)
	}
	var recs []store.AuditRecord
	for _, l := range strings.Split(strings.TrimSpace(p.out.String()), "\n") {
		var r store.AuditRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// exitedBy checks the process ended by exiting with code, not killed by
// the signal it was sent.
func exitedBy(t *testing.T, p *proc, code int) {
	t.Helper()
	if c := p.wait(t); c != code || !p.cmd.ProcessState.Exited() {
		t.Fatalf("want exit %d (not killed), got %v (%v)", code, p, p.cmd.ProcessState)
	}
}

// Ctrl+C at an ask's prompt denies it, audits the denial, prints the
// answer, closes the session and exits 5.
func TestSignalAtAskPrompt(t *testing.T) {
	asUsers(t, func(t *testing.T, data string, run func(o procOptions, args ...string) *proc) {
		a := run(procOptions{stdin: "pipe"}, "ask", "--data", data, rideQuery)
		waitFor(t, "the prompt", a.err.String, "(Enter = deny): ")
		if err := a.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		exitedBy(t, a, ExitInterrupted)
		for _, want := range []string{"(interrupted: denied)", "isolategpt ask: interrupted:"} {
			if !strings.Contains(a.err.String(), want) {
				t.Errorf("stderr lacks %q:\n%s", want, a.err)
			}
		}
		// The answer is printed: both estimates denied (the second prompt
		// denied without being asked), nothing booked.
		out := a.out.String()
		if !strings.Contains(out, "metro_hail.estimate_fare: denied") || !strings.Contains(out, "quick_ride.estimate_fare: denied") || strings.Contains(out, "booking_id") {
			t.Errorf("answer:\n%s", out)
		}
		denied, closed := deniedAndClosed(t, auditOf(t, run, data))
		if denied != 2 || closed != 1 {
			t.Errorf("audit: %d permissions denied, %d sessions closed; want 2 and 1", denied, closed)
		}
	})
}

// SIGTERM while batch waits for its next line: the lines done are
// written, the summary says it was interrupted, the session is closed,
// the store closed, exit 5. A second signal while it shuts down changes
// nothing of that.
func TestSignalBatch(t *testing.T) {
	for _, signals := range []int{1, 2} {
		t.Run(map[int]string{1: "one signal", 2: "two signals"}[signals], func(t *testing.T) {
			asUsers(t, func(t *testing.T, data string, run func(o procOptions, args ...string) *proc) {
				if err := os.WriteFile(filepath.Join(data, "policy.json"), []byte(allowRides), 0o644); err != nil {
					t.Fatal(err)
				}
				b := run(procOptions{stdin: "pipe", dir: data}, "batch", "--data", data, "--policy", "policy.json")
				if _, err := b.stdin.Write([]byte(`{"id": "1", "query": "` + strings.ReplaceAll(fareAB, `"`, `\"`) + `"}` + "\n")); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "the first line's result", b.out.String, "\n")
				for range signals {
					if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
						t.Fatal(err)
					}
				}
				exitedBy(t, b, ExitInterrupted)
				var o batch.Output
				if err := json.Unmarshal([]byte(b.out.String()), &o); err != nil || o.Status != msg.Done || o.ID != "1" {
					t.Errorf("first line: %+v %v\n%s", o, err, b.out)
				}
				if want := "batch: 1 lines: 1 done, 0 partial, 0 denied, 0 failed, 0 interrupted; interrupted, the rest of the input was not read"; !strings.Contains(b.err.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, b.err)
				}
				closed := 0
				for _, r := range auditOf(t, run, data) {
					if r.Kind == "session" && r.Outcome == "closed" {
						closed++
					}
				}
				if closed != 1 {
					t.Errorf("%d sessions closed in the audit log, want 1", closed)
				}
			})
		})
	}
}

// ask --json and a batch line carry the same fields, durations as
// duration_ms, and the same status for the same work.
func TestAskJSONMatchesBatchLine(t *testing.T) {
	keys := func(b []byte) (map[string]any, []string) {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%v:\n%s", err, b)
		}
		var ks []string
		for k := range m {
			if k != "line" && k != "id" && k != "user" {
				ks = append(ks, k)
			}
		}
		slices.Sort(ks)
		return m, ks
	}
	for _, tt := range []struct {
		query, status string
		code          int
	}{
		{fareAB, "done", ExitOK},
		{"hello there", "failed", ExitFailed},
	} {
		a := command(Ask, "", "--data", t.TempDir(), "--yes", "--json", tt.query)
		b := command(Batch, `{"id": "1", "query": `+strconv.Quote(tt.query)+`}`+"\n", "--data", t.TempDir(), "--policy", writePolicy(t, allowRides))
		am, ak := keys([]byte(a.out))
		bm, bk := keys([]byte(b.out))
		if !slices.Equal(ak, bk) || !slices.Contains(ak, "duration_ms") {
			t.Errorf("%s: ask --json keys %v, batch line keys %v", tt.query, ak, bk)
		}
		if am["status"] != tt.status || bm["status"] != tt.status || a.code != tt.code || b.code != tt.code {
			t.Errorf("%s: ask %v exit %d, batch %v exit %d; want %s, exit %d", tt.query, am["status"], a.code, bm["status"], b.code, tt.status, tt.code)
		}
	}
}

// deniedAndClosed counts the permissions denied and the sessions closed
// in an audit log, and fails the test on a permission not denied.
func deniedAndClosed(t *testing.T, recs []store.AuditRecord) (denied, closed int) {
	t.Helper()
	for _, r := range recs {
		switch {
		case r.Kind == "permission" && r.Outcome == string(msg.Deny):
			denied++
		case r.Kind == "permission":
			t.Errorf("a permission not denied: %+v", r)
		case r.Kind == "session" && r.Outcome == "closed":
			closed++
		}
	}
	return denied, closed
}
