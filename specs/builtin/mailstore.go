package builtin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/isolategpt/isolategpt/specs/atomicfile"
	"github.com/isolategpt/isolategpt/specs/jsonlog"
	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// The mailbox is kept in two files:
//
//	mailbox.json          the snapshot, replaced whole (atomicfile); its
//	                      journal_seq is the last change folded into it
//	mailbox.journal.jsonl the changes since, one line each (jsonlog), each
//	                      numbered: seq = journal_seq+1, +2, …
//
// A send or a draft appends one line and syncs it: its cost is that of the
// message, not of the mailbox. The journal is folded into the snapshot
// when the app starts, when it passes foldBytes, and on every delete, so
// that a deleted message does not stay readable in the journal. A change
// is applied in memory only once it is on disk: a write that fails
// (a full disk) leaves the mailbox as it was and is reported.
//
// A crash between the snapshot's replacement and the journal's reset
// leaves changes the snapshot already holds: their numbers say so and they
// are skipped. A journal that starts past journal_seq+1 (an older snapshot
// beside a newer journal) is refused: changes are missing.
const journalFile = "mailbox.journal.jsonl"

// defaultFoldBytes is the journal size past which a change is followed by
// a fold.
const defaultFoldBytes = 256 << 10

// maxChangeBytes bounds one journal line: a message with an attachment.
const maxChangeBytes = 1 << 20

// change is one line of the journal. Add is the only kind: a delete is
// folded at once.
type change struct {
	Seq     int      `json:"seq"`
	Op      string   `json:"op"`
	Message *message `json:"message"`
	NextID  int      `json:"next_id"`
}

// loadMailbox reads the snapshot (nil data: none) and the journal beside
// it, applying each change in order.
func loadMailbox(dir string, data []byte, readOnly bool) (mailbox, *jsonlog.Log, error) {
	box, err := decodeMailbox(data)
	if err != nil {
		return mailbox{}, nil, err
	}
	seq := box.JournalSeq
	ids := map[string]bool{}
	for _, m := range box.Messages {
		ids[m.ID] = true
	}
	log, err := jsonlog.Open(filepath.Join(dir, journalFile), jsonlog.Options{MaxBytes: maxMailboxBytes, ReadOnly: readOnly}, func(line []byte) error {
		var c change
		if err := strictjson.Line(line, &c, maxChangeBytes); err != nil {
			return err
		}
		switch {
		case c.Seq <= box.JournalSeq:
			return nil // already in the snapshot
		case c.Seq != seq+1:
			return fmt.Errorf("change %d follows change %d: changes are missing", c.Seq, seq)
		case c.Op != "add" || c.Message == nil:
			return fmt.Errorf("change %d: unknown change %q", c.Seq, c.Op)
		}
		if err := checkMessage(*c.Message, ids); err != nil {
			return err
		}
		ids[c.Message.ID] = true
		box.Messages = append(box.Messages, *c.Message)
		box.NextID = max(box.NextID, c.NextID)
		seq = c.Seq
		return nil
	})
	if err != nil {
		return mailbox{}, nil, err
	}
	box.JournalSeq = seq
	return box, log, nil
}

// decodeMailbox decodes and checks a snapshot.
func decodeMailbox(data []byte) (mailbox, error) {
	var box mailbox
	if err := strictjson.Unmarshal(data, &box, maxMailboxBytes); err != nil {
		return mailbox{}, fmt.Errorf("mailbox: %w", err)
	}
	ids := map[string]bool{}
	for _, msg := range box.Messages {
		if err := checkMessage(msg, ids); err != nil {
			return mailbox{}, fmt.Errorf("mailbox: %w", err)
		}
		ids[msg.ID] = true
	}
	if box.NextID <= len(box.Messages) {
		box.NextID = len(box.Messages) + 1
	}
	if box.JournalSeq < 0 {
		return mailbox{}, errors.New("mailbox: negative journal_seq")
	}
	return box, nil
}

func checkMessage(msg message, ids map[string]bool) error {
	if msg.ID == "" || ids[msg.ID] {
		return fmt.Errorf("message id %q empty or used twice", msg.ID)
	}
	if msg.Folder != folderInbox && msg.Folder != folderSent && msg.Folder != folderDrafts {
		return fmt.Errorf("message %s is in unknown folder %q", msg.ID, msg.Folder)
	}
	if _, err := time.Parse(time.RFC3339, msg.Date); err != nil {
		return fmt.Errorf("message %s: date: %w", msg.ID, err)
	}
	return nil
}

// load reads the mailbox, seeding it from the embedded seed on first start,
// and folds a journal left by the last run.
func (a *mailApp) load() error {
	data, err := os.ReadFile(a.path)
	seeding := errors.Is(err, fs.ErrNotExist)
	if seeding {
		if err := lostFile(a.path); err != nil {
			return fmt.Errorf("mailbox: %w", err)
		}
		// The journal is made with the first mailbox: one without the other
		// is a mailbox lost, not a first start, and seeding would silently
		// replace what it held.
		if _, jerr := os.Lstat(filepath.Join(filepath.Dir(a.path), journalFile)); !errors.Is(jerr, fs.ErrNotExist) {
			return fmt.Errorf("%s is missing but mail has run in this folder (%s is there): restore it from a backup, or remove both to start from the demo mailbox: %w",
				mailboxFile, journalFile, fs.ErrNotExist)
		}
		if data, err = seed.ReadFile("seed/mailbox.json"); err != nil {
			return fmt.Errorf("seed mailbox: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("read mailbox: %w", err)
	}
	box, log, err := loadMailbox(filepath.Dir(a.path), data, false)
	if err != nil {
		return err
	}
	a.box, a.journal = box, log
	if seeding {
		if err := a.writeSnapshot(a.box); err != nil {
			return err
		}
		if err := log.Create(); err != nil {
			return fmt.Errorf("seed mailbox: %w", err)
		}
		if err := markMade(a.path); err != nil {
			return fmt.Errorf("seed mailbox: %w", err)
		}
	} else {
		markExisting(a.path)
	}
	if log.Len() > 0 {
		a.fold()
	}
	return nil
}

// writeSnapshot replaces mailbox.json with box.
func (a *mailApp) writeSnapshot(box mailbox) error {
	data, err := json.MarshalIndent(box, "", "  ")
	if err != nil {
		return fmt.Errorf("save mailbox: %w", err)
	}
	if err := atomicfile.WriteFile(a.path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("save mailbox: %w", err)
	}
	return nil
}

// fold writes every change into the snapshot and empties the journal. A
// failure costs only time: the journal still holds the changes.
func (a *mailApp) fold() {
	if err := a.writeSnapshot(a.box); err != nil {
		slog.Warn("mail: fold journal into mailbox", "err", err)
		return
	}
	if err := a.journal.Reset(); err != nil {
		slog.Warn("mail: reset journal", "err", err)
	}
}

// add files msg, with the next id counter after it, on disk and then in
// memory.
func (a *mailApp) add(msg message, nextID int) error {
	if a.wholeFile {
		box := a.box
		box.Messages = append(slices.Clip(box.Messages), msg)
		box.NextID = nextID
		if err := a.writeSnapshot(box); err != nil {
			return err
		}
		a.box = box
		return nil
	}
	c := change{Seq: a.box.JournalSeq + 1, Op: "add", Message: &msg, NextID: nextID}
	line, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("save message: %w", err)
	}
	if a.noRollback { // the defence off: memory first, kept on failure
		a.box.Messages = append(a.box.Messages, msg)
		a.box.NextID, a.box.JournalSeq = nextID, c.Seq
	}
	if err := a.journal.Append(line); err != nil {
		return fmt.Errorf("save message: %w", err)
	}
	if !a.noRollback {
		a.box.Messages = append(a.box.Messages, msg)
		a.box.NextID, a.box.JournalSeq = nextID, c.Seq
	}
	if a.journal.Size() > a.foldBytes {
		a.fold()
	}
	return nil
}

// remove deletes message i: a new snapshot without it (and with every
// change of the journal), then an empty journal, so that nothing of it
// stays on disk in the app's files.
func (a *mailApp) remove(i int) error {
	box := a.box
	box.Messages = slices.Delete(slices.Clone(box.Messages), i, i+1)
	if a.noRollback {
		a.box = box
	}
	if err := a.writeSnapshot(box); err != nil {
		return err
	}
	a.box = box
	if err := a.journal.Reset(); err != nil {
		// The deletion holds (the snapshot's journal_seq covers every line)
		// but the journal's bytes stay until the next fold.
		slog.Warn("mail: reset journal after delete", "err", err)
	}
	return nil
}

// ReadMailbox returns the mail app's mailbox in dataDir as mailbox.json
// would hold it with the journal folded in, without changing either file:
// what a test or an evaluation reads to see what mail holds and sent.
func ReadMailbox(dataDir string) (json.RawMessage, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, mailboxFile))
	if err != nil {
		return nil, fmt.Errorf("read mailbox: %w", err)
	}
	box, log, err := loadMailbox(dataDir, data, true)
	if err != nil {
		return nil, err
	}
	log.Close()
	return json.Marshal(box)
}
