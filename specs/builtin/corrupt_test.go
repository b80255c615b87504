package builtin

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/isolategpt/isolategpt/specs/jsonlog"
)

// cuts are the offsets a test cuts data at: every newline and the bytes
// either side of it, and a spread of others (each start syncs files: all
// offsets would take minutes).
func cuts(data []byte) []int {
	seen := map[int]bool{}
	var out []int
	add := func(i int) {
		if i >= 0 && i <= len(data) && !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	for i := 0; i <= len(data); i += 37 {
		add(i)
	}
	for i, b := range data {
		if b == '\n' {
			add(i - 1)
			add(i)
			add(i + 1)
		}
	}
	add(len(data))
	return out
}

// copyDir copies the regular files of src into a new temporary folder.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// A ledger cut at any byte (a crash, a short write) keeps exactly the
// bookings whose lines are whole; the next booking is whole too.
func TestLedgerCutAnywhere(t *testing.T) {
	base := t.TempDir()
	fn := bookingFunction["health_companion"]
	app := start(t, "health_companion", base)
	for range 3 {
		call(t, app, fn, sampleArgs[fn])
	}
	full, err := os.ReadFile(filepath.Join(base, "appointments.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range cuts(full) {
		dir := copyDir(t, base)
		p := filepath.Join(dir, "appointments.jsonl")
		if err := os.WriteFile(p, full[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		whole := bytes.Count(full[:cut], []byte("\n"))
		call(t, start(t, "health_companion", dir), fn, sampleArgs[fn])
		if recs := readLedger(t, p); len(recs) != whole+1 {
			t.Fatalf("cut at %d: %d records, want the %d whole ones and the new one", cut, len(recs), whole)
		}
	}
}

// mailbox.json cut anywhere short of its last newline never starts mail
// on part of a mailbox: it is refused.
func TestMailboxCutAnywhereIsRefused(t *testing.T) {
	full, err := seed.ReadFile("seed/mailbox.json")
	if err != nil {
		t.Fatal(err)
	}
	trimmed := bytes.TrimRight(full, "\n")
	dir := t.TempDir()
	p := filepath.Join(dir, mailboxFile)
	for cut := 0; cut < len(trimmed); cut += 11 { // each start compiles the manifest: every byte takes a minute
		if err := os.WriteFile(p, full[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := newMail(dir); err == nil {
			t.Fatalf("mail started on the first %d of %d bytes of its mailbox", cut, len(full))
		}
	}
}

// The journal cut at any byte keeps exactly the changes whose lines are
// whole; garbage written over a line in the middle is refused.
func TestMailJournalCutOrOverwritten(t *testing.T) {
	base := t.TempDir()
	app := startMail(t, base)
	app.foldBytes = 1 << 30
	for i := range 3 {
		call(t, app, "send", map[string]any{"to": "a@example.com", "subject": fmt.Sprint("s", i), "message": "m"})
	}
	full, err := os.ReadFile(filepath.Join(base, journalFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range cuts(full) {
		dir := copyDir(t, base)
		if err := os.WriteFile(filepath.Join(dir, journalFile), full[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		whole := bytes.Count(full[:cut], []byte("\n"))
		got := call(t, startMail(t, dir), "search", map[string]any{"folder": "sent", "max_results": 50})["count"]
		if got != float64(1+whole) { // the seed's own sent message, and the whole changes
			t.Fatalf("cut at %d: %v sent messages, want %d", cut, got, 1+whole)
		}
	}
	first := bytes.IndexByte(full, '\n')
	for at := 0; at < first; at += 41 {
		dir := copyDir(t, base)
		bad := bytes.Clone(full)
		copy(bad[at:], "\x00garbage")
		os.WriteFile(filepath.Join(dir, journalFile), bad, 0o600)
		if _, err := newMail(dir); !errors.Is(err, jsonlog.ErrDamaged) {
			t.Fatalf("garbage at byte %d of the first change: %v, want it refused as damaged", at, err)
		}
	}
}
