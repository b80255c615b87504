package store

import (
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"time"
)

// DefaultMinFree is the free space below which the store refuses writes.
// Badger writes its logs and tables through memory maps created at their
// full size but not allocated on disk; a write to such a page when the
// disk is full kills the process with SIGBUS, which no Go code can catch
// (debug.SetPanicOnFault covers only the goroutine that sets it, and
// Badger writes from its own). So the store stops writing while there is
// still room for what Badger may have mapped: a write-ahead log and a
// value log (2×16 MiB each), the table a flush writes and a compaction's.
const DefaultMinFree = 128 << 20

// guardInterval is how often the guard looks at the free space on its
// own, to log when the disk fills and when space returns.
const guardInterval = time.Second

// DiskFullError reports too little free space for the store to write.
// errors.Is(err, ErrDiskFull) holds for it.
type DiskFullError struct {
	Dir        string
	Free, Need uint64
}

func (e *DiskFullError) Error() string {
	return fmt.Sprintf("disk full: %s has %s free, the store needs %s to write safely; nothing was written — free some space and retry (the store resumes by itself)",
		e.Dir, mib(e.Free), mib(e.Need))
}

// Unwrap lets errors.Is find ErrDiskFull.
func (e *DiskFullError) Unwrap() error { return ErrDiskFull }

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// statfsFree is the space free to an unprivileged process on dir's file
// system.
func statfsFree(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}

// diskGuard watches the free space of the store's file system.
type diskGuard struct {
	dir    string
	need   uint64
	free   func(string) (uint64, error)
	logger *slog.Logger

	mu   sync.Mutex
	last error // the last check's verdict
	stop chan struct{}
	done chan struct{}
}

// newDiskGuard returns the guard for dir, or nil if opts switch it off.
func newDiskGuard(dir string, opts Options, logger *slog.Logger) *diskGuard {
	if opts.MinFree < 0 {
		return nil
	}
	g := &diskGuard{dir: dir, need: uint64(opts.MinFree), free: opts.FreeSpace, logger: logger}
	if g.need == 0 {
		g.need = DefaultMinFree
	}
	if g.free == nil {
		g.free = statfsFree
	}
	return g
}

// check measures the free space now; nil means the store may write.
// Failing to measure refuses writes too.
func (g *diskGuard) check() error {
	if g == nil {
		return nil
	}
	var err error
	if n, ferr := g.free(g.dir); ferr != nil {
		err = fmt.Errorf("%w: cannot measure the free space of %s: %v", ErrDiskFull, g.dir, ferr)
	} else if n < g.need {
		err = &DiskFullError{Dir: g.dir, Free: n, Need: g.need}
	}
	g.mu.Lock()
	was := g.last
	g.last = err
	g.mu.Unlock()
	switch {
	case err != nil && was == nil:
		g.logger.Error("store refuses writes", "err", err)
	case err == nil && was != nil:
		g.logger.Info("store writes again: free space is back", "dir", g.dir)
	}
	return err
}

// start checks on a timer until stopped.
func (g *diskGuard) start() {
	if g == nil {
		return
	}
	g.stop, g.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(g.done)
		t := time.NewTicker(guardInterval)
		defer t.Stop()
		for {
			select {
			case <-g.stop:
				return
			case <-t.C:
				g.check()
			}
		}
	}()
}

func (g *diskGuard) halt() {
	if g == nil || g.stop == nil {
		return
	}
	close(g.stop)
	<-g.done
	g.stop = nil
}

// Writable reports whether a write would be accepted now: nil, or
// ErrClosed, ErrReadOnly or ErrDiskFull. A query whose audit records
// could not be written must not start, so front ends call it before each.
func (s *Store) Writable() error {
	return s.use(s.writableLocked)
}

// writableLocked is Writable for a caller inside use. It measures the
// free space on every call: a statfs costs about a microsecond, a write
// that fills the disk costs the process.
func (s *Store) writableLocked() error {
	if s.readOnly {
		return ErrReadOnly
	}
	if err := s.guard.check(); err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	return nil
}
