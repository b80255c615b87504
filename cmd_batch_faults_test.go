package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/batch"
	"github.com/isolategpt/isolategpt/engine/store"
)

// TestBatchSummaryNamesEarlierInterruptions: a mail.send started by an
// earlier run that died before its outcome is named by the next batch's
// summary ("interrupted, outcome unknown", not retried), as audit and the
// TUI name it; the batch itself runs, and nothing sends the mail again.
func TestBatchSummaryNamesEarlierInterruptions(t *testing.T) {
	data := t.TempDir()
	st, err := store.Open(filepath.Join(data, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AuditIntent(store.AuditRecord{User: "alice", QueryID: "q-cut", Kind: "step", App: "mail", Function: "send"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	in := `{"id":"1","query":"` + strings.ReplaceAll(rideQuery, `"`, `\"`) + `"}` + "\n"
	r := command(Batch, in, "--data", data, "--user", "alice", "--policy", writePolicy(t, allowRides))
	if r.code != ExitOK {
		t.Fatalf("batch: %v", r)
	}
	for _, want := range []string{"1 write step(s) of an earlier run found interrupted, outcome unknown, not retried", "interrupted, outcome unknown", "mail.send started as #1 query=q-cut"} {
		if !strings.Contains(r.err, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.err)
		}
	}
	if strings.Contains(r.out, "mail") {
		t.Errorf("the interrupted send was retried:\n%s", r.out)
	}
	// Named once: the next batch finds nothing new.
	r = command(Batch, in, "--data", data, "--user", "alice", "--policy", writePolicy(t, allowRides))
	if r.code != ExitOK || strings.Contains(r.err, "earlier run") {
		t.Errorf("second batch: %v", r)
	}
}

// TestBatchOnAFullDisk runs a batch on a real small filesystem (a tmpfs,
// as root) that fills up between its lines and empties again: the line
// the full disk refused is not done, names the full disk, and is counted;
// the lines before and after are done; the exit code is the store's (6),
// not 1 as when only the store's state at the end was asked (space back).
func TestBatchOnAFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: mounting a small tmpfs needs root; engine/auditfault_test.go covers the logic")
	}
	fsDir := t.TempDir()
	if err := syscall.Mount("tmpfs", fsDir, "tmpfs", 0, "size=96m,mode=0700"); err != nil {
		t.Skipf("skipped: cannot mount a tmpfs here (%v)", err)
	}
	t.Cleanup(func() { syscall.Unmount(fsDir, syscall.MNT_DETACH) })
	data := filepath.Join(fsDir, "data")
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Batch([]string{"--data", data, "--min-free", "32", "--policy", writePolicy(t, allowRides)},
			IO{In: inR, Out: outW, Err: &errb, Getenv: func(string) string { return "" }})
		outW.Close()
	}()
	lines := bufio.NewScanner(outR)
	ask := func(id string) batch.Output {
		t.Helper()
		fmt.Fprintf(inW, `{"id":%q,"query":%q}`+"\n", id, fareAB)
		if !lines.Scan() {
			t.Fatalf("no result for line %s: %v\n%s", id, lines.Err(), errb.String())
		}
		var o batch.Output
		if err := json.Unmarshal(lines.Bytes(), &o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	if o := ask("1"); o.Status != msg.Done {
		t.Fatalf("line 1 on a disk with room: %+v", o)
	}
	// Fill the disk to 8 MiB free: below the store's 32.
	var st syscall.Statfs_t
	if err := syscall.Statfs(fsDir, &st); err != nil {
		t.Fatal(err)
	}
	ballast := filepath.Join(fsDir, "ballast")
	if err := os.WriteFile(ballast, make([]byte, int64(st.Bavail)*st.Bsize-8<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if o := ask("2"); o.Status == msg.Done || !strings.Contains(o.Error, "disk full") {
		t.Fatalf("line 2 on a full disk: %+v", o)
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	if o := ask("3"); o.Status != msg.Done {
		t.Fatalf("line 3, space back: %+v", o)
	}
	inW.Close()
	if code := <-done; code != ExitStore {
		t.Fatalf("exit %d, want %d\n%s", code, ExitStore, errb.String())
	}
	if want := "1 stopped by the store"; !strings.Contains(errb.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, errb.String())
	}
}
