//go:build faults

package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// appCase corrupts one app data file and names the lines that read it.
type appCase struct {
	name    string
	file    string // under apps/default
	corrupt func(tr *trial, path string) error
	probe   func(tr *trial) string // batch input that reads or writes the file
	// repairable: a torn tail of an append-only ledger may be cut off and
	// the write done, as long as every complete line stays.
	repairable bool
	// prepare is batch input run before the corruption (a read: the mail
	// app's start folds its journal into mailbox.json).
	prepare string
}

const (
	mailboxFile  = "mail/mailbox.json"
	bookingsFile = "metro_hail/bookings.jsonl"
	journalFile  = "mail/mailbox.journal.jsonl"
	driveFiles   = "drive/files"
)

func mailProbe(tr *trial) string {
	return batchLine("R", "Find emails about budget") +
		batchLine("S", sendQuery(fmt.Sprintf("%sapp%d", prefix, tr.n), "after corruption"))
}

func bookingProbe(tr *trial) string {
	return batchLine("B", bookQuery(fmt.Sprintf("%sapps%d", prefix, tr.n), fmt.Sprintf("%sappe%d", prefix, tr.n)))
}

func driveProbe(*trial) string { return batchLine("D", "list my files in drive") }

func rewrite(path string, f func([]byte) []byte) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, f(data), st.Mode().Perm())
}

func junk(tr *trial, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(tr.rng.IntN(256))
	}
	return b
}

var appCases = []appCase{
	{name: "mailbox truncated", file: mailboxFile, probe: mailProbe, corrupt: func(tr *trial, p string) error {
		return rewrite(p, func(b []byte) []byte { return b[:tr.rng.IntN(len(b))] })
	}},
	{name: "mailbox garbage", file: mailboxFile, probe: mailProbe, corrupt: func(tr *trial, p string) error {
		return rewrite(p, func(b []byte) []byte {
			off := tr.rng.IntN(len(b))
			return append(append(b[:off:off], junk(tr, 64)...), b[min(len(b), off+64):]...)
		})
	}},
	{name: "mailbox duplicate key", file: mailboxFile, probe: mailProbe, corrupt: func(_ *trial, p string) error {
		return rewrite(p, func(b []byte) []byte { return []byte(strings.Replace(string(b), "{", `{"next_id": 1, `, 1)) })
	}},
	{name: "mailbox trailing object", file: mailboxFile, probe: mailProbe, corrupt: func(_ *trial, p string) error {
		return rewrite(p, func(b []byte) []byte { return append(b, "\n{}\n"...) })
	}},
	{name: "mailbox null", file: mailboxFile, probe: mailProbe, corrupt: func(_ *trial, p string) error {
		return rewrite(p, func([]byte) []byte { return []byte("null\n") })
	}},
	{name: "mailbox deleted", file: mailboxFile, probe: mailProbe, corrupt: func(_ *trial, p string) error { return os.Remove(p) }},
	{name: "mailbox deleted after a fold", file: mailboxFile, probe: mailProbe, corrupt: func(_ *trial, p string) error { return os.Remove(p) },
		prepare: batchLine("P", "Find emails about budget")},
	{name: "mail journal torn tail", file: journalFile, probe: mailProbe, repairable: true, corrupt: func(_ *trial, p string) error {
		return rewrite(p, func(b []byte) []byte { return append(b, `{"seq":99,"op":"add","mess`...) })
	}},
	{name: "mail journal garbage line", file: journalFile, probe: mailProbe, corrupt: func(tr *trial, p string) error {
		return rewrite(p, func(b []byte) []byte {
			ls := strings.SplitAfter(string(b), "\n")
			i := tr.rng.IntN(max(1, len(ls)-1))
			ls[i] = strings.Repeat("#", tr.rng.IntN(40)+1) + "\n"
			return []byte(strings.Join(ls, ""))
		})
	}},
	{name: "ledger torn tail", file: bookingsFile, probe: bookingProbe, repairable: true, corrupt: func(_ *trial, p string) error {
		return rewrite(p, func(b []byte) []byte { return append(b, `{"booking_id":"MH-torn","fare":`...) })
	}},
	{name: "ledger garbage line", file: bookingsFile, probe: bookingProbe, corrupt: func(tr *trial, p string) error {
		return rewrite(p, func(b []byte) []byte {
			ls := strings.SplitAfter(string(b), "\n")
			i := tr.rng.IntN(max(1, len(ls)-2))
			ls[i] = strings.Repeat("#", tr.rng.IntN(40)+1) + "\n"
			return []byte(strings.Join(ls, ""))
		})
	}},
	{name: "drive files a regular file", file: driveFiles, probe: driveProbe, corrupt: func(tr *trial, p string) error {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
		return os.WriteFile(p, junk(tr, 512), 0o600)
	}},
}

// appData corrupts app data files in a copy of a folder that holds work:
// the line that reads the file must fail with an error naming it, the
// batch must exit 1, and the file must be left as it was (never
// re-seeded or rewritten, which would lose what it held silently); a torn
// ledger tail may instead be cut off, keeping every complete line.
func (s *suite) appData(ctx context.Context) {
	const kind = "appdata"
	ms := modes()
	bases := map[string]*history{}
	order := s.caseOrder(kind, len(appCases))
	for n := 0; n < len(order) && (n < 1 || !ctxDone(ctx)); n++ {
		c := appCases[order[n]]
		m := ms[n%len(ms)]
		b, ok := bases[m.name]
		if !ok {
			b = s.appBase(m)
			bases[m.name] = b
		}
		tr := s.newTrial(kind, n+1, m)
		tr.what = c.name
		s.appCase(tr, b, c)
		tr.finish()
	}
}

// appBase is a folder where mail sent, metro_hail booked, drive saved and listed.
func (s *suite) appBase(m mode) *history {
	h := s.newHistory(m, "")
	tr := s.newTrial("appdata", 0, m)
	tr.what = "making a folder to corrupt"
	// Two batches: the mail app's second start folds the first one's
	// journal (if it keeps one) into mailbox.json, so the snapshot too
	// holds mail reported sent.
	r, _ := s.batch(tr, h, h.workload(6))
	if r.exit == 0 {
		r, _ = s.batch(tr, h, h.workload(2)+driveProbe(tr))
	}
	if r.exit != 0 {
		tr.fail("the batch that fills the folder: %v: %s", r, firstLines(r.stderr, 3))
	}
	if tr.findings() > 0 {
		tr.finish()
	}
	return h
}

func (s *suite) appCase(tr *trial, b *history, c appCase) {
	h := s.copyFolder(b, "app")
	defer os.RemoveAll(h.f.work)
	path := h.f.path("apps", "default", filepath.FromSlash(c.file))
	if _, err := os.Lstat(path); err != nil {
		tr.missed = true // this version keeps no such file
		tr.what += fmt.Sprintf(" (no %s here)", c.file)
		return
	}
	if c.prepare != "" {
		pr := s.run(h.f, c.prepare, "batch", "--policy", h.policy)
		tr.crashCheck(pr)
		if pr.exit != 0 {
			tr.fail("the batch before the corruption: %v: %s", pr, firstLines(pr.stderr, 3))
			return
		}
	}
	if err := c.corrupt(tr, path); err != nil {
		s.t.Fatalf("appdata: corrupt %s: %v", path, err)
	}
	before, _ := os.ReadFile(path)
	_, statErr := os.Lstat(path)
	name := filepath.Base(path)

	r, lines := s.batch(tr, h, c.probe(tr))
	after, _ := os.ReadFile(path)
	_, afterErr := os.Lstat(path)
	untouched := string(before) == string(after) && (statErr == nil) == (afterErr == nil)

	allDone := len(lines) > 0
	var sts []string
	for _, l := range lines {
		allDone = allDone && Done(l.Status)
		sts = append(sts, l.ID+" "+l.Status)
	}
	tr.what += fmt.Sprintf(" → %v (%s), file untouched: %v", r, strings.Join(sts, ", "), untouched)
	if statErr != nil && allDone && r.exit == 0 {
		// A deleted file the app could rebuild (from a journal): fine as
		// long as everything reported stored is still there.
		kept := &Truth{Mails: h.truth.Mails, Bookings: h.truth.Bookings, Files: h.truth.Files, Contents: h.truth.Contents}
		for _, l := range Lost(kept, h.f.state(nil)) {
			tr.lose("%s deleted, the lines done all the same, and %s", name, l)
		}
		return
	}
	if c.repairable && allDone && r.exit == 0 && c.file == journalFile {
		// Repaired: every mail reported sent is still there.
		mails := &Truth{Mails: h.truth.Mails}
		for _, l := range Lost(mails, h.f.state(nil)) {
			tr.lose("%s", l)
		}
		return
	}
	if c.repairable && allDone && r.exit == 0 {
		// Repaired: every complete line kept, the torn one gone, the new
		// booking written on a line of its own.
		bs, err := ParseBookings(after)
		if err != nil {
			tr.fail("the ledger, repaired, still does not parse: %v", err)
		}
		ledger := &Truth{Bookings: h.truth.Bookings} // the ledger alone is checked here
		for _, l := range Lost(ledger, State{Bookings: after}) {
			tr.lose("%s", l)
		}
		if len(bs) == 0 {
			tr.lose("the ledger is empty after the repair")
		}
		return
	}
	stem := strings.TrimSuffix(name, filepath.Ext(name))
	for _, l := range lines {
		if Done(l.Status) {
			if UndoneButDone(l) == "" { // else take reported it already
				tr.wrong("line %s %q on a corrupted %s: it read or wrote something else", l.ID, l.Status, name)
			}
			continue
		}
		if !strings.Contains(l.Raw, stem) {
			tr.fail("line %s failed without naming %s: %.200s", l.ID, name, l.Error+" "+stepReasons(l))
		}
	}
	if len(lines) == 0 {
		tr.wrong("%v printed no result line: %s", r, firstLines(r.stderr, 3))
	}
	if r.exit != 1 && !allDone {
		tr.wrong("%v, want 1 (failed) for lines that failed", r)
	}
	if !untouched {
		switch {
		case statErr != nil:
			tr.lose("the deleted %s was re-created (%d bytes): what it held is silently replaced", name, len(after))
		default:
			tr.lose("the corrupted %s was rewritten (%d bytes before, %d after)", name, len(before), len(after))
		}
	}
}

func stepReasons(l Line) string {
	var rs []string
	for _, s := range l.Steps {
		if s.Reason != "" {
			rs = append(rs, s.Reason)
		}
	}
	return strings.Join(rs, "; ")
}
