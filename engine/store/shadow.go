package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// A shadow is a private folder that holds the store's files as hard links
// (tables, which Badger never changes) or copies (everything else), for
// Badger to open where whatever it does cannot touch the store itself.

// makeShadow builds a shadow of dir with the MANIFEST, KEYREGISTRY and the
// tables the MANIFEST references, and with the logs too if withLogs. It
// is made beside dir (hard links work there), or in the system's temporary
// folder if dir's parent is not writable.
func makeShadow(dir string, plan *folderPlan, withLogs bool) (string, error) {
	shadow, err := os.MkdirTemp(filepath.Dir(dir), ".store-shadow-*")
	if err != nil {
		if shadow, err = os.MkdirTemp("", "isolategpt-store-shadow-*"); err != nil {
			return "", fmt.Errorf("store %s: private copy: %w", dir, err)
		}
	}
	names := []string{manifestName, keyRegistryName}
	for id := range plan.tables {
		names = append(names, tableName(id))
	}
	if withLogs {
		names = append(names, plan.logs...)
		if _, err := os.Stat(filepath.Join(dir, "DISCARD")); err == nil {
			names = append(names, "DISCARD")
		}
	}
	slices.Sort(names)
	for _, n := range names {
		src, dst := filepath.Join(dir, n), filepath.Join(shadow, n)
		if strings.HasSuffix(n, ".sst") && os.Link(src, dst) == nil {
			continue
		}
		if err := copyFile(src, dst); err != nil {
			if errors.Is(err, fs.ErrNotExist) && n == keyRegistryName {
				continue
			}
			os.RemoveAll(shadow)
			return "", fmt.Errorf("store %s: private copy: %w", dir, err)
		}
	}
	return shadow, nil
}

// shadowOptions are Badger's options for a shadow. Its tables are hard
// links to the store's own, and Badger truncates a table file to zero
// before it deletes it (after a compaction): through a link, that empties
// the store's table. So a shadow never compacts — it only replays the
// logs, into new tables of its own — and never stalls waiting for a
// compaction.
func shadowOptions(shadow string) badger.Options {
	bo := badger.DefaultOptions(shadow)
	if !shadowNoCompaction {
		return bo
	}
	return bo.WithNumCompactors(0).WithNumLevelZeroTablesStall(math.MaxInt32).WithCompactL0OnClose(false)
}

// shadowNoCompaction switches the above off, for the test that shows why.
var shadowNoCompaction = true

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := copySparse(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// copySparse copies in to out, leaving holes where in has blocks of
// zeros: Badger creates its logs at full size, mostly zeros, and a copy
// need not write them (a read of a crashed store copies its logs).
func copySparse(out, in *os.File) error {
	buf := make([]byte, 1<<16)
	var size int64
	for {
		n, err := io.ReadFull(in, buf)
		if n > 0 {
			if allZero(buf[:n]) {
				if _, err := out.Seek(int64(n), io.SeekCurrent); err != nil {
					return err
				}
			} else if _, err := out.Write(buf[:n]); err != nil {
				return err
			}
			size += int64(n)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	return out.Truncate(size)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// relabel makes an error about a shadow name the store's own folder.
func relabel(err error, shadow, dir string) error {
	var d *DamageError
	if errors.As(err, &d) {
		return &DamageError{Dir: dir, File: d.File, Problem: d.Problem,
			Err: errors.New(strings.ReplaceAll(errorText(d.Err), shadow, dir))}
	}
	return errors.New(strings.ReplaceAll(err.Error(), shadow, dir))
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// setAside removes the empty logs a crash left, and moves the tables a
// crash left unrecorded out of the store
// folder before Badger, which would delete them, opens it: their data is
// in the logs or in the tables they were compacted from, but nothing the
// store wrote is ever deleted on a guess.
func setAside(dir string, plan *folderPlan) error {
	for _, n := range plan.emptyLogs {
		// Empty: there is nothing in it to keep.
		p := filepath.Join(dir, n)
		if st, err := os.Stat(p); err == nil && st.Size() == 0 {
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("store %s: remove the empty log a crash left: %w", dir, err)
			}
		}
	}
	if len(plan.unrecorded) == 0 {
		return nil
	}
	aside := filepath.Join(filepath.Dir(dir), "store-unrecorded-tables", time.Now().UTC().Format("20060102T150405Z"))
	if err := os.MkdirAll(aside, 0o700); err != nil {
		return fmt.Errorf("store %s: set unrecorded tables aside: %w", dir, err)
	}
	for _, n := range plan.unrecorded {
		if err := os.Rename(filepath.Join(dir, n), filepath.Join(aside, n)); err != nil {
			return fmt.Errorf("store %s: set unrecorded table aside: %w", dir, err)
		}
	}
	return nil
}

// storeFile finds the name of a store file in a Badger error.
var storeFile = regexp.MustCompile(`\d+\.(sst|vlog|mem)|MANIFEST|KEYREGISTRY|DISCARD`)

// openError turns Badger's error opening dir into a DamageError naming the
// file, unless it is about the folder's lock or permissions.
func openError(dir string, err error) error {
	msg := err.Error()
	if strings.Contains(msg, "Cannot acquire directory lock") || errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("open store %s: %w", dir, err)
	}
	if errors.Is(err, badger.ErrTruncateNeeded) || strings.Contains(msg, badger.ErrTruncateNeeded.Error()) {
		return fmt.Errorf("open store %s: %w: %w", dir, ErrNeedsReplay, err)
	}
	file := storeFile.FindString(msg)
	if strings.Contains(msg, "sanity text") || strings.Contains(msg, "Encryption key mismatch") || strings.Contains(msg, "key registry") {
		file = keyRegistryName
	}
	if file == "" {
		file = "a file"
	}
	return damaged(dir, file, "cannot be read", err)
}
