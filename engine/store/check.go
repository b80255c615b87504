package store

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/isolategpt/isolategpt/specs/atomicfile"
)

// CheckReport is what Check found.
type CheckReport struct {
	Tables int // table files the MANIFEST references, all read
	Logs   int // write-ahead and value logs, all read
	Keys   int // records read, each value's checksum verified
	// Damaged lists each problem, naming the file; empty when the store
	// is whole.
	Damaged []string
}

// Check verifies a store folder without writing to it: the MANIFEST and
// KEYREGISTRY, the checksum of every block of every table, every log, and
// then, if all that holds, every record and the checksum of every value,
// read through Badger. An error means the check itself could not run (no
// such folder, the store is open in another process, …).
func Check(dir string, logger *slog.Logger) (*CheckReport, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("check store: %w", err)
	}
	r := &CheckReport{}
	plan, err := precheck(dir)
	if err != nil {
		return damageReport(r, err)
	}
	if plan.fresh {
		return r, nil
	}
	r.Tables, r.Logs = len(plan.tables), len(plan.logs)
	ids := make([]uint64, 0, len(plan.tables))
	for id := range plan.tables {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if err := verifyTable(filepath.Join(dir, tableName(id)), id, plan.tables[id]); err != nil {
			r.Damaged = append(r.Damaged, damaged(dir, tableName(id), "is damaged", err).short())
		}
	}
	for _, n := range plan.logs {
		one := *plan
		one.logs = []string{n}
		if err := checkLogs(dir, &one); err != nil {
			var d *DamageError
			if errors.As(err, &d) {
				r.Damaged = append(r.Damaged, d.short())
			}
		}
	}
	if len(r.Damaged) > 0 {
		return r, nil
	}
	s, err := Open(dir, Options{ReadOnly: true, Logger: logger})
	if err != nil {
		return damageReport(r, err)
	}
	defer s.Close()
	if err := s.db.VerifyChecksum(); err != nil {
		r.Damaged = append(r.Damaged, shortError(openError(dir, err)))
	}
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			if err := item.Value(func([]byte) error { return nil }); err != nil {
				return fmt.Errorf("record %q: %w", item.Key(), err)
			}
			r.Keys++
		}
		return nil
	})
	if err != nil {
		r.Damaged = append(r.Damaged, shortError(openError(dir, err)))
	}
	return r, nil
}

// damageReport adds a DamageError to the report, or returns another
// error as the check's failure.
func damageReport(r *CheckReport, err error) (*CheckReport, error) {
	var d *DamageError
	if errors.As(err, &d) {
		r.Damaged = append(r.Damaged, d.short())
		return r, nil
	}
	return nil, err
}

func shortError(err error) string {
	var d *DamageError
	if errors.As(err, &d) {
		return d.short()
	}
	return err.Error()
}

// short is the error without the recovery hint.
func (e *DamageError) short() string {
	msg := e.File + " " + e.Problem
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// A backup file is Badger's own stream backup (DB.Backup) in an envelope
// that makes a truncated or altered file an error before anything is
// loaded: a header line, the stream, then a trailer of backupTrailer, the
// stream's length (8 bytes BE) and its SHA-256.
const (
	backupHeader  = "isolategpt store backup 1\n"
	backupTrailer = "\nisolategpt backup end\n"
)

// ErrBadBackup reports a backup file that is not one, or is damaged.
var ErrBadBackup = errors.New("not a whole isolategpt store backup")

// Backup writes every record of the store to path, replacing it
// atomically (specs/atomicfile): a failed backup leaves any earlier file
// at path as it was.
func (s *Store) Backup(path string) (int64, error) {
	var n int64
	err := s.use(func() error {
		return atomicfile.Write(path, 0o600, func(w io.Writer) error {
			h := sha256.New()
			cw := &countWriter{w: io.MultiWriter(w, h)}
			if _, err := io.WriteString(w, backupHeader); err != nil {
				return err
			}
			if _, err := s.db.Backup(cw, 0); err != nil {
				return err
			}
			n = cw.n
			var tr bytes.Buffer
			tr.WriteString(backupTrailer)
			binary.Write(&tr, binary.BigEndian, uint64(cw.n))
			tr.Write(h.Sum(nil))
			_, err := w.Write(tr.Bytes())
			return err
		})
	})
	if err != nil {
		return 0, fmt.Errorf("backup store %s: %w", s.dir, err)
	}
	return n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// checkBackup verifies a backup file's envelope and returns the offset
// and length of the stream inside it.
func checkBackup(f *os.File) (int64, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	tail := int64(len(backupTrailer) + 8 + sha256.Size)
	head := int64(len(backupHeader))
	if st.Size() < head+tail {
		return 0, 0, fmt.Errorf("%w: %d bytes", ErrBadBackup, st.Size())
	}
	hb := make([]byte, head)
	tb := make([]byte, tail)
	if _, err := f.ReadAt(hb, 0); err != nil {
		return 0, 0, err
	}
	if _, err := f.ReadAt(tb, st.Size()-tail); err != nil {
		return 0, 0, err
	}
	if string(hb) != backupHeader {
		return 0, 0, fmt.Errorf("%w: no backup header", ErrBadBackup)
	}
	if string(tb[:len(backupTrailer)]) != backupTrailer {
		return 0, 0, fmt.Errorf("%w: no trailer (truncated?)", ErrBadBackup)
	}
	n := int64(binary.BigEndian.Uint64(tb[len(backupTrailer):]))
	if n != st.Size()-head-tail {
		return 0, 0, fmt.Errorf("%w: the trailer says %d bytes of records, the file holds %d", ErrBadBackup, n, st.Size()-head-tail)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, head, n)); err != nil {
		return 0, 0, err
	}
	if !bytes.Equal(h.Sum(nil), tb[len(backupTrailer)+8:]) {
		return 0, 0, fmt.Errorf("%w: checksum mismatch (altered?)", ErrBadBackup)
	}
	return head, n, nil
}

// RestoreResult says where Restore put things.
type RestoreResult struct {
	// Aside is where the store that was in the folder went; "" if there
	// was none.
	Aside string
}

// Restore loads a backup file into a new store at dir. It refuses a
// folder that holds a store unless replace is set, and even then keeps the
// old folder, renamed aside, for the user to delete. The new store is
// built in a folder beside dir and moved into place only once complete.
func Restore(file, dir string, replace bool, logger *slog.Logger) (RestoreResult, error) {
	var res RestoreResult
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f, err := os.Open(file)
	if err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	off, n, err := checkBackup(f)
	if err != nil {
		return res, fmt.Errorf("restore %s: %w", file, err)
	}
	occupied := false
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		occupied = true
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, fmt.Errorf("restore: %w", err)
	}
	if occupied && !replace {
		return res, fmt.Errorf("restore: %s already holds a store; give --replace to set it aside and restore in its place", dir)
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	stamp := time.Now().UTC().Format("20060102T150405Z")
	tmp, err := os.MkdirTemp(parent, ".store-restore-*")
	if err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed into place
	s, err := openBadger(tmp, badger.DefaultOptions(tmp), Options{}, true, logger)
	if err != nil {
		return res, fmt.Errorf("restore: new store: %w", err)
	}
	lerr := s.db.Load(bufio.NewReader(io.NewSectionReader(f, off, n)), 256)
	var mark anchorMark
	if lerr == nil {
		lerr = s.db.View(func(txn *badger.Txn) error {
			m, _, err := storeMark(txn)
			// The generation binds; the head's owner is not at hand.
			mark.Gen = m.Gen
			return err
		})
	}
	if err := errors.Join(lerr, s.db.Close()); err != nil {
		return res, fmt.Errorf("restore %s: %w", file, err)
	}
	// An anchor matching the restored store (anchor.go).
	if err := writeAnchorFile(tmp, anchorOf(mark, tmp)); err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	if occupied {
		res.Aside = dir + ".replaced-" + stamp
		if err := os.Rename(dir, res.Aside); err != nil {
			return RestoreResult{}, fmt.Errorf("restore: set the old store aside: %w", err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return res, fmt.Errorf("restore: move the restored store into place (the old one is at %s): %w", res.Aside, err)
	}
	if err := atomicfile.SyncDir(parent); err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	return res, nil
}

// CheckLive is Check for a store this process has open: the checksum of
// every table block, then every record and the checksum of every value.
// The files' own pre-checks ran when it was opened.
func (s *Store) CheckLive() (*CheckReport, error) {
	r := &CheckReport{}
	err := s.use(func() error {
		if err := s.db.VerifyChecksum(); err != nil {
			r.Damaged = append(r.Damaged, shortError(openError(s.dir, err)))
		}
		r.Tables = len(s.db.Tables())
		return s.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{})
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				item := it.Item()
				if err := item.Value(func([]byte) error { return nil }); err != nil {
					r.Damaged = append(r.Damaged, shortError(openError(s.dir, fmt.Errorf("record %q: %w", item.Key(), err))))
					continue
				}
				r.Keys++
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("check store %s: %w", s.dir, err)
	}
	return r, nil
}
