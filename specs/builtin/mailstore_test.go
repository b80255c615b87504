package builtin

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isolategpt/isolategpt/specs/jsonlog"
	"github.com/isolategpt/isolategpt/specs/jsonlog/jsonlogtest"
	"github.com/isolategpt/isolategpt/specs/strictjson"
)

func startMail(t testing.TB, dir string) *mailApp {
	t.Helper()
	app, err := newMail(dir)
	if err != nil {
		t.Fatal(err)
	}
	return app.(*mailApp)
}

func fileSize(t testing.TB, p string) int64 {
	t.Helper()
	st, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// A send appends one line to the journal and leaves mailbox.json alone;
// the next start folds the journal into it.
func TestMailSendGoesToTheJournal(t *testing.T) {
	dir := t.TempDir()
	app := startMail(t, dir)
	before, _ := os.ReadFile(filepath.Join(dir, mailboxFile))
	sent := call(t, app, "send", map[string]any{"to": "a@example.com", "subject": "s", "message": "journal me"})
	call(t, app, "draft", map[string]any{"to": "a@example.com", "subject": "d", "message": "draft"})
	if after, _ := os.ReadFile(filepath.Join(dir, mailboxFile)); string(after) != string(before) {
		t.Error("a send rewrote mailbox.json")
	}
	if app.journal.Len() != 2 {
		t.Errorf("journal holds %d changes, want 2", app.journal.Len())
	}
	again := startMail(t, dir)
	if got := call(t, again, "read", map[string]any{"id": sent["id"]}); got["body"] != "journal me" {
		t.Errorf("after a restart: %v", got)
	}
	if n := fileSize(t, filepath.Join(dir, journalFile)); n != 0 {
		t.Errorf("journal of %d bytes after the start folded it", n)
	}
	var box mailbox
	data, _ := os.ReadFile(filepath.Join(dir, mailboxFile))
	if err := strictjson.Unmarshal(data, &box, maxMailboxBytes); err != nil || box.JournalSeq != 2 || len(box.Messages) != 6 {
		t.Errorf("folded mailbox: seq %d, %d messages, %v", box.JournalSeq, len(box.Messages), err)
	}
	if id := call(t, again, "send", map[string]any{"to": "a@example.com", "subject": "", "message": "x"})["id"]; id != "m0007" {
		t.Errorf("next id after a fold: %v", id)
	}
}

// The journal is folded once it passes foldBytes.
func TestMailJournalIsFoldedWhenLarge(t *testing.T) {
	dir := t.TempDir()
	app := startMail(t, dir)
	app.foldBytes = 2048
	for range 10 {
		call(t, app, "send", map[string]any{"to": "a@example.com", "subject": "", "message": strings.Repeat("z", 500)})
	}
	if n := fileSize(t, filepath.Join(dir, journalFile)); n > 2048+1024 {
		t.Errorf("journal of %d bytes: never folded", n)
	}
	data, _ := ReadMailbox(dir)
	if strings.Count(string(data), strings.Repeat("z", 500)) != 10 {
		t.Error("a fold lost messages")
	}
}

// A deleted message leaves nothing of itself in the app's files: delete
// folds the journal.
func TestMailDeleteLeavesNothingOnDisk(t *testing.T) {
	dir := t.TempDir()
	app := startMail(t, dir)
	secret := "the-code-is-7731"
	id := call(t, app, "send", map[string]any{"to": "a@example.com", "subject": "", "message": secret})["id"]
	call(t, app, "send", map[string]any{"to": "a@example.com", "subject": "", "message": "kept"})
	call(t, app, "delete", map[string]any{"id": id})
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if b, _ := os.ReadFile(filepath.Join(dir, e.Name())); strings.Contains(string(b), secret) {
			t.Errorf("%s still holds the deleted message", e.Name())
		}
	}
	again := startMail(t, dir)
	callErr(t, again, "read", map[string]any{"id": id}, "no message")
	if got := call(t, again, "search", map[string]any{"query": "kept"}); got["count"] != float64(1) {
		t.Errorf("the other send: %v", got)
	}
}

// On a full disk (a file size limit here, a full tmpfs in the sandboxed
// test) delete and send report the failure and change nothing; with the
// rollback off, the failed delete deletes and the failed send is in the
// sent folder.
func TestMailFailedWritesChangeNothing(t *testing.T) {
	for _, rollback := range []bool{true, false} {
		t.Run(fmt.Sprintf("rollback=%v", rollback), func(t *testing.T) {
			dir := t.TempDir()
			app := startMail(t, dir)
			app.noRollback = !rollback
			var derr, serr error
			jsonlogtest.WithFileSizeLimit(t, 16, func() {
				_, derr = app.Call(t.Context(), "delete", json.RawMessage(`{"id":"m0004"}`))
				_, serr = app.Call(t.Context(), "send", json.RawMessage(`{"to":"a@example.com","subject":"","message":"not sent"}`))
			})
			if !errors.Is(derr, syscall.EFBIG) || !errors.Is(serr, syscall.EFBIG) {
				t.Fatalf("delete: %v; send: %v; want both to fail with the write error", derr, serr)
			}
			_, rerr := app.Call(t.Context(), "read", json.RawMessage(`{"id":"m0004"}`))
			found := call(t, app, "search", map[string]any{"query": "not sent"})["count"]
			if !rollback {
				if rerr == nil || found != float64(1) {
					t.Fatalf("with the rollback off the faults did not show (read: %v, sent: %v)", rerr, found)
				}
				return
			}
			if rerr != nil || found != float64(0) {
				t.Fatalf("after failed writes: read m0004: %v; failed send found %v times", rerr, found)
			}
			if n := fileSize(t, filepath.Join(dir, journalFile)); n != 0 {
				t.Errorf("the failed send left %d bytes in the journal", n)
			}
			again := startMail(t, dir)
			call(t, again, "read", map[string]any{"id": "m0004"})
			if got := call(t, again, "search", map[string]any{"query": "not sent"}); got["count"] != float64(0) {
				t.Errorf("the failed send is in the mailbox after a restart")
			}
			if id := call(t, app, "send", map[string]any{"to": "a@example.com", "subject": "", "message": "x"})["id"]; id != "m0005" {
				t.Errorf("the failed send used an id: next is %v", id)
			}
		})
	}
}

func TestMailRefusesABadJournal(t *testing.T) {
	add := func(seq int, id string) string {
		return fmt.Sprintf(`{"seq":%d,"op":"add","message":%s,"next_id":9}`, seq, msgJSON(id, "sent"))
	}
	box := `{"address":"me@example.com","contacts":[],"messages":[` + msgJSON("m1", "inbox") + `],"journal_seq":2}`
	for name, journal := range map[string]string{
		"changes missing":  add(4, "m4") + "\n",
		"duplicate key":    `{"seq":3,"seq":3,"op":"add","message":` + msgJSON("m3", "sent") + `,"next_id":4}` + "\n",
		"trailing object":  add(3, "m3") + `{}` + "\n",
		"null":             "null\n",
		"null message":     `{"seq":3,"op":"add","message":null,"next_id":4}` + "\n",
		"unknown op":       `{"seq":3,"op":"drop","message":` + msgJSON("m3", "sent") + `,"next_id":4}` + "\n",
		"id used twice":    add(3, "m1") + "\n",
		"unknown folder":   `{"seq":3,"op":"add","message":` + msgJSON("m3", "spam") + `,"next_id":4}` + "\n",
		"damaged mid-file": add(3, "m3") + "\nxx\n" + add(4, "m4") + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, mailboxFile), []byte(box), 0o600)
			os.WriteFile(filepath.Join(dir, journalFile), []byte(journal), 0o600)
			if _, err := newMail(dir); err == nil {
				t.Error("mail started on a bad journal")
			}
		})
	}
	t.Run("folded changes are skipped, a torn tail moved aside", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, mailboxFile), []byte(box), 0o600)
		os.WriteFile(filepath.Join(dir, journalFile), []byte(add(1, "m1")+"\n"+add(2, "m2")+"\n"+add(3, "m3")+"\n"+`{"seq":4,"op":"a`), 0o600)
		app := startMail(t, dir)
		if got := call(t, app, "search", map[string]any{"max_results": 50}); got["count"] != float64(2) {
			t.Errorf("messages: %v, want m1 from the snapshot and m3 from the journal", got)
		}
		if _, err := os.Stat(filepath.Join(dir, journalFile+jsonlog.TornSuffix)); err != nil {
			t.Errorf("torn change not kept aside: %v", err)
		}
	})
}

func TestMailRefusesALenientMailbox(t *testing.T) {
	for name, content := range map[string]string{
		"duplicate key":   `{"address":"a@b.c","address":"x@y.z","contacts":[],"messages":[]}`,
		"trailing object": `{"address":"a@b.c","contacts":[],"messages":[]}{"address":"x@y.z"}`,
		"null":            `null`,
		"null messages":   `{"address":"a@b.c","contacts":[],"messages":[null]}`,
		"bad UTF-8":       "{\"address\":\"a\xff\",\"contacts\":[],\"messages\":[]}",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, mailboxFile), []byte(content), 0o600)
			if _, err := newMail(dir); err == nil {
				t.Error("mail started")
			}
		})
	}
}

// FuzzMailJournal feeds arbitrary bytes as the journal beside the seed
// mailbox: mail refuses to start, or starts, answers, sends, and reads its
// send back after a restart.
func FuzzMailJournal(f *testing.F) {
	f.Add([]byte(`{"seq":1,"op":"add","message":` + msgJSON("x1", "sent") + `,"next_id":9}` + "\n"))
	f.Add([]byte(`{"seq":1,"op":"add","message":` + msgJSON("x1", "sent") + `,"next_id":9}` + "\n{\"seq\":2"))
	f.Add([]byte("{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		seedBox, _ := seed.ReadFile("seed/mailbox.json")
		os.WriteFile(filepath.Join(dir, mailboxFile), seedBox, 0o600)
		os.WriteFile(filepath.Join(dir, journalFile), data, 0o600)
		app, err := newMail(dir)
		if err != nil {
			return
		}
		if out, err := app.Call(t.Context(), "search", json.RawMessage(`{"max_results":50}`)); err != nil || !json.Valid(out) {
			t.Fatalf("search on an accepted journal: %s, %v", out, err)
		}
		sent := call(t, app, "send", map[string]any{"to": "a@example.com", "subject": "", "message": "fuzz"})
		call(t, startMail(t, dir), "read", map[string]any{"id": sent["id"]})
	})
}

// BenchmarkMailSend measures a send into a 1.7 MB mailbox as the app did
// before (rewrite and sync the whole file) and with the journal,
// interleaved in the same run, and reports each median and their ratio.
//
//	go test -run XXX -bench MailSend -benchtime 200x ./specs/builtin/
func BenchmarkMailSend(b *testing.B) {
	box := mailbox{Address: "me@example.com", Contacts: []contact{}}
	body := strings.Repeat("Quarterly figures and notes. ", 30)
	for i := range 1470 {
		box.Messages = append(box.Messages, message{ID: fmt.Sprintf("b%05d", i), ThreadID: "t", Folder: folderInbox,
			From: "x@example.com", To: []string{"me@example.com"}, CC: []string{}, Subject: "Report",
			Body: body, Date: "2025-01-01T00:00:00Z", Attachments: []attachment{}})
	}
	data, _ := json.MarshalIndent(box, "", "  ")
	modes := []struct {
		name  string
		whole bool
		app   *mailApp
		took  []time.Duration
	}{{name: "whole-file", whole: true}, {name: "journal"}}
	for i := range modes {
		dir := b.TempDir()
		os.WriteFile(filepath.Join(dir, mailboxFile), data, 0o600)
		modes[i].app = startMail(b, dir)
		modes[i].app.wholeFile = modes[i].whole
	}
	args := json.RawMessage(`{"to":"a@example.com","subject":"s","message":"` + body + `"}`)
	b.ResetTimer()
	for range b.N {
		for i := range modes {
			start := time.Now()
			if _, err := modes[i].app.Call(b.Context(), "send", args); err != nil {
				b.Fatal(err)
			}
			modes[i].took = append(modes[i].took, time.Since(start))
		}
	}
	b.StopTimer()
	// The mean counts the journal's folds, which the median may not.
	var med, mean [2]float64
	for i := range modes {
		var sum time.Duration
		for _, d := range modes[i].took {
			sum += d
		}
		mean[i] = float64(sum.Microseconds()) / float64(len(modes[i].took))
		slices.Sort(modes[i].took)
		med[i] = float64(modes[i].took[len(modes[i].took)/2].Microseconds())
		b.ReportMetric(med[i], modes[i].name+"-p50-µs")
		b.ReportMetric(mean[i], modes[i].name+"-mean-µs")
	}
	b.ReportMetric(med[0]/med[1], "p50-ratio")
	b.ReportMetric(mean[0]/mean[1], "mean-ratio")
	b.ReportMetric(float64(len(data))/1e6, "mailbox-MB")
}

// A mailbox.json that disappears after mail has run is an error, not a
// first start: re-seeding would silently replace what it held. Without
// the journal mail made beside it, the loss would go unseen.
func TestMailRefusesALostMailbox(t *testing.T) {
	dir := t.TempDir()
	call(t, startMail(t, dir), "send", map[string]any{"to": "a@example.com", "subject": "", "message": "mine"})
	startMail(t, dir) // folds: the send is only in mailbox.json now
	if err := os.Remove(filepath.Join(dir, mailboxFile)); err != nil {
		t.Fatal(err)
	}
	_, err := newMail(dir)
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "restore") {
		t.Fatalf("start without mailbox.json = %v; want it refused", err)
	}
	// The journal alone is a marker too (kept_test.go takes the journal
	// and the marker one at a time).
	if err := os.Remove(filepath.Join(dir, journalFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := newMail(dir); err == nil || !strings.Contains(err.Error(), mailboxFile+madeSuffix) {
		t.Fatalf("start without mailbox.json and its journal = %v; want it refused by the marker", err)
	}
	// Both markers off: the mailbox is silently re-seeded.
	if err := os.Remove(filepath.Join(dir, mailboxFile+madeSuffix)); err != nil {
		t.Fatal(err)
	}
	if got := call(t, startMail(t, dir), "search", map[string]any{"query": "mine"}); got["count"] != float64(0) {
		t.Fatalf("a re-seeded mailbox holds the lost send: %v", got)
	}
}
