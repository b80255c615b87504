package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// SystemUser owns the records the store writes about the log itself (the
// start of the chain). It is not a valid user id, so no user's log can
// hold them and no user can write one.
const SystemUser = "-"

// Chain record kinds and outcomes.
const (
	// KindChain marks a record about the chain itself.
	KindChain = "chain"
	// ChainStarted is the first chained record of a store whose earlier
	// records predate the chain; its detail says how many there were.
	ChainStarted = "started"
	// ChainHeadRebuilt is written when the head was missing at open from
	// a log that was already chained: a head is never lost by a crash
	// (it is committed with each record), so verify reports it.
	ChainHeadRebuilt = "head rebuilt"
	// OutcomeStarted marks a write step announced before it runs.
	OutcomeStarted = "started"
	// OutcomeInterrupted marks a started write step whose outcome was
	// never recorded: the process stopped while it ran.
	OutcomeInterrupted = "interrupted"
)

// maxRecordBytes bounds one stored audit record when it is read back
// strictly (verify, interruptions); the hub never writes one this large.
const maxRecordBytes = 16 << 20

var (
	// keyAuditHead holds the ChainHead, rewritten with every record.
	keyAuditHead = []byte("chain/audit")
	// intentPrefix holds one key per started write step whose outcome is
	// not yet recorded: intent/<seq:8 BE> → the started record.
	intentPrefix = []byte("intent/")
	// chainDomain separates audit hashes from any other SHA-256 use.
	chainDomain = []byte("isolategpt audit chain v1\n")
)

// ChainHead is the last link of the audit chain. Exported (audit head) and
// kept elsewhere, it lets verify show that the log still extends it.
type ChainHead struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
	// Start is the Seq of the first chained record; records below it
	// predate the chain and are listed, not verified.
	Start uint64 `json:"start,omitempty"`
}

// chainHash is the hash that the next record commits to: SHA-256 over a
// domain tag and the record's stored bytes, which hold its Prev, so each
// hash covers the whole chain before it.
func chainHash(stored []byte) string {
	h := sha256.New()
	h.Write(chainDomain)
	h.Write(stored)
	return hex.EncodeToString(h.Sum(nil))
}

// auditChain is the store's view of the chain, guarded by Store.auditMu.
type auditChain struct {
	head ChainHead
	// ready is false until the head is read, and again after a commit
	// whose outcome is unknown, so the next write reads it back.
	ready bool
	// interrupted are the records written at this open for started
	// write steps that had no outcome.
	interrupted []AuditRecord
}

func auditKey(user string, seq uint64) []byte { return seqKey(prefix(kindAudit, user), seq) }
func intentKey(seq uint64) []byte             { return seqKey(intentPrefix, seq) }

// appendAudit commits rec as the next link, with extra writes in the same
// transaction, and with sync, flushes the log to disk before returning.
// rec must already be checked (prepareAudit) or be the store's own.
func (s *Store) appendAudit(rec AuditRecord, extra func(*badger.Txn, AuditRecord) error, sync bool) (AuditRecord, error) {
	err := s.use(func() error {
		s.auditMu.Lock()
		defer s.auditMu.Unlock()
		if !s.chain.ready {
			if err := s.reloadHeadLocked(); err != nil {
				return err
			}
		}
		h := s.chain.head
		rec.Seq, rec.Prev = h.Seq+1, h.Hash
		b, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		next := ChainHead{Seq: rec.Seq, Hash: chainHash(b), Start: h.Start}
		hb, err := json.Marshal(next)
		if err != nil {
			return fmt.Errorf("encode head: %w", err)
		}
		err = s.updateLocked(func(txn *badger.Txn) error {
			if err := txn.Set(auditKey(rec.User, rec.Seq), b); err != nil {
				return err
			}
			if err := txn.Set(keyAuditHead, hb); err != nil {
				return err
			}
			if extra != nil {
				return extra(txn, rec)
			}
			return nil
		})
		if err != nil {
			// Whether it committed is unknown: read the head back first.
			s.chain.ready = false
			return err
		}
		s.chain.head = next
		if sync {
			if err := s.db.Sync(); err != nil {
				return fmt.Errorf("sync: %w", err)
			}
		}
		return nil
	})
	return rec, err
}

// reloadHeadLocked reads the head back; it must exist once the store is open.
func (s *Store) reloadHeadLocked() error {
	var head ChainHead
	found := false
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		head, found, err = readHead(txn)
		return err
	})
	if err != nil {
		return err
	}
	if !found {
		return errors.New("audit chain head missing")
	}
	s.chain.head, s.chain.ready = head, true
	return nil
}

func readHead(txn *badger.Txn) (ChainHead, bool, error) {
	var head ChainHead
	item, err := txn.Get(keyAuditHead)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return head, false, nil
	}
	if err != nil {
		return head, false, fmt.Errorf("read chain head: %w", err)
	}
	err = item.Value(func(b []byte) error { return strictjson.Unmarshal(b, &head, 4096) })
	if err != nil {
		return head, false, fmt.Errorf("read chain head: %w", err)
	}
	return head, true, nil
}

// ChainHead is the current head of the audit chain.
func (s *Store) ChainHead() (ChainHead, error) {
	var head ChainHead
	err := s.view(func(txn *badger.Txn) error {
		var found bool
		var err error
		head, found, err = readHead(txn)
		if err == nil && !found {
			err = errors.New("audit chain head missing")
		}
		return err
	})
	return head, err
}

// legacyScan is what openAudit learns from the records of a store that
// has no chain head.
type legacyScan struct {
	count    int
	last     uint64
	lastHash string
	gaps     [][2]uint64
	chained  bool   // some record carries a link or is a chain record
	start    uint64 // Seq of the chain-start record, if any
}

// maxGapRanges caps how many gaps a chain-start record lists.
const maxGapRanges = 1000

func scanLegacy(txn *badger.Txn) (legacyScan, error) {
	var ls legacyScan
	seen := map[uint64]bool{}
	pfx := prefix(kindAudit)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: pfx, PrefetchValues: true, PrefetchSize: 100})
	defer it.Close()
	for it.Seek(pfx); it.Valid(); it.Next() {
		item := it.Item()
		key := item.Key()
		if len(key) < len(pfx)+8 {
			continue
		}
		seq := binary.BigEndian.Uint64(key[len(key)-8:])
		var r struct {
			Kind    string `json:"kind"`
			Outcome string `json:"outcome"`
			Prev    string `json:"prev"`
		}
		var sum string
		err := item.Value(func(b []byte) error {
			sum = chainHash(b)
			return json.Unmarshal(b, &r)
		})
		if err != nil {
			return ls, fmt.Errorf("scan audit %q: %w", key, err)
		}
		ls.count++
		seen[seq] = true
		if seq > ls.last {
			ls.last, ls.lastHash = seq, sum
		}
		if r.Prev != "" || r.Kind == KindChain {
			ls.chained = true
		}
		if r.Kind == KindChain && r.Outcome == ChainStarted && (ls.start == 0 || seq < ls.start) {
			ls.start = seq
		}
	}
	for n := uint64(1); n <= ls.last && len(ls.gaps) < maxGapRanges; n++ {
		if seen[n] {
			continue
		}
		lo := n
		for n+1 <= ls.last && !seen[n+1] {
			n++
		}
		ls.gaps = append(ls.gaps, [2]uint64{lo, n})
	}
	return ls, nil
}

// openAudit loads the chain head, starting the chain on a store that has
// none, and marks every started write step without an outcome as
// interrupted. Open calls it before the store is shared.
func (s *Store) openAudit() error {
	var head ChainHead
	var found bool
	var ls legacyScan
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		if head, found, err = readHead(txn); err != nil || found {
			return err
		}
		ls, err = scanLegacy(txn)
		return err
	})
	if err != nil {
		return fmt.Errorf("audit chain: %w", err)
	}
	switch {
	case found:
		s.chain.head, s.chain.ready = head, true
	case ls.count == 0:
		s.chain.head, s.chain.ready = ChainHead{Start: 1}, true
		hb, _ := json.Marshal(s.chain.head)
		if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(keyAuditHead, hb) }); err != nil {
			return fmt.Errorf("audit chain: write head: %w", err)
		}
	case !ls.chained:
		// A store from before the chain: it starts after the last record,
		// and its first record says what came before and was not chained.
		s.chain.head, s.chain.ready = ChainHead{Seq: ls.last, Start: ls.last + 1}, true
		detail, _ := json.Marshal(map[string]any{
			"legacy_records": ls.count, "legacy_last_seq": ls.last, "legacy_gaps": ls.gaps,
			"note": "records up to legacy_last_seq were written before the audit log was chained: they are not verified, and a legacy gap may be a crash or a deletion",
		})
		_, err = s.appendAudit(AuditRecord{At: time.Now().UTC(), User: SystemUser, Kind: KindChain, Outcome: ChainStarted, Detail: detail}, nil, true)
	default:
		// Chained records but no head: the head is committed with each
		// record, so this is damage or tampering, and says so forever.
		start := ls.start
		if start == 0 {
			start = 1
		}
		s.chain.head, s.chain.ready = ChainHead{Seq: ls.last, Hash: ls.lastHash, Start: start}, true
		detail, _ := json.Marshal(map[string]any{"reason": "the chain head was missing at open; rebuilt from the last record found", "last_seq": ls.last})
		_, err = s.appendAudit(AuditRecord{At: time.Now().UTC(), User: SystemUser, Kind: KindChain, Outcome: ChainHeadRebuilt, Detail: detail}, nil, true)
	}
	if err != nil {
		return fmt.Errorf("audit chain: %w", err)
	}
	return s.markInterrupted()
}

// AuditIntent records that a write step is about to run: the record (its
// Outcome set to "started") and an open-intent marker are committed
// together and synced to disk before it returns, so that if the process
// dies while the step runs, the next open finds the marker and records
// the step as interrupted. A caller that gets an error must not run the
// step. The outcome goes to AuditOutcome with the returned record's Seq.
func (s *Store) AuditIntent(rec AuditRecord) (AuditRecord, error) {
	rec, err := s.prepareAudit(rec)
	if err != nil {
		return AuditRecord{}, err
	}
	rec.Outcome, rec.Intent = OutcomeStarted, 0
	out, err := s.appendAudit(rec, func(txn *badger.Txn, r AuditRecord) error {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return txn.Set(intentKey(r.Seq), b)
	}, true)
	if err != nil {
		return AuditRecord{}, fmt.Errorf("audit intent %s: %w", rec.User, err)
	}
	return out, nil
}

// AuditOutcome records the outcome of the write step announced as record
// intent, and closes the intent in the same transaction.
func (s *Store) AuditOutcome(intent uint64, rec AuditRecord) (AuditRecord, error) {
	rec, err := s.prepareAudit(rec)
	if err != nil {
		return AuditRecord{}, err
	}
	rec.Intent = intent
	out, err := s.appendAudit(rec, func(txn *badger.Txn, _ AuditRecord) error {
		return txn.Delete(intentKey(intent))
	}, false)
	if err != nil {
		return AuditRecord{}, fmt.Errorf("audit outcome %s: %w", rec.User, err)
	}
	return out, nil
}

// markInterrupted writes, once, an "interrupted" record for each open
// intent and closes it in the same transaction. Nothing is retried.
func (s *Store) markInterrupted() error {
	var started []AuditRecord
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: intentPrefix, PrefetchValues: true})
		defer it.Close()
		for it.Seek(intentPrefix); it.Valid(); it.Next() {
			var r AuditRecord
			err := it.Item().Value(func(b []byte) error { return strictjson.Unmarshal(b, &r, maxRecordBytes) })
			if err != nil {
				return fmt.Errorf("open intent %q: %w", it.Item().Key(), err)
			}
			if !bytes.Equal(it.Item().Key(), intentKey(r.Seq)) {
				return fmt.Errorf("open intent %q names record %d", it.Item().Key(), r.Seq)
			}
			started = append(started, r)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit interruptions: %w", err)
	}
	for _, r := range started {
		detail, _ := json.Marshal(map[string]any{
			"started_at": r.At, "started": r.Detail,
			"reason": "the process stopped after this write step was started and before its outcome was recorded: whether it took effect is unknown, and it was not retried",
		})
		rec := AuditRecord{
			At: time.Now().UTC(), User: r.User, Session: r.Session, QueryID: r.QueryID, Kind: r.Kind,
			App: r.App, Function: r.Function, Outcome: OutcomeInterrupted, Intent: r.Seq, Detail: detail,
		}
		if err := validUser(rec.User); err != nil {
			return fmt.Errorf("audit interruptions: intent %d: %w", r.Seq, err)
		}
		seq := r.Seq
		out, err := s.appendAudit(rec, func(txn *badger.Txn, _ AuditRecord) error { return txn.Delete(intentKey(seq)) }, true)
		if err != nil {
			return fmt.Errorf("audit interruptions: intent %d: %w", r.Seq, err)
		}
		s.chain.interrupted = append(s.chain.interrupted, out)
	}
	return nil
}

// Interruptions are the write steps found started but without an outcome
// when this store was opened, as the "interrupted" records written for
// them then. A later open does not list them again.
func (s *Store) Interruptions() []AuditRecord {
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	return append([]AuditRecord(nil), s.chain.interrupted...)
}
