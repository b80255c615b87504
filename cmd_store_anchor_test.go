package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// copyOwned copies src to dst with src's owner, so that a folder of
// nobody's stays nobody's when the test (root) copies into it.
func copyOwned(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, st.Mode().Perm())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.Close()
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		os.Chown(dst, int(sys.Uid), int(sys.Gid))
	}
}

// TestStoreBehindItsAnchor: the store's files put back from an older copy
// (its ANCHOR left as it was) read as whole to Badger. Every command that
// opens the store must see it behind its anchor: exit 6 naming the files
// and the restore command, and not one byte of the folder changed — the
// reads, the check, and the writes (ask, batch) refused. Then a restore
// brings the store back.
func TestStoreBehindItsAnchor(t *testing.T) {
	for _, asUser := range []bool{false, true} {
		t.Run(map[bool]string{false: "as invoking user", true: "as nobody"}[asUser], func(t *testing.T) {
			data, run := storeRunner(t, asUser)
			code := func(p *proc) int { return p.cmd.ProcessState.ExitCode() }
			if p := run("ask", "--yes", rideQuery); code(p) != ExitOK {
				t.Fatalf("ask: %v", p)
			}
			backup := filepath.Join(data, "backup.bin")
			if p := run("store", "backup", backup); code(p) != ExitOK {
				t.Fatalf("backup: %v", p)
			}
			whole := run("audit").out.String()
			dir := filepath.Join(data, "store")
			old := filepath.Join(data, "old")
			os.Mkdir(old, 0o700)
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if n := e.Name(); n != "LOCK" && n != "ANCHOR" {
					copyOwned(t, filepath.Join(dir, n), filepath.Join(old, n))
				}
			}
			if p := run("ask", "--yes", rideQuery); code(p) != ExitOK {
				t.Fatalf("second ask: %v", p)
			}
			// The older copy back in place, beside today's anchor.
			ents, _ = os.ReadDir(dir)
			for _, e := range ents {
				if n := e.Name(); n != "LOCK" && n != "ANCHOR" {
					os.Remove(filepath.Join(dir, n))
				}
			}
			ents, _ = os.ReadDir(old)
			for _, e := range ents {
				copyOwned(t, filepath.Join(old, e.Name()), filepath.Join(dir, e.Name()))
			}
			policy := filepath.Join(data, "policy.json")
			os.WriteFile(policy, []byte(`{"default": "allow_once"}`), 0o644)

			before := storeSums(t, data)
			for _, args := range [][]string{
				{"audit"}, {"audit", "--json"}, {"audit", "verify"}, {"audit", "head"}, {"store", "check"},
				{"grants", "list"}, {"apps", "list"}, {"ask", "--yes", rideQuery},
			} {
				p := run(args...)
				all := p.out.String() + p.err.String()
				if code(p) != ExitStore || !strings.Contains(all, "MANIFEST") || !strings.Contains(all, "store restore") {
					t.Errorf("%v on a store behind its anchor: %v", args, p)
				}
				if after := storeSums(t, data); after != before {
					t.Fatalf("%v changed the store:\n%s\n%s", args, before, after)
				}
			}
			base, exe, cred := filepath.Dir(data), os.Args[0], (*syscall.Credential)(nil)
			if asUser {
				exe, cred = filepath.Join(base, "isolategpt.test"), &syscall.Credential{Uid: 65534, Gid: 65534}
			}
			p := startWith(t, procOptions{exe: exe, cred: cred, env: []string{"HOME=" + base, "PATH=/usr/bin:/bin"},
				stdin: `{"id":"1","query":"` + strings.ReplaceAll(rideQuery, `"`, `\"`) + `"}` + "\n"},
				"batch", "--policy", policy, "--data", data, "--allow-weaker-sandbox")
			p.wait(t)
			if code(p) != ExitStore {
				t.Errorf("batch on a store behind its anchor: %v", p)
			}
			if after := storeSums(t, data); after != before {
				t.Fatalf("batch changed the store:\n%s\n%s", before, after)
			}

			if p := run("store", "restore", backup, "--replace"); code(p) != ExitOK {
				t.Fatalf("restore --replace: %v", p)
			}
			if p := run("audit"); code(p) != ExitOK || p.out.String() != whole {
				t.Fatalf("audit after restore:\n%v\nwant:\n%s", p, whole)
			}
			if p := run("ask", "--yes", rideQuery); code(p) != ExitOK {
				t.Fatalf("ask after restore: %v", p)
			}
		})
	}
}

// TestRefusedBatchLeavesTheStore: a batch whose policy file is missing or
// malformed is refused (exit 2) before the store is opened, so no byte of
// the store changes. A policy refused only after the open (one naming an
// app that is not installed) shows that the open itself changes the files:
// without the early check, the refused batches would too.
func TestRefusedBatchLeavesTheStore(t *testing.T) {
	for _, asUser := range []bool{false, true} {
		t.Run(map[bool]string{false: "as invoking user", true: "as nobody"}[asUser], func(t *testing.T) {
			data, run := storeRunner(t, asUser)
			code := func(p *proc) int { return p.cmd.ProcessState.ExitCode() }
			if p := run("ask", "--yes", rideQuery); code(p) != ExitOK {
				t.Fatalf("ask: %v", p)
			}
			write := func(name, text string) string {
				path := filepath.Join(data, name)
				if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				return path
			}
			before := storeSums(t, data)
			for _, policy := range []string{
				filepath.Join(data, "no-such-policy.json"),
				write("dup.json", `{"default": "deny", "default": "allow_once"}`),
				write("trailing.json", `{"default": "deny"} {}`),
				write("kind.json", `{"rules": [{"kind": "everything", "decision": "allow_once"}]}`),
			} {
				p := run("batch", "--policy", policy)
				if code(p) != ExitUsage || !strings.Contains(p.err.String(), "policy") {
					t.Errorf("batch --policy %s: %v", filepath.Base(policy), p)
				}
				if after := storeSums(t, data); after != before {
					t.Fatalf("a batch refused for %s changed the store:\n%s\n%s", filepath.Base(policy), before, after)
				}
			}
			p := run("batch", "--policy", write("app.json", `{"rules": [{"app": "no_such_app", "decision": "allow_once"}]}`))
			if code(p) != ExitUsage || !strings.Contains(p.err.String(), "no_such_app") {
				t.Fatalf("batch with an unknown app in its policy: %v", p)
			}
			if after := storeSums(t, data); after == before {
				t.Fatal("a read-write open left every store file as it was: this test cannot tell an early refusal from a late one")
			}
		})
	}
}
