package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// storeSums is every file of the data folder's store with its SHA-256.
func storeSums(t *testing.T, data string) string {
	t.Helper()
	dir := filepath.Join(data, "store")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range ents {
		if e.Name() == "LOCK" {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %x\n", e.Name(), sha256.Sum256(raw))
	}
	return b.String()
}

// storeRunner runs isolategpt as root or, with asUser, as nobody (when the
// tests run as root), on a data folder of its own, its apps in whatever
// sandbox the host gives that user (nobody cannot make cgroups on a
// cgroup v1 host): the sandbox is not what these tests are about.
func storeRunner(t *testing.T, asUser bool) (data string, run func(args ...string) *proc) {
	t.Helper()
	if asUser && os.Geteuid() != 0 {
		t.Skip("skipped: the tests already run as an ordinary user")
	}
	base, exe, data, cred := testUserFolder(t, asUser)
	return data, func(args ...string) *proc {
		p := startWith(t, procOptions{exe: exe, cred: cred, env: []string{"HOME=" + base, "PATH=/usr/bin:/bin"}}, append(args, "--data", data, "--allow-weaker-sandbox")...)
		p.wait(t)
		return p
	}
}

func TestStoreCommands(t *testing.T) {
	for _, asUser := range []bool{false, true} {
		t.Run(map[bool]string{false: "as invoking user", true: "as nobody"}[asUser], func(t *testing.T) {
			data, run := storeRunner(t, asUser)
			code := func(p *proc) int { return p.cmd.ProcessState.ExitCode() }
			if p := run("ask", "--yes", rideQuery); code(p) != ExitOK {
				t.Fatalf("ask: %v", p)
			}
			if p := run("store", "check"); code(p) != ExitOK || !strings.Contains(p.out.String(), "is whole") {
				t.Fatalf("check of a whole store: %v", p)
			}
			backup := filepath.Join(data, "backup.bin")
			if p := run("store", "backup", backup); code(p) != ExitOK {
				t.Fatalf("backup: %v", p)
			}
			whole := run("audit").out.String()
			if strings.Count(whole, "\n") < 3 {
				t.Fatalf("audit of the first ask: %q", whole)
			}

			// Half a MANIFEST: every command that opens the store says so
			// and names the file, with exit 6, and the store stays as it is.
			manifest := filepath.Join(data, "store", "MANIFEST")
			st, err := os.Stat(manifest)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(manifest, st.Size()/2); err != nil {
				t.Fatal(err)
			}
			before := storeSums(t, data)
			for _, args := range [][]string{{"audit"}, {"grants", "list"}, {"ask", "--yes", rideQuery}, {"store", "check"}, {"store", "backup", filepath.Join(data, "b2")}} {
				p := run(args...)
				all := p.out.String() + p.err.String()
				if code(p) != ExitStore || !strings.Contains(all, "MANIFEST") || !strings.Contains(all, "isolategpt store restore") {
					t.Errorf("on a damaged store: %v", p)
				}
			}
			if after := storeSums(t, data); after != before {
				t.Fatalf("the damaged store changed:\n%s\n%s", before, after)
			}

			if p := run("store", "restore", backup); code(p) == ExitOK {
				t.Fatalf("restore over a store without --replace: %v", p)
			}
			p := run("store", "restore", backup, "--replace")
			if code(p) != ExitOK || !strings.Contains(p.out.String(), "store.replaced-") {
				t.Fatalf("restore --replace: %v", p)
			}
			if p := run("audit"); code(p) != ExitOK || p.out.String() != whole {
				t.Fatalf("audit after restore differs:\n%v\nwant:\n%s", p, whole)
			}
			if p := run("store", "check"); code(p) != ExitOK {
				t.Fatalf("check after restore: %v", p)
			}

			// A disk with less free space than --min-free: the store is
			// not opened for writing, exit 6, and nothing is asked.
			p = run("ask", "--yes", "--min-free", "1000000000", rideQuery)
			if code(p) != ExitStore || !strings.Contains(p.err.String(), "disk full") {
				t.Fatalf("ask on a 'full' disk: %v", p)
			}
		})
	}
}
