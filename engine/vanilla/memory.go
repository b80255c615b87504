package vanilla

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
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
// conversation memory does.
type FileMemory struct {
	Dir string
	mu  sync.Mutex
}

func (f *FileMemory) path(user string) string { return filepath.Join(f.Dir, user+".jsonl") }

// Recent returns the user's last n turns, oldest first.
func (f *FileMemory) Recent(user string, n int) ([]Turn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fh, err := os.Open(f.path(user))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("vanilla memory: %w", err)
	}
	defer fh.Close()
	var turns []Turn
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	for sc.Scan() {
		var t Turn
		if json.Unmarshal(sc.Bytes(), &t) == nil {
			turns = append(turns, t)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("vanilla memory: %w", err)
	}
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
	fh, err := os.OpenFile(f.path(user), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("vanilla memory: %w", err)
	}
	_, werr := fh.Write(append(line, '\n'))
	return errors.Join(werr, fh.Close())
}
