// Package jsonlog keeps an append-only file of JSON lines (an app's
// bookings, a mailbox's journal, the baseline's memory) so that a crash, a
// kill or a full disk never corrupts a record that was reported written.
//
// Each record is one line, written with one write and synced before
// Append returns. A write that fails (a short write on a full disk, a
// failed sync) is cut off again, so the file ends on a whole line. What a
// crash leaves after the last newline (a torn line) is moved aside at
// the next Open, to NAME.torn, and logged: the next record starts on a
// line of its own instead of being glued to the torn bytes. A whole line
// that the caller's decoder refuses is not a torn tail but damage, and
// Open refuses the file, naming it and the line.
package jsonlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/isolategpt/isolategpt/specs/atomicfile"
)

// TornSuffix names the file beside the log that receives torn tails.
const TornSuffix = ".torn"

// Errors. Callers test them with errors.Is.
var (
	// ErrDamaged marks a whole line the caller's decoder refused.
	ErrDamaged = errors.New("damaged record")
	// ErrTooLarge marks a file or a record over the caller's limit.
	ErrTooLarge = errors.New("too large")
	// ErrBroken marks a log whose failed append could not be cut off
	// again: nothing more is appended until it is opened anew (which
	// moves the torn tail aside).
	ErrBroken = errors.New("log needs repair: reopen it")
)

// repairTorn is the defence: a torn tail is moved aside at Open. Only
// this package's tests turn it off, to show what an append after a torn
// line then does.
var repairTorn = true

// Options tune Open.
type Options struct {
	// MaxBytes bounds the file (0: 64 MiB).
	MaxBytes int64
	// Logger receives the repair of a torn tail (nil: slog.Default()).
	Logger *slog.Logger
	// ReadOnly leaves the file as it is: a torn tail is skipped, not
	// moved aside. The log is for reading only (Append fails).
	ReadOnly bool
}

// Log is an open append-only file of JSON lines. Its methods are safe for
// concurrent use.
type Log struct {
	mu     sync.Mutex
	path   string
	max    int64
	ro     bool
	f      *os.File // opened at the first Append
	size   int64    // bytes of whole lines
	count  int      // whole lines
	broken error
}

// Open reads the log at path (a missing file is an empty log), repairs a
// torn tail, and passes each whole line, without its newline, to each (nil:
// none), in order. An error from each refuses the file (ErrDamaged).
func Open(path string, o Options, each func(line []byte) error) (*Log, error) {
	l := &Log{path: path, max: o.MaxBytes, ro: o.ReadOnly}
	if l.max <= 0 {
		l.max = 64 << 20
	}
	data, err := readAll(path, l.max)
	if err != nil {
		return nil, err
	}
	whole := bytes.LastIndexByte(data, '\n') + 1
	// Every whole line is checked before anything is repaired: a damaged
	// file is refused untouched.
	for rest, n := data[:whole], 1; len(rest) > 0; n++ {
		i := bytes.IndexByte(rest, '\n')
		if each != nil {
			if err := each(rest[:i]); err != nil {
				return nil, fmt.Errorf("%s: line %d: %w: %w", path, n, ErrDamaged, err)
			}
		}
		l.count++
		rest = rest[i+1:]
	}
	if o.ReadOnly {
		data = data[:whole]
	} else if torn := data[whole:]; len(torn) > 0 && repairTorn {
		if err := l.moveAside(torn, int64(whole)); err != nil {
			return nil, err
		}
		logger := o.Logger
		if logger == nil {
			logger = slog.Default()
		}
		logger.Warn("torn record moved aside", "file", path, "bytes", len(torn), "to", path+TornSuffix)
		data = data[:whole]
	}
	l.size = int64(len(data))
	return l, nil
}

// readAll reads the file at path, refusing one over max bytes.
func readAll(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: over %d bytes: %w", path, max, ErrTooLarge)
	}
	return data, nil
}

// moveAside appends the torn tail to NAME.torn (synced) before cutting it
// off the log, so the bytes are kept for a person to look at and the log
// ends on a whole line.
func (l *Log) moveAside(torn []byte, whole int64) error {
	tp := l.path + TornSuffix
	t, err := os.OpenFile(tp, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("repair %s: %w", l.path, err)
	}
	_, werr := t.Write(append(append([]byte{}, torn...), '\n'))
	serr := t.Sync()
	if err := errors.Join(werr, serr, t.Close()); err != nil {
		return fmt.Errorf("repair %s: keep torn record: %w", l.path, err)
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("repair %s: %w", l.path, err)
	}
	terr := f.Truncate(whole)
	serr = f.Sync()
	if err := errors.Join(terr, serr, f.Close()); err != nil {
		return fmt.Errorf("repair %s: cut torn record: %w", l.path, err)
	}
	return atomicfile.SyncDir(filepath.Dir(l.path))
}

// Append writes line (one JSON value, no newline) as the next record and
// syncs it. On any error the log is as it was: the partial write is cut
// off again, or, when even that fails, the log refuses further appends
// (ErrBroken) and its next Open moves the tail aside.
func (l *Log) Append(line []byte) error {
	if bytes.IndexByte(line, '\n') >= 0 || len(line) == 0 {
		return fmt.Errorf("append %s: a record is one non-empty line", l.path)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ro {
		return fmt.Errorf("append %s: opened read-only", l.path)
	}
	if l.broken != nil {
		return fmt.Errorf("append %s: %w (%v)", l.path, ErrBroken, l.broken)
	}
	if l.size+int64(len(line))+1 > l.max {
		return fmt.Errorf("append %s: over %d bytes: %w", l.path, l.max, ErrTooLarge)
	}
	if l.f == nil {
		f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			return fmt.Errorf("append %s: %w", l.path, err)
		}
		if err := atomicfile.SyncDir(filepath.Dir(l.path)); err != nil {
			f.Close()
			return fmt.Errorf("append %s: sync folder: %w", l.path, err)
		}
		l.f = f
	}
	rec := make([]byte, 0, len(line)+1)
	rec = append(append(rec, line...), '\n')
	_, err := l.f.Write(rec)
	if err == nil {
		err = l.f.Sync()
	}
	if err != nil {
		if rerr := l.cut(l.size); rerr != nil {
			l.broken = rerr
			return fmt.Errorf("append %s: %w; cutting it off: %w", l.path, err, rerr)
		}
		return fmt.Errorf("append %s: %w", l.path, err)
	}
	l.size += int64(len(rec))
	l.count++
	return nil
}

// cut truncates the file to size and syncs it.
func (l *Log) cut(size int64) error {
	if err := l.f.Truncate(size); err != nil {
		return err
	}
	return l.f.Sync()
}

// Reset empties the log (its records have been folded elsewhere).
func (l *Log) Reset() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ro {
		return fmt.Errorf("reset %s: opened read-only", l.path)
	}
	if l.size == 0 {
		return nil
	}
	if l.f == nil {
		f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return fmt.Errorf("reset %s: %w", l.path, err)
		}
		l.f = f
	}
	if err := l.cut(0); err != nil {
		return fmt.Errorf("reset %s: %w", l.path, err)
	}
	l.size, l.count, l.broken = 0, 0, nil
	return nil
}

// Len is the number of records.
func (l *Log) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count
}

// Size is the file's size in bytes.
func (l *Log) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size
}

// Close closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
