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
	Kind     string          `json:"kind"` // "plan", "step", "isc", "permission", "answer", "chain", …
	App      string          `json:"app,omitempty"`
	Function string          `json:"function,omitempty"`
	Outcome  string          `json:"outcome,omitempty"`
	Detail   json.RawMessage `json:"detail,omitempty"`
	// Intent is, on the outcome of a write step, the Seq of the record
	// that announced the step as started (AuditIntent).
	Intent uint64 `json:"intent,omitempty"`
	// Prev is the hash of the record before this one in the chain (hex
	// SHA-256, see chainHash); empty on the first record of the chain and
	// on records written before the chain existed.
	Prev string `json:"prev,omitempty"`
}

// auditPage is how many records AuditLog reads per transaction; the
// callback runs outside any transaction or lock.
const auditPage = 256

// Audit appends rec to the log as the next link of the hash chain and
// returns it as stored. It assigns Seq, one more than the record before
// it, and sets a zero At to now. The record and the new chain head are
// committed in one transaction, so no crash can leave a record without its
// head or a number without its record. There is no way to change or
// delete a record.
func (s *Store) Audit(rec AuditRecord) (AuditRecord, error) {
	rec, err := s.prepareAudit(rec)
	if err != nil {
		return AuditRecord{}, err
	}
	out, err := s.appendAudit(rec, nil, false)
	if err != nil {
		return AuditRecord{}, fmt.Errorf("audit %s: %w", rec.User, err)
	}
	return out, nil
}

// prepareAudit checks what a caller may set and fills the rest.
func (s *Store) prepareAudit(rec AuditRecord) (AuditRecord, error) {
	if err := validUser(rec.User); err != nil {
		return AuditRecord{}, fmt.Errorf("audit: %w", err)
	}
	if len(rec.Detail) > 0 && !json.Valid(rec.Detail) {
		return AuditRecord{}, fmt.Errorf("audit %s: detail is not valid JSON", rec.User)
	}
	if rec.At.IsZero() {
		rec.At = time.Now().UTC()
	}
	rec.Prev = ""
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
