// Package appdir copies an app's folder between the host and its worker's
// size- and inode-limited tmpfs: the host's copy into the tmpfs before the
// app starts (Fill), and the tmpfs back to the host after each call and when
// the worker ends (Commit). So an app can never put more on the host's disk
// than its limits, and a crash loses at most what its last call wrote.
//
// Both trees are walked from open folders, one level at a time, with
// O_NOFOLLOW: a symbolic link is copied as a link and never followed, on
// either side, and nothing the app does while a copy runs can move it out
// of either tree. Only folders, regular files and links are copied.
//
// Several workers may hold copies of one folder (one app in two sessions).
// A commit writes what its worker changed, the last writer winning a file,
// and removes from the host only what its worker removed and nobody else
// changed since (Seen): never what another worker made.
package appdir

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ErrFull means the host's folder does not fit in the app's limits.
var ErrFull = errors.New("appdir: the app's folder is over its limits")

// maxDepth bounds how deep a tree is copied.
const maxDepth = 64

// Owner is who the copies belong to (-1: leave as made).
type Owner struct{ UID, GID int }

// Limits bound what a copy writes: the bytes of its files (as large as
// they read, holes and all) and its entries (every name, hard links
// too). Zero is no bound.
type Limits struct{ Bytes, Entries uint64 }

// Seen is what one worker's copy knows of the host's folder: each entry
// (by its path in the folder) as the host had it when last copied, either
// way. Commit keeps it up to date.
type Seen map[string]stamp

// stamp is enough of a host entry to tell whether it changed.
type stamp struct {
	mode uint32
	size int64
	mtim unix.Timespec
}

func stampOf(st *unix.Stat_t) stamp {
	return stamp{mode: st.Mode & unix.S_IFMT, size: st.Size, mtim: st.Mtim}
}

// Fill copies the host folder src (which need not exist) into dst, the
// tmpfs root of a worker, owned by o, and returns what it copied. A folder
// larger than the tmpfs is refused with ErrFull.
func Fill(dst *os.File, src string, o Owner) (Seen, error) {
	seen := Seen{}
	s, err := unix.Open(src, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return seen, nil
	}
	if err != nil {
		return nil, fmt.Errorf("appdir: open %s: %w", src, err)
	}
	defer unix.Close(s)
	c := copier{o: o, seen: seen, fill: true}
	if os.Getuid() == 0 && o.UID > 0 {
		// The tmpfs belongs to the worker's user namespace, which maps
		// only the owner: root makes each file as the owner (fsuid, a
		// per-thread setting) and reads the host's as itself.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		c.asOwner = true
	}
	if err := c.tree(s, int(dst.Fd()), "", 0); err != nil {
		if errors.Is(err, unix.ENOSPC) {
			return nil, fmt.Errorf("%w: %s holds more than its sandbox folder takes (%v)", ErrFull, src, err)
		}
		return nil, err
	}
	return seen, nil
}

// Commit copies to the host folder dst (made if missing) what changed in
// the tmpfs src: changed files are replaced whole (written beside, synced,
// renamed over), and what the worker removed is removed from dst unless
// another hand changed it since seen. Entries it cannot read are left as
// they were on the host, and reported. A nil seen removes nothing.
//
// A tmpfs bounds the blocks and inodes it holds, not what copying it out
// writes: sparse files and hard links would grow on the host. So the copy
// stops, with ErrFull, at lim: what it did not reach stays on the host as
// it was.
func Commit(src *os.File, dst string, o Owner, lim Limits, seen Seen) error {
	const flags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	d, err := unix.Open(dst, flags, 0)
	if errors.Is(err, unix.ENOENT) {
		if err := os.MkdirAll(dst, 0o700); err != nil {
			return fmt.Errorf("appdir: %w", err)
		}
		d, err = unix.Open(dst, flags, 0)
	}
	if err != nil {
		return fmt.Errorf("appdir: open %s: %w", dst, err)
	}
	defer unix.Close(d)
	c := copier{o: o, lim: lim, seen: seen}
	if err := c.tree(int(src.Fd()), d, "", 0); err != nil {
		if errors.Is(err, ErrFull) {
			return fmt.Errorf("%w: more than %d bytes in %d entries; the rest was not saved", ErrFull, lim.Bytes, lim.Entries)
		}
		return err
	}
	return nil
}

type copier struct {
	o         Owner
	asOwner   bool
	lim, used Limits
	seen      Seen
	// fill copies into a fresh tmpfs: nothing to remove, seen records the
	// source.
	fill bool
}

// count charges one entry of size bytes to the limits.
func (c *copier) count(size int64) error {
	c.used.Entries++
	if size > 0 {
		c.used.Bytes += uint64(size)
	}
	if (c.lim.Entries > 0 && c.used.Entries > c.lim.Entries) || (c.lim.Bytes > 0 && c.used.Bytes > c.lim.Bytes) {
		return ErrFull
	}
	return nil
}

// making runs mk, which makes one file or folder, as the owner when the
// copier makes files as the owner.
func (c *copier) making(mk func() error) error {
	if !c.asOwner {
		return mk()
	}
	gid, _ := unix.SetfsgidRetGid(c.o.GID)
	uid, _ := unix.SetfsuidRetUid(c.o.UID)
	err := mk()
	unix.SetfsuidRetUid(uid)
	unix.SetfsgidRetGid(gid)
	return err
}

var tmpSeq atomic.Uint64

// tree copies the folder src into dst; rel is its path in the folder ("" or
// ending in "/"). Committing, it then removes what the worker removed.
func (c *copier) tree(src, dst int, rel string, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("appdir: folders nested deeper than %d", maxDepth)
	}
	names, err := list(src)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	var errs []error
	for _, name := range names {
		keep[name] = true
		if err := c.entry(src, dst, name, rel, depth); err != nil {
			if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) || errors.Is(err, ErrFull) {
				return err
			}
			errs = append(errs, err)
		}
	}
	if !c.fill {
		old, err := list(dst)
		if err != nil {
			return err
		}
		for _, name := range old {
			if !keep[name] {
				if err := c.drop(dst, name, rel, depth); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func (c *copier) entry(src, dst int, name, rel string, depth int) error {
	path := rel + name
	var st unix.Stat_t
	if err := unix.Fstatat(src, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("appdir: %s: %w", path, err)
	}
	if c.fill {
		// What the worker starts from is the host's.
		c.seen[path] = stampOf(&st)
	} else {
		// Whatever happens below, what is on the host now is known.
		defer c.saw(dst, name, path)
	}
	size := int64(0)
	if st.Mode&unix.S_IFMT == unix.S_IFREG {
		size = st.Size
	}
	if err := c.count(size); err != nil {
		return err
	}
	var have unix.Stat_t
	exists := unix.Fstatat(dst, name, &have, unix.AT_SYMLINK_NOFOLLOW) == nil
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if exists && have.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := c.drop(dst, name, rel, depth); err != nil {
				return err
			}
			exists = false
		}
		if !exists {
			if err := c.making(func() error { return unix.Mkdirat(dst, name, st.Mode&0o777|0o700) }); err != nil {
				return fmt.Errorf("appdir: %s: %w", name, err)
			}
		}
		s, err := unix.Openat(src, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("appdir: %s: %w", name, err)
		}
		defer unix.Close(s)
		d, err := unix.Openat(dst, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("appdir: %s: %w", name, err)
		}
		defer unix.Close(d)
		if err := c.own(d, "", 0); err != nil {
			return err
		}
		return c.tree(s, d, path+"/", depth+1)
	case unix.S_IFREG:
		if exists && have.Mode&unix.S_IFMT == unix.S_IFREG && have.Size == st.Size && have.Mtim == st.Mtim {
			return nil
		}
		return c.file(src, dst, name, rel, st, exists && have.Mode&unix.S_IFMT == unix.S_IFDIR, depth)
	case unix.S_IFLNK:
		to, err := readlinkat(src, name)
		if err != nil {
			return fmt.Errorf("appdir: %s: %w", name, err)
		}
		if exists && have.Mode&unix.S_IFMT == unix.S_IFLNK {
			if cur, err := readlinkat(dst, name); err == nil && cur == to {
				return nil
			}
		}
		tmp := tmpName()
		if err := c.making(func() error { return unix.Symlinkat(to, dst, tmp) }); err != nil {
			return fmt.Errorf("appdir: %s: %w", name, err)
		}
		if err := c.own(dst, tmp, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			unix.Unlinkat(dst, tmp, 0)
			return err
		}
		return c.replace(dst, tmp, name, rel, exists && have.Mode&unix.S_IFMT == unix.S_IFDIR, depth)
	}
	// Sockets and pipes the app made are not data.
	return nil
}

// saw records the host's entry at name as this worker's copy knows it.
func (c *copier) saw(dst int, name, path string) {
	if c.seen == nil {
		return
	}
	var st unix.Stat_t
	if unix.Fstatat(dst, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
		c.seen[path] = stampOf(&st)
	} else {
		delete(c.seen, path)
	}
}

// drop removes name from the host folder dst if this worker's copy knew it
// as it is now: what another worker made or changed since stays. A folder
// goes once nothing is left in it.
func (c *copier) drop(dst int, name, rel string, depth int) error {
	path := rel + name
	known, ok := c.seen[path]
	if !ok {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dst, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		delete(c.seen, path)
		return nil
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if stampOf(&st) == known {
			if err := unix.Unlinkat(dst, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("appdir: remove %s: %w", path, err)
			}
		}
		delete(c.seen, path)
		return nil
	}
	if depth > maxDepth {
		return fmt.Errorf("appdir: folders nested deeper than %d", maxDepth)
	}
	d, err := unix.Openat(dst, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("appdir: remove %s: %w", path, err)
	}
	names, err := list(d)
	for _, n := range names {
		if err == nil {
			err = c.drop(d, n, path+"/", depth+1)
		}
	}
	unix.Close(d)
	if err != nil {
		return err
	}
	delete(c.seen, path)
	if err := unix.Unlinkat(dst, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("appdir: remove %s: %w", path, err)
	}
	return nil
}

// file copies one regular file beside its destination, then renames it
// over.
func (c *copier) file(src, dst int, name, rel string, st unix.Stat_t, overDir bool, depth int) error {
	// O_NONBLOCK: if the app swapped the file for a pipe since the stat,
	// the open must not wait for a writer.
	s, err := unix.Openat(src, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("appdir: %s: %w", name, err)
	}
	sf := os.NewFile(uintptr(s), name)
	defer sf.Close()
	if err := unix.Fstat(s, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("appdir: %s is no longer a regular file", name)
	}
	tmp := tmpName()
	var d int
	err = c.making(func() (err error) {
		d, err = unix.Openat(dst, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, st.Mode&0o777|0o600)
		return err
	})
	if err != nil {
		return fmt.Errorf("appdir: %s: %w", name, err)
	}
	df := os.NewFile(uintptr(d), tmp)
	fail := func(err error) error {
		df.Close()
		unix.Unlinkat(dst, tmp, 0)
		return fmt.Errorf("appdir: %s: %w", name, err)
	}
	if _, err := io.Copy(df, sf); err != nil {
		return fail(fmt.Errorf("copy: %w", err))
	}
	if err := c.own(d, "", 0); err != nil {
		return fail(err)
	}
	// The same time as the source: the next commit skips an unchanged file.
	if err := unix.UtimesNanoAt(dst, tmp, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fail(fmt.Errorf("times: %w", err))
	}
	if err := df.Sync(); err != nil {
		return fail(fmt.Errorf("sync: %w", err))
	}
	if err := df.Close(); err != nil {
		unix.Unlinkat(dst, tmp, 0)
		return fmt.Errorf("appdir: %s: %w", name, err)
	}
	return c.replace(dst, tmp, name, rel, overDir, depth)
}

// replace renames tmp over name in dst (a folder in the way is removed, if
// only this worker's entries are in it).
func (c *copier) replace(dst int, tmp, name, rel string, overDir bool, depth int) error {
	if overDir {
		if err := c.drop(dst, name, rel, depth); err != nil {
			unix.Unlinkat(dst, tmp, 0)
			return err
		}
	}
	// Making a name, as far as the kernel is concerned.
	if err := c.making(func() error { return unix.Renameat(dst, tmp, dst, name) }); err != nil {
		unix.Unlinkat(dst, tmp, 0)
		return fmt.Errorf("appdir: %s: %w", name, err)
	}
	return nil
}

func (c *copier) own(dir int, name string, flags int) error {
	if c.o.UID < 0 || c.asOwner {
		return nil
	}
	if name == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	if err := unix.Fchownat(dir, name, c.o.UID, c.o.GID, flags); err != nil {
		return fmt.Errorf("appdir: give %s to %d: %w", name, c.o.UID, err)
	}
	return nil
}

func tmpName() string {
	return ".isolategpt-copy-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(tmpSeq.Add(1), 10)
}

// list names a folder's entries, reading it from the start.
func list(dir int) ([]string, error) {
	if _, err := unix.Seek(dir, 0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("appdir: list: %w", err)
	}
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.ReadDirent(dir, buf)
		if err != nil {
			return nil, fmt.Errorf("appdir: list: %w", err)
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

func readlinkat(dir int, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dir, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
