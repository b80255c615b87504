package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// Options configures Open.
type Options struct {
	// Logger receives Badger's own messages. Nil discards them; they never
	// go to stderr, where they would tear the TUI.
	Logger *slog.Logger
	// InMemory keeps everything in memory and ignores the directory; for tests.
	InMemory bool
}

// Store is the persistent state of isolategpt. It is safe for concurrent use.
type Store struct {
	// mu is held shared by every operation and exclusively by Close, so
	// Close waits for operations in flight and none starts after it.
	mu     sync.RWMutex
	closed bool
	db     *badger.DB

	memSeq *badger.Sequence // turns and spoke entries

	// auditMu makes taking the next link of the audit chain and committing
	// it one step, so commit order is Seq order and a reader never sees a
	// later record before an earlier one.
	auditMu sync.Mutex
	chain   auditChain
	writer  *auditWriter // group commit of audit records (auditwriter.go)
}

const (
	valueLogFileSize = 16 << 20
	memTableSize     = 8 << 20
	blockCacheSize   = 16 << 20
	seqBandwidth     = 128
	conflictRetries  = 8
)

// Open opens the store in dir, creating the folder with mode 0700 if it is
// missing. With opts.InMemory, dir is ignored and nothing touches the disk.
func Open(dir string, opts Options) (*Store, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var bo badger.Options
	if opts.InMemory {
		dir = ":memory:"
		bo = badger.DefaultOptions("").WithInMemory(true)
	} else {
		if dir == "" {
			return nil, fmt.Errorf("open store: empty directory")
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("open store %s: %w", dir, err)
		}
		bo = badger.DefaultOptions(dir)
	}
	bo = bo.
		WithLogger(badgerLogger{logger.With("component", "badger")}).
		WithSyncWrites(false).
		WithNumVersionsToKeep(1).
		WithValueLogFileSize(valueLogFileSize).
		WithMemTableSize(memTableSize).
		WithBlockCacheSize(blockCacheSize).
		// Metrics register process-wide expvars; nothing here reads them.
		WithMetricsEnabled(false)

	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s := &Store{db: db}
	if s.memSeq, err = db.GetSequence(keySeqMemory, seqBandwidth); err != nil {
		return nil, errors.Join(fmt.Errorf("open store %s: sequence: %w", dir, err), db.Close())
	}
	if err := s.openAudit(); err != nil {
		return nil, errors.Join(fmt.Errorf("open store %s: %w", dir, err), s.memSeq.Release(), db.Close())
	}
	return s, nil
}

// Close hands back unused sequence numbers, flushes to disk and closes the
// database. Closing twice returns ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("close store: %w", ErrClosed)
	}
	s.closed = true
	s.stopAuditWriter()
	var errs []error
	for _, seq := range []*badger.Sequence{s.memSeq} {
		if err := seq.Release(); err != nil {
			errs = append(errs, fmt.Errorf("release sequence: %w", err))
		}
	}
	if err := s.db.Sync(); err != nil {
		errs = append(errs, fmt.Errorf("sync: %w", err))
	}
	if err := s.db.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// use runs fn unless the store is closed, keeping Close out while it runs.
func (s *Store) use(fn func() error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return fn()
}

// view runs a read-only transaction.
func (s *Store) view(fn func(txn *badger.Txn) error) error {
	return s.use(func() error { return s.db.View(fn) })
}

// update runs a read-write transaction.
func (s *Store) update(fn func(txn *badger.Txn) error) error {
	return s.use(func() error { return s.updateLocked(fn) })
}

// updateLocked is update for a caller already inside use. It retries when
// a concurrent transaction wrote a key this one read.
func (s *Store) updateLocked(fn func(txn *badger.Txn) error) error {
	var err error
	for range conflictRetries {
		if err = s.db.Update(fn); !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
	return err
}

// putJSON stores v under key in its own transaction.
func (s *Store) putJSON(key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	return s.update(func(txn *badger.Txn) error { return txn.Set(key, b) })
}

// deleteExisting removes key, or reports ErrNotFound if it is absent.
func (s *Store) deleteExisting(key []byte) error {
	return s.update(func(txn *badger.Txn) error {
		if _, err := txn.Get(key); errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		return txn.Delete(key)
	})
}

// decode unmarshals the value of item into v.
func decode(item *badger.Item, v any) error {
	err := item.Value(func(b []byte) error { return json.Unmarshal(b, v) })
	if err != nil {
		return fmt.Errorf("decode %q: %w", item.Key(), err)
	}
	return nil
}

// scan decodes every record under pfx in key order.
func scan[T any](s *Store, pfx []byte) ([]T, error) {
	var out []T
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: pfx, PrefetchValues: true, PrefetchSize: 100})
		defer it.Close()
		for it.Seek(pfx); it.Valid(); it.Next() {
			var v T
			if err := decode(it.Item(), &v); err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

// newest decodes the last n records under pfx, whose keys end in a
// sequence number, and returns them oldest first.
func newest[T any](s *Store, pfx []byte, n int) ([]T, error) {
	if n <= 0 {
		return nil, nil
	}
	out := make([]T, 0, min(n, 256))
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{
			Prefix: pfx, Reverse: true, PrefetchValues: true, PrefetchSize: min(n, 100),
		})
		defer it.Close()
		for it.Seek(afterAll(pfx)); it.Valid() && len(out) < n; it.Next() {
			var v T
			if err := decode(it.Item(), &v); err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}
