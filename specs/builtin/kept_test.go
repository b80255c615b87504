package builtin

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLostDataFilesAreRefused: a data file an app made, then lost —
// mail's mailbox (with its journal, or after a fold), drive's files
// folder, a ledger of bookings — stops the app from starting, naming the
// file, and nothing is re-created in its place. With the check off the
// same loss starts the app on the demo data or empty: what the user had
// is silently gone. Each app first starts on an empty folder as before.
func TestLostDataFilesAreRefused(t *testing.T) {
	cases := []struct {
		id, file string
		use      func(t *testing.T, a App)
		lose     []string // removed, besides file
		// fresh reports whether a restarted app shows the loss undone:
		// the demo data or nothing in place of what was there.
		fresh func(t *testing.T, a App) bool
		// journalRefuses: the journal left beside a lost mailbox refuses
		// it too, with the marker check off (faults finding 3).
		journalRefuses bool
	}{
		{id: "mail", file: mailboxFile, lose: []string{journalFile},
			use:   func(t *testing.T, a App) { call(t, a, "send", sampleArgs["send"]) },
			fresh: lostSent},
		{id: "mail", file: mailboxFile, // the journal folded and empty, still there
			journalRefuses: true,
			use:            func(t *testing.T, a App) { call(t, a, "send", sampleArgs["send"]) },
			fresh:          lostSent},
		{id: "drive", file: driveFiles,
			use: func(t *testing.T, a App) {
				call(t, a, "save", map[string]any{"name": "kept-test.txt", "content": "mine"})
			},
			fresh: func(t *testing.T, a App) bool {
				return !strings.Contains(strings.Join(fileNames(call(t, a, "list", map[string]any{})), " "), "kept-test.txt")
			}},
		{id: "metro_hail", file: "bookings.jsonl",
			use:   func(t *testing.T, a App) { call(t, a, "book_ride", sampleArgs["book_ride"]) },
			fresh: func(t *testing.T, a App) bool { return true }},
	}
	for _, c := range cases {
		t.Run(c.id+" "+c.file+" "+strings.Join(c.lose, ","), func(t *testing.T) {
			for _, check := range []bool{true, false} {
				dir := t.TempDir()
				a := start(t, c.id, dir)
				c.use(t, a)
				if cl, ok := a.(interface{ Close() error }); ok {
					cl.Close()
				}
				if _, err := os.Stat(filepath.Join(dir, c.file+madeSuffix)); err != nil {
					t.Fatalf("no marker beside %s: %v", c.file, err)
				}
				// A restart keeps what was there.
				start(t, c.id, dir)
				for _, f := range append([]string{c.file}, c.lose...) {
					if err := os.RemoveAll(filepath.Join(dir, f)); err != nil {
						t.Fatal(err)
					}
				}
				checkMade = check
				f, _ := Lookup(c.id)
				b, err := f(dir)
				checkMade = true
				if !check && c.journalRefuses {
					if err == nil || !strings.Contains(err.Error(), journalFile) {
						t.Fatalf("check off: start %v; want the journal's refusal", err)
					}
					continue
				}
				if !check {
					if err != nil || !c.fresh(t, b) {
						t.Fatalf("check off: start %v; want a fresh start that lost the data: the test proves nothing", err)
					}
					continue
				}
				if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), c.file) {
					t.Fatalf("start after %s was lost: %v, want a refusal naming it", c.file, err)
				}
				if _, err := os.Lstat(filepath.Join(dir, c.file)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s re-created: %v", c.file, err)
				}
			}
		})
	}
	// A first start is still a first start.
	for _, id := range []string{"mail", "drive", "metro_hail"} {
		start(t, id, t.TempDir())
	}
}

// lostSent reports whether the mail sent by the test is gone.
func lostSent(t *testing.T, a App) bool {
	for _, m := range a.(*mailApp).box.Messages {
		if m.Folder == folderSent && m.Subject == "Report" && strings.Contains(m.Body, "Attached.") {
			return false
		}
	}
	return true
}
