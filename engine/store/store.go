package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Options configures Open.
type Options struct {
	// Logger receives Badger's own messages. Nil discards them; they never
	// go to stderr, where they would tear the TUI.
	Logger *slog.Logger
	// InMemory keeps everything in memory and ignores the directory; for tests.
	InMemory bool
	// ReadOnly opens the store for reading only: nothing in the folder is
	// written, and every write returns ErrReadOnly. A store a crash left
	// with a write-ahead log to replay is read from a private copy.
	ReadOnly bool
	// MinFree is the free space, in bytes, below which the store refuses
	// writes with ErrDiskFull; 0 means DefaultMinFree, negative switches
	// the guard off.
	MinFree int64
	// FreeSpace returns the bytes free to this process in dir; nil means
	// statfs. Tests give a fake.
	FreeSpace func(dir string) (uint64, error)
}

// Store is the persistent state of isolategpt. It is safe for concurrent use.
type Store struct {
	// mu is held shared by every operation and exclusively by Close, so
	// Close waits for operations in flight and none starts after it.
	mu     sync.RWMutex
	closed bool
	db     *badger.DB
	dir    string
	// readOnly: writes return ErrReadOnly.
	readOnly bool
	// snapshot is the private copy a read-only store reads, removed on
	// Close; "" if it reads the folder itself.
	snapshot string
	guard    *diskGuard

	memSeq *badger.Sequence // turns and spoke entries

	// auditMu makes taking the next link of the audit chain and committing
	// it one step, so commit order is Seq order and a reader never sees a
	// later record before an earlier one.
	auditMu sync.Mutex
	chain   auditChain
	writer  *auditWriter // group commit of audit records (auditwriter.go)

	// genMu makes committing a transaction and counting its generation
	// one step (anchor.go); it guards gen and anchor.
	genMu  sync.Mutex
	gen    uint64
	anchor *anchorWriter // nil: in memory, read-only or a restore
}

const (
	valueLogFileSize = 16 << 20
	memTableSize     = 8 << 20
	blockCacheSize   = 16 << 20
	seqBandwidth     = 128
	conflictRetries  = 8
)

// Open opens the store in dir, creating the folder with mode 0700 if it is
// missing (not with opts.ReadOnly). With opts.InMemory, dir is ignored and
// nothing touches the disk.
//
// Before Badger sees the folder, Open checks it (precheck): a missing or
// damaged MANIFEST or KEYREGISTRY, a table the MANIFEST references that
// is missing, or a table it has lost track of is a *DamageError naming
// the file, and nothing in the folder is changed. Badger then verifies the
// checksum of every table as it opens it and of every block and value as
// it reads them; a panic inside Badger while opening is an error too.
func Open(dir string, opts Options) (*Store, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.InMemory {
		return openBadger(":memory:", badger.DefaultOptions("").WithInMemory(true), opts, false, logger)
	}
	if dir == "" {
		return nil, fmt.Errorf("open store: empty directory")
	}
	if opts.ReadOnly {
		return openReadOnly(dir, opts, logger)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	plan, err := precheck(dir)
	if err != nil {
		return nil, err
	}
	if err := checkLogs(dir, plan); err != nil {
		return nil, err
	}
	if err := verifyTables(dir, plan); err != nil {
		return nil, err
	}
	if !plan.fresh {
		// Badger writes as soon as it opens a folder for writing (a new
		// log, a replay that cuts a log short): check the store against
		// its anchor read-only first, so a refused open changes nothing.
		ro, err := openReadOnlyPlanned(dir, plan, opts, logger)
		if err != nil {
			return nil, err
		}
		if err := ro.Close(); err != nil {
			return nil, err
		}
	}
	guard := newDiskGuard(dir, opts, logger)
	if err := guard.check(); err != nil {
		// Opening writes (a new write-ahead log, the sequences): refused
		// on a full disk rather than risking Badger's SIGBUS.
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	if err := setAside(dir, plan); err != nil {
		return nil, err
	}
	// Private copies a killed reader or restore left behind (the data
	// folder's lock keeps a live one from being here now).
	for _, pat := range []string{".store-shadow-*", ".store-restore-*"} {
		stale, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), pat))
		for _, p := range stale {
			os.RemoveAll(p)
		}
	}
	s, err := openBadger(dir, badger.DefaultOptions(dir), opts, false, logger)
	if err != nil {
		return nil, err
	}
	s.guard = guard
	guard.start()
	return s, nil
}

// openBadger opens Badger with the store's options and takes the
// sequences (not for a read-only store, whose sequences would be writes).
func openBadger(dir string, bo badger.Options, opts Options, noSequences bool, logger *slog.Logger) (*Store, error) {
	bo = bo.
		WithLogger(badgerLogger{logger.With("component", "badger")}).
		WithSyncWrites(false).
		WithNumVersionsToKeep(1).
		WithValueLogFileSize(valueLogFileSize).
		WithMemTableSize(memTableSize).
		WithBlockCacheSize(blockCacheSize).
		WithReadOnly(opts.ReadOnly && !opts.InMemory).
		// Every table's checksum when it is opened, every block's when it
		// is read, every value's from the value log: damage is an error,
		// never a silently missing or altered record.
		WithChecksumVerificationMode(options.OnTableAndBlockRead).
		WithVerifyValueChecksum(true).
		// Metrics register process-wide expvars; nothing here reads them.
		WithMetricsEnabled(false)

	db, err := safeOpen(bo)
	if err != nil {
		return nil, openError(dir, err)
	}
	s := &Store{db: db, dir: dir, readOnly: opts.ReadOnly}
	if opts.ReadOnly || noSequences {
		return s, nil
	}
	err = db.View(func(txn *badger.Txn) error {
		m, _, err := storeMark(txn)
		s.gen = m.Gen
		return err
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open store %s: %w", dir, err), db.Close())
	}
	created := false
	if !opts.InMemory {
		if s.anchor, created, err = openAnchor(dir); err != nil {
			return nil, errors.Join(err, db.Close())
		}
		if created {
			logger.Info("store anchor created: from now on a missing or short log is found at open", "file", filepath.Join(dir, anchorName))
		}
	}
	if s.memSeq, err = db.GetSequence(keySeqMemory, seqBandwidth); err != nil {
		return nil, errors.Join(fmt.Errorf("open store %s: sequence: %w", dir, err), db.Close())
	}
	if err := s.openAudit(); err != nil {
		return nil, errors.Join(fmt.Errorf("open store %s: %w", dir, err), s.memSeq.Release(), db.Close())
	}
	if created {
		if err := s.anchorNow(); err != nil {
			return nil, errors.Join(fmt.Errorf("open store %s: %w", dir, err), s.Close())
		}
	}
	return s, nil
}

// openReadOnly opens dir for reading without writing anything in it. A
// missing folder, or one with no store yet, reads as an empty store. A store a crash left
// with logs to replay, or with tables Badger would delete, is read from a
// private copy (a shadow), where Badger may do what it must.
func openReadOnly(dir string, opts Options, logger *slog.Logger) (*Store, error) {
	var plan *folderPlan
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		plan = &folderPlan{fresh: true}
	} else if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	} else if plan, err = precheck(dir); err != nil {
		return nil, err
	}
	if !plan.fresh {
		if err := checkLogs(dir, plan); err != nil {
			return nil, err
		}
		if err := verifyTables(dir, plan); err != nil {
			return nil, err
		}
	}
	return openReadOnlyPlanned(dir, plan, opts, logger)
}

// openReadOnlyPlanned is openReadOnly once the folder's files are checked:
// it opens Badger, or a private copy, and checks the store against its
// anchor.
func openReadOnlyPlanned(dir string, plan *folderPlan, opts Options, logger *slog.Logger) (*Store, error) {
	opts.ReadOnly = true
	if plan.fresh {
		s, err := openBadger(":memory:", badger.DefaultOptions("").WithInMemory(true), Options{InMemory: true}, true, logger)
		if err != nil {
			return nil, err
		}
		s.readOnly, s.dir = true, dir
		return s, nil
	}
	// A folder a crash left goes to a private copy at once: Badger cannot
	// replay a log read-only, nor size a log the crash left empty.
	if len(plan.compacted) == 0 && len(plan.unrecorded) == 0 && !plan.crashed {
		s, err := openBadger(dir, badger.DefaultOptions(dir), opts, true, logger)
		if err == nil {
			return anchored(s, dir)
		}
		if !errors.Is(err, ErrNeedsReplay) {
			return nil, err
		}
	}
	// Replaying the logs in the copy writes: not on a full disk.
	if err := newDiskGuard(filepath.Dir(dir), opts, logger).check(); err != nil {
		return nil, fmt.Errorf("open store %s read-only: a private copy is needed (%w): %w", dir, ErrNeedsReplay, err)
	}
	shadow, err := makeShadow(dir, plan, true)
	if err != nil {
		return nil, fmt.Errorf("%w (%w)", err, ErrNeedsReplay)
	}
	o := opts
	o.ReadOnly = false
	s, err := openBadger(shadow, shadowOptions(shadow), o, true, logger)
	if err != nil {
		os.RemoveAll(shadow)
		return nil, relabel(err, shadow, dir)
	}
	s.readOnly, s.snapshot, s.dir = true, shadow, dir
	return anchored(s, dir)
}

// anchored returns s if it holds what dir's anchor records; else it
// closes s and returns the DamageError.
func anchored(s *Store, dir string) (*Store, error) {
	if err := verifyAnchor(dir, s.db); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// safeOpen is badger.Open with a panic (a truncated table can cause one)
// turned into an error.
func safeOpen(bo badger.Options) (db *badger.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("badger panicked: %v", r)
		}
	}()
	return badger.Open(bo)
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
	s.guard.halt()
	s.stopAuditWriter()
	var errs []error
	for _, seq := range []*badger.Sequence{s.memSeq} {
		if seq == nil {
			continue
		}
		if err := seq.Release(); err != nil {
			errs = append(errs, fmt.Errorf("release sequence: %w", err))
		}
	}
	if !s.readOnly {
		if err := s.syncAnchored(); err != nil {
			errs = append(errs, fmt.Errorf("sync: %w", err))
		}
	}
	if err := s.db.Close(); err != nil {
		errs = append(errs, err)
	}
	if s.anchor != nil {
		// Once more, listing the logs Badger left at its close.
		s.anchor.write(true)
		if err := s.anchor.close(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.snapshot != "" {
		if err := os.RemoveAll(s.snapshot); err != nil {
			errs = append(errs, fmt.Errorf("remove read-only copy: %w", err))
		}
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
// a concurrent transaction wrote a key this one read. It refuses writes to
// a read-only store and, fail closed, to a disk with too little space.
func (s *Store) updateLocked(fn func(txn *badger.Txn) error) error {
	if err := s.writableLocked(); err != nil {
		return err
	}
	var err error
	for range conflictRetries {
		if err = s.updateOnce(fn); !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
	return err
}

// updateOnce is badger.DB.Update committing through commitTxn.
func (s *Store) updateOnce(fn func(txn *badger.Txn) error) error {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	if err := fn(txn); err != nil {
		return err
	}
	return s.commitTxn(txn, nil, "")
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

// PendingAtOpen reports whether a read-only store has what an open that
// writes records once: write steps started and never finished (to be
// marked interrupted), or audit records with no chain head (the chain to
// start). A reader that must show those opens the store for writing once.
func (s *Store) PendingAtOpen() bool {
	if !s.readOnly {
		return false
	}
	pending := false
	_ = s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: intentPrefix})
		pending = func() bool { defer it.Close(); it.Seek(intentPrefix); return it.Valid() }()
		if pending {
			return nil
		}
		if _, found, err := readHead(txn); err != nil || found {
			return nil
		}
		pfx := prefix(kindAudit)
		it = txn.NewIterator(badger.IteratorOptions{Prefix: pfx})
		defer it.Close()
		it.Seek(pfx)
		pending = it.Valid()
		return nil
	})
	return pending
}
