package control

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// File names in the data folder.
const (
	LockFile   = "isolategpt.lock"
	SocketFile = "control.sock"
)

// Errors.
var (
	// ErrHeld: another process holds the data folder.
	ErrHeld = errors.New("data folder in use")
	// ErrUnsafe: the folder or the socket could be reached or replaced by
	// another user.
	ErrUnsafe = errors.New("unsafe data folder")
	// ErrPeer: the other end of the socket is another user's process.
	ErrPeer = errors.New("control socket peer is another user")
	// ErrClosed: the server stopped before the command finished.
	ErrClosed = errors.New("the process serving the data folder ended")
)

// Info says which process holds a data folder.
type Info struct {
	PID     int    `json:"pid"`
	Command string `json:"command,omitempty"`
}

func (i Info) String() string {
	if i.PID == 0 {
		return "another process"
	}
	if i.Command == "" {
		return fmt.Sprintf("pid %d", i.PID)
	}
	return fmt.Sprintf("pid %d (isolategpt %s)", i.PID, i.Command)
}

// HeldError is ErrHeld with the holder.
type HeldError struct {
	Dir    string
	Holder Info
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("data folder %s is in use by %s", e.Dir, e.Holder)
}

// Unwrap makes errors.Is(err, ErrHeld) hold.
func (e *HeldError) Unwrap() error { return ErrHeld }

// folder is an open, checked data folder: an O_PATH descriptor through
// which the lock and the socket are reached.
type folder struct {
	dir string
	fd  int
}

// MakeFolder creates a missing data folder: its parents as mkdir -p
// would (0755), the folder itself 0711 — only its owner may list or write
// in it; others, the sandbox's user among them, may only pass through to
// the one place meant for them (an MCP server's install folder). What is
// in it keeps to itself: the store, the apps' folders and the log are 0700
// or 0600.
func MakeFolder(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o711); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}

// openFolder opens dir, creating it (MakeFolder) if missing, and checks
// that it belongs to this user and that no one else may write in it.
func openFolder(dir string) (*folder, error) {
	if err := MakeFolder(dir); err != nil {
		return nil, fmt.Errorf("data folder %s: %w", dir, err)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("data folder %s: %w", dir, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("data folder %s: %w", dir, err)
	}
	if err := safeDir(dir, st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &folder{dir: dir, fd: fd}, nil
}

func safeDir(dir string, st unix.Stat_t) error {
	if int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%w: %s belongs to uid %d, not to you (uid %d)", ErrUnsafe, dir, st.Uid, os.Geteuid())
	}
	if st.Mode&0o022 != 0 {
		return fmt.Errorf("%w: others may write in %s (mode %04o); run chmod go-w %s", ErrUnsafe, dir, st.Mode&0o7777, dir)
	}
	return nil
}

// path is name inside the checked folder, as a path the kernel resolves
// through the folder's descriptor (short, and immune to renames).
func (f *folder) path(name string) string {
	return "/proc/self/fd/" + strconv.Itoa(f.fd) + "/" + name
}

func (f *folder) close() { unix.Close(f.fd) }

// lock takes the folder's lock without waiting. On success the lock file
// says who holds it; when another process holds it, the error is a
// *HeldError naming that process.
func (f *folder) lock(command string) (*os.File, error) {
	fd, err := unix.Openat(f.fd, LockFile, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data folder %s: lock: %w", f.dir, err)
	}
	lf := os.NewFile(uintptr(fd), LockFile)
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer lf.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &HeldError{Dir: f.dir, Holder: readInfo(lf)}
		}
		return nil, fmt.Errorf("data folder %s: lock: %w", f.dir, err)
	}
	if err := lf.Truncate(0); err == nil {
		_, _ = lf.WriteAt([]byte(fmt.Sprintf("%d %s\n", os.Getpid(), command)), 0)
	}
	return lf, nil
}

// maxInfo caps what is read of a lock file.
const maxInfo = 256

func readInfo(f *os.File) Info {
	b := make([]byte, maxInfo)
	n, _ := f.ReadAt(b, 0)
	pid, cmd, _ := strings.Cut(strings.TrimSpace(string(b[:n])), " ")
	i := Info{Command: cmd}
	i.PID, _ = strconv.Atoi(pid)
	if !validCommand(i.Command) {
		i.Command = ""
	}
	return i
}

// validCommand keeps a command name printable in messages.
func validCommand(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r == ' ' || r == '-' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Holder holds a data folder: no other process can open its store until
// Close. It serves later commands once Serve is called.
type Holder struct {
	f       *folder
	lock    *os.File
	command string
	srv     *server
}

// Hold takes the data folder dir for this process, which runs command
// ("tui", "ask", …). When another process holds it, the error wraps
// ErrHeld and is a *HeldError naming that process.
func Hold(dir, command string) (*Holder, error) {
	f, err := openFolder(dir)
	if err != nil {
		return nil, err
	}
	lf, err := f.lock(command)
	if err != nil {
		f.close()
		return nil, err
	}
	return &Holder{f: f, lock: lf, command: command}, nil
}

// StopServing stops taking commands, waits for the ones in flight and
// removes the socket. The folder stays held: close what the commands used
// (the store) before Close hands the folder on.
func (h *Holder) StopServing() {
	if h.srv != nil {
		h.srv.close()
		_ = unix.Unlinkat(h.f.fd, SocketFile, 0)
		h.srv = nil
	}
}

// Close stops serving (as StopServing) and releases the folder.
func (h *Holder) Close() error {
	h.StopServing()
	err := h.lock.Close() // closing the descriptor releases the flock
	h.f.close()
	return err
}
