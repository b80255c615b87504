package query

import (
	"sync"

	"github.com/isolategpt/isolategpt/engine/store"
)

// maxCachedUsers bounds how many users' recent turns a Memory keeps; past
// it, one user's entry is dropped (and read from the store again when
// needed).
const maxCachedUsers = 4096

// Memory is the hub's memory of each user's recent turns as the store
// holds them, kept so that a query reads it without a store scan. Every
// turn the hub records goes through Append, which writes the store first
// and updates the copy only once the write succeeded, under the user's
// lock, so the copy is always the store's newest turns in the store's
// order. Turns are only ever appended (the store has no delete), so a
// copy cannot go stale inside one engine; another process cannot write
// the store while this one holds it. A nil *Memory reads and writes the
// store directly.
type Memory struct {
	st *store.Store
	n  int

	mu    sync.Mutex
	users map[string]*userTurns
}

type userTurns struct {
	mu     sync.Mutex
	loaded bool
	turns  []store.Turn // oldest first, at most n
}

// NewMemory returns a cache of the newest n turns per user of st.
func NewMemory(st *store.Store, n int) *Memory {
	if n <= 0 {
		n = DefaultMemoryTurns
	}
	return &Memory{st: st, n: n, users: map[string]*userTurns{}}
}

// lock returns user name's entry, locked and still in the cache (an
// entry is dropped only while unlocked, so a writer never updates a copy
// that a later reader no longer sees).
func (m *Memory) lock(name string) *userTurns {
	for {
		u := m.user(name)
		u.mu.Lock()
		m.mu.Lock()
		cur := m.users[name]
		m.mu.Unlock()
		if cur == u {
			return u
		}
		u.mu.Unlock()
	}
}

func (m *Memory) user(name string) *userTurns {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[name]
	if !ok {
		if len(m.users) >= maxCachedUsers {
			for k, v := range m.users {
				// Drop one that no query holds (its lock is free).
				if v.mu.TryLock() {
					delete(m.users, k)
					v.mu.Unlock()
					break
				}
			}
		}
		u = &userTurns{}
		m.users[name] = u
	}
	return u
}

// Recent returns user's newest n turns, oldest first (n at most the
// cache's own n).
func (m *Memory) Recent(st *store.Store, user string, n int) ([]store.Turn, error) {
	if m == nil || m.st != st || n > m.n {
		return st.RecentTurns(user, n)
	}
	u := m.lock(user)
	defer u.mu.Unlock()
	if !u.loaded {
		turns, err := m.st.RecentTurns(user, m.n)
		if err != nil {
			return nil, err
		}
		u.turns, u.loaded = turns, true
	}
	from := max(len(u.turns)-n, 0)
	return append([]store.Turn(nil), u.turns[from:]...), nil
}

// Append records t in user's memory: the store first, then the copy.
func (m *Memory) Append(st *store.Store, user string, t store.Turn) error {
	if m == nil || m.st != st {
		return st.AppendTurn(user, t)
	}
	u := m.lock(user)
	defer u.mu.Unlock()
	if err := m.st.AppendTurn(user, t); err != nil {
		// The store may or may not hold it: read it again next time.
		u.loaded, u.turns = false, nil
		return err
	}
	if u.loaded {
		u.turns = append(u.turns, t)
		if len(u.turns) > m.n {
			u.turns = append([]store.Turn(nil), u.turns[len(u.turns)-m.n:]...)
		}
	}
	return nil
}
