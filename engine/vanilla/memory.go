package vanilla

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/isolategpt/isolategpt/specs/jsonlog"
	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// MemoryStore keeps turns in this process only.
type MemoryStore struct {
	mu    sync.Mutex
	turns map[string][]Turn
}

// Recent returns the user's last n turns, oldest first.
func (m *MemoryStore) Recent(user string, n int) ([]Turn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.turns[user]
	if len(t) > n {
		t = t[len(t)-n:]
	}
	return append([]Turn(nil), t...), nil
}

// Append records a turn.
func (m *MemoryStore) Append(user string, t Turn) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.turns == nil {
		m.turns = map[string][]Turn{}
	}
	m.turns[user] = append(m.turns[user], t)
	return nil
}

// FileMemory keeps each user's turns as JSON lines in Dir/<user>.jsonl, so
// the baseline remembers across runs of the command, as VanillaGPT's
// conversation memory does. The file is a jsonlog: a turn is kept whole or
// not at all, a torn last line is moved aside, and a damaged line is an
// error rather than a turn silently forgotten.
type FileMemory struct {
	Dir string
	mu  sync.Mutex
}

// maxMemoryBytes bounds one user's memory file.
const maxMemoryBytes = 64 << 20

func (f *FileMemory) path(user string) string { return filepath.Join(f.Dir, user+".jsonl") }

// open reads the user's turns (each to keep, when not nil).
func (f *FileMemory) open(user string, keep func(Turn)) (*jsonlog.Log, error) {
	l, err := jsonlog.Open(f.path(user), jsonlog.Options{MaxBytes: maxMemoryBytes}, func(line []byte) error {
		var t Turn
		if err := strictjson.Line(line, &t, maxMemoryBytes); err != nil {
			return err
		}
		if keep != nil {
			keep(t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vanilla memory: %w", err)
	}
	return l, nil
}

// Recent returns the user's last n turns, oldest first.
func (f *FileMemory) Recent(user string, n int) ([]Turn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var turns []Turn
	l, err := f.open(user, func(t Turn) { turns = append(turns, t) })
	if err != nil {
		return nil, err
	}
	l.Close()
	if len(turns) > n {
		turns = turns[len(turns)-n:]
	}
	return turns, nil
}

// Append records a turn.
func (f *FileMemory) Append(user string, t Turn) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		return fmt.Errorf("vanilla memory: %w", err)
	}
	line, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("vanilla memory: %w", err)
	}
	l, err := f.open(user, nil)
	if err != nil {
		return err
	}
	defer l.Close()
	if err := l.Append(line); err != nil {
		return fmt.Errorf("vanilla memory: %w", err)
	}
	return nil
}
