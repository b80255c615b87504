package launch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/sandbox/confine"
	"github.com/isolategpt/isolategpt/sandbox/policy"
)

var zeroTime time.Time

// ErrProgram is returned when the sandbox cannot run the program it was
// given, with the reason.
var ErrProgram = errors.New("the sandbox cannot run this program")

// program works out what a worker runs: a program given by path, and the
// readOnly paths, are granted read-only at their own absolute paths (a link
// is followed, and what it points to shown at the link's path). A program
// given by a bare name is looked up on the sandbox's PATH, inside; one at
// a path the sandbox makes itself (/proc/self/exe) means what it means
// inside.
func program(cmd, readOnly []string) ([]string, []confine.Grant, error) {
	var grants []confine.Grant
	add := func(p string, exec bool) (string, error) {
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", fmt.Errorf("%w: %s: %v", ErrProgram, p, err)
		}
		if err := policy.CheckGrant(abs); err != nil {
			return "", fmt.Errorf("%w: %v", ErrProgram, err)
		}
		if err := reachable(abs, exec); err != nil {
			return "", err
		}
		if !slices.ContainsFunc(grants, func(g confine.Grant) bool { return g.Path == abs }) {
			grants = append(grants, confine.Grant{Path: abs, FD: -1})
		}
		return abs, nil
	}
	for _, r := range readOnly {
		if _, err := add(r, false); err != nil {
			return nil, nil, err
		}
	}
	out := slices.Clone(cmd)
	if strings.Contains(cmd[0], "/") && !ownPath(cmd[0]) {
		abs, err := add(cmd[0], true)
		if err != nil {
			return nil, nil, err
		}
		out[0] = abs
	}
	return out, grants, nil
}

// ownPath reports whether p is inside what the sandbox makes itself.
func ownPath(p string) bool {
	for _, o := range policy.Own {
		if p == o || strings.HasPrefix(p, o+"/") {
			return true
		}
	}
	return false
}

// reachable checks the sandbox's user may read p (and run it, with exec):
// the worker is nobody when the hub is root, or the hub's own user.
func reachable(p string, exec bool) error {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrProgram, p, err)
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if exec && st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%w: %s is not a regular file", ErrProgram, p)
	}
	// A folder must be searchable (its files are opened by name), a file
	// readable, a program runnable.
	need := uint32(unix.R_OK)
	switch {
	case isDir:
		need = unix.X_OK
	case exec:
		need |= unix.X_OK
	}
	if os.Getuid() != 0 {
		if err := unix.Access(p, need); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrProgram, p, err)
		}
		return nil
	}
	// nobody: the owner's bits if it owns the file, the group's if its
	// group does, else the others'.
	uid, gid := hostIDs()
	bits := st.Mode & 0o7
	switch {
	case int(st.Uid) == uid:
		bits = (st.Mode >> 6) & 0o7
	case int(st.Gid) == gid:
		bits = (st.Mode >> 3) & 0o7
	}
	if exec && !isDir && bits&0o1 != 0 && bits&0o4 == 0 && !isScript(p) {
		return nil // a binary runs without being readable
	}
	if bits&need != need {
		what := "read"
		switch {
		case isDir:
			what = "enter"
		case exec:
			what = "read and run"
		}
		return fmt.Errorf("%w: the sandbox's user (uid %d) may not %s %s (mode %04o, owner %d:%d); give others that right (chmod o+rx), or run it from a folder they can read", ErrProgram, uid, what, p, st.Mode&0o7777, st.Uid, st.Gid)
	}
	return nil
}

// isScript reports whether p starts with "#!": its interpreter must read it.
func isScript(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return true
	}
	defer f.Close()
	b := make([]byte, 2)
	n, _ := f.Read(b)
	return n == 2 && string(b) == "#!"
}
