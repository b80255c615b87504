// Package atomicfile replaces files so that a crash, a kill or a full disk
// leaves either the old content or the new, never a mix: the data goes to
// a temporary file in the same folder, is synced, renamed over the target,
// and the folder is synced so the rename itself survives a power loss.
//
// It is the one helper for atomic file replacement in isolategpt; app data,
// pins and exported files all go through it.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data, created with perm if it does not exist
// (an existing file's mode is not kept: perm is applied). On any error the
// target is unchanged and the temporary file is removed.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write replaces path with what fill writes, with the guarantees of
// WriteFile. fill's error aborts the replacement.
func Write(path string, perm os.FileMode, fill func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("atomicfile: %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("atomicfile: %s: %w", path, err)
		}
	}()
	if err := setMode(f, perm); err != nil {
		return err
	}
	if err := fill(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	// The new content is in place (the deferred removal of tmp finds
	// nothing); a failed folder sync still fails the write, as the rename
	// may not survive a power loss.
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("sync folder: %w", err)
	}
	return nil
}

// setMode gives f the mode perm. CreateTemp made it 0600 less the umask;
// fchmod is made only when that differs, because the built-in apps'
// workers run under a seccomp filter that refuses it, and their files are
// 0600.
func setMode(f *os.File, perm os.FileMode) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Mode().Perm() == perm.Perm() {
		return nil
	}
	return f.Chmod(perm)
}

// SyncDir makes the entries of folder dir durable (a rename or a create in
// it survives a power loss).
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	cerr := d.Close()
	return errors.Join(serr, cerr)
}
