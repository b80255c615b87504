package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Turn is one of the hub's own turns for a user. The engine decides what
// goes into Facts; the store only keeps them in order.
type Turn struct {
	At      time.Time `json:"at"`
	QueryID string    `json:"query_id"`
	Query   string    `json:"query"`
	Facts   []string  `json:"facts"`
}

// Entry is one line of a spoke's memory.
type Entry struct {
	At      time.Time `json:"at"`
	QueryID string    `json:"query_id"`
	Role    string    `json:"role"`
	Text    string    `json:"text"`
}

// AppendTurn adds t to user's hub memory. A zero At is set to now.
func (s *Store) AppendTurn(user string, t Turn) error {
	if err := validUser(user); err != nil {
		return fmt.Errorf("append turn: %w", err)
	}
	if t.At.IsZero() {
		t.At = time.Now().UTC()
	}
	if err := s.appendSeq(turnPrefix(user), t); err != nil {
		return fmt.Errorf("append turn %s: %w", user, err)
	}
	return nil
}

// RecentTurns returns user's newest n turns, oldest first.
func (s *Store) RecentTurns(user string, n int) ([]Turn, error) {
	if err := validUser(user); err != nil {
		return nil, fmt.Errorf("recent turns: %w", err)
	}
	turns, err := newest[Turn](s, turnPrefix(user), n)
	if err != nil {
		return nil, fmt.Errorf("recent turns %s: %w", user, err)
	}
	return turns, nil
}

// appendSeq stores v under pfx followed by the next memory sequence number.
func (s *Store) appendSeq(pfx []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	return s.use(func() error {
		if err := s.writableLocked(); err != nil {
			return err
		}
		n, err := s.memSeq.Next()
		if err != nil {
			return fmt.Errorf("sequence: %w", err)
		}
		key := seqKey(pfx, n)
		return s.updateLocked(func(txn *badger.Txn) error { return txn.Set(key, b) })
	})
}

// SpokeMemory is the memory of one app for one user. A spoke holds only
// this handle, fixed to its (user, app) pair, and cannot name another.
type SpokeMemory struct {
	s    *Store
	user string
	app  string
	pfx  []byte
}

// SpokeMemory returns the memory handle for app acting for user.
func (s *Store) SpokeMemory(user, app string) (*SpokeMemory, error) {
	if err := validUser(user); err != nil {
		return nil, fmt.Errorf("spoke memory: %w", err)
	}
	if err := validApp(app); err != nil {
		return nil, fmt.Errorf("spoke memory: %w", err)
	}
	return &SpokeMemory{s: s, user: user, app: app, pfx: spokePrefix(user, app)}, nil
}

// App returns the app this memory belongs to.
func (m *SpokeMemory) App() string { return m.app }

// Append adds e to the spoke's memory. A zero At is set to now.
func (m *SpokeMemory) Append(e Entry) error {
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	if err := m.s.appendSeq(m.pfx, e); err != nil {
		return fmt.Errorf("append spoke memory %s/%s: %w", m.user, m.app, err)
	}
	return nil
}

// Recent returns the newest n entries, oldest first.
func (m *SpokeMemory) Recent(n int) ([]Entry, error) {
	entries, err := newest[Entry](m.s, m.pfx, n)
	if err != nil {
		return nil, fmt.Errorf("recent spoke memory %s/%s: %w", m.user, m.app, err)
	}
	return entries, nil
}
