package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// AuditRecord is one entry of the audit log. Only User is part of the key;
// the other fields are recorded as given, however odd, because the audit
// log must show what was attempted.
type AuditRecord struct {
	Seq      uint64          `json:"seq"`
	At       time.Time       `json:"at"`
	User     string          `json:"user"`
	Session  string          `json:"session,omitempty"`
	QueryID  string          `json:"query_id,omitempty"`
	Kind     string          `json:"kind"` // "plan", "step", "isc", "permission", "answer", …
	App      string          `json:"app,omitempty"`
	Function string          `json:"function,omitempty"`
	Outcome  string          `json:"outcome,omitempty"`
	Detail   json.RawMessage `json:"detail,omitempty"`
}

// auditPage is how many records AuditLog reads per transaction; the
// callback runs outside any transaction or lock.
const auditPage = 256

// Audit appends rec to the log and returns it as stored. It assigns Seq,
// starting at 1 and strictly increasing across the store and its restarts
// (a number taken by a failed write is skipped, never reused), and sets a
// zero At to now. There is no way to change or delete a record.
func (s *Store) Audit(rec AuditRecord) (AuditRecord, error) {
	if err := validUser(rec.User); err != nil {
		return AuditRecord{}, fmt.Errorf("audit: %w", err)
	}
	if len(rec.Detail) > 0 && !json.Valid(rec.Detail) {
		return AuditRecord{}, fmt.Errorf("audit %s: detail is not valid JSON", rec.User)
	}
	if rec.At.IsZero() {
		rec.At = time.Now().UTC()
	}
	pfx := auditPrefix(rec.User)
	err := s.use(func() error {
		if err := s.writableLocked(); err != nil {
			return err
		}
		s.auditMu.Lock()
		defer s.auditMu.Unlock()
		n, err := s.auditSeq.Next()
		if err != nil {
			return fmt.Errorf("sequence: %w", err)
		}
		rec.Seq = n + 1
		b, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		key := seqKey(pfx, rec.Seq)
		return s.updateLocked(func(txn *badger.Txn) error { return txn.Set(key, b) })
	})
	if err != nil {
		return AuditRecord{}, fmt.Errorf("audit %s: %w", rec.User, err)
	}
	return rec, nil
}

// AuditLog calls fn for each of user's records in Seq order. It stops at
// the first error from fn and returns that error unchanged.
func (s *Store) AuditLog(user string, fn func(AuditRecord) error) error {
	return s.AuditFrom(user, 0, fn)
}

// AuditFrom is AuditLog from the record numbered from (0 or 1: all), for
// readers that follow the log.
func (s *Store) AuditFrom(user string, from uint64, fn func(AuditRecord) error) error {
	if err := validUser(user); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	pfx := auditPrefix(user)
	start := pfx
	if from > 0 {
		start = seqKey(pfx, from)
	}
	for {
		batch := make([]AuditRecord, 0, auditPage)
		var last []byte
		err := s.view(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: pfx, PrefetchValues: true, PrefetchSize: 100})
			defer it.Close()
			for it.Seek(start); it.Valid() && len(batch) < auditPage; it.Next() {
				var r AuditRecord
				if err := decode(it.Item(), &r); err != nil {
					return err
				}
				batch = append(batch, r)
				last = it.Item().KeyCopy(last)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("audit log %s: %w", user, err)
		}
		for _, r := range batch {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(batch) < auditPage {
			return nil
		}
		// The smallest key after last.
		start = append(last, 0)
	}
}
