package store

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// Group commit. Every audit record goes through one writer goroutine,
// which takes whatever has queued up while it committed the last batch and
// commits it as one transaction: records chained in queue order, the head
// written once. A caller of Audit still waits for its record's commit;
// AuditAsync returns at once, and FlushAudit waits until everything queued
// before it is committed (queue order is commit order), reporting whether
// any of it failed. A batch that fails is retried record by record, so one
// bad record fails alone.

const (
	// auditQueue is how many records may wait for the writer.
	auditQueue = 1024
	// maxAuditBatch caps the records of one transaction.
	maxAuditBatch = 256
	// maxFailedTickets caps the failures FlushAudit can tell apart; older
	// ones count as failed for every flush that could have seen them.
	maxFailedTickets = 4096
)

// auditReq is one record, or a barrier, for the writer.
type auditReq struct {
	rec     AuditRecord
	extra   func(*badger.Txn, AuditRecord) error
	sync    bool
	barrier bool
	ticket  uint64
	done    chan auditDone // nil: nobody waits
}

type auditDone struct {
	rec AuditRecord
	err error
}

// auditWriter is the writer's queue and what it remembers of failures.
type auditWriter struct {
	q       chan auditReq
	stopped chan struct{}

	// enqMu keeps ticket order and queue order the same.
	enqMu  sync.Mutex
	ticket uint64

	failMu sync.Mutex
	failed []uint64 // tickets of async records that failed, ascending
	// dropped is the highest failed ticket no longer in failed.
	dropped uint64
	lastErr error
}

func (s *Store) startAuditWriter() {
	s.writer = &auditWriter{q: make(chan auditReq, auditQueue), stopped: make(chan struct{})}
	go s.runAuditWriter(s.writer)
}

// stopAuditWriter commits what is queued and stops the writer. Callers
// make sure nothing is queued after it (Close holds the store's lock).
func (s *Store) stopAuditWriter() {
	if s.writer == nil {
		return
	}
	close(s.writer.q)
	<-s.writer.stopped
	s.writer = nil
}

// enqueue hands r to the writer; the caller is inside use. A store
// without a writer (read-only) takes nothing.
func (s *Store) enqueue(r auditReq) (uint64, error) {
	w := s.writer
	if w == nil {
		return 0, ErrReadOnly
	}
	w.enqMu.Lock()
	defer w.enqMu.Unlock()
	w.ticket++
	r.ticket = w.ticket
	w.q <- r
	return r.ticket, nil
}

// appendAudit commits rec as the next link, with extra writes in the same
// transaction, and with sync, flushes the log to disk before returning.
// rec must already be checked (prepareAudit) or be the store's own.
func (s *Store) appendAudit(rec AuditRecord, extra func(*badger.Txn, AuditRecord) error, sync bool) (AuditRecord, error) {
	done := make(chan auditDone, 1)
	err := s.use(func() error {
		_, err := s.enqueue(auditReq{rec: rec, extra: extra, sync: sync, done: done})
		return err
	})
	if err != nil {
		return rec, err
	}
	d := <-done
	return d.rec, d.err
}

// AuditAsync queues rec and returns at once, with the ticket FlushAudit
// takes. An error here is a record that can never be written (a bad user
// id, invalid detail, a closed store); a failure to commit it is reported
// by the next FlushAudit whose range covers its ticket.
func (s *Store) AuditAsync(rec AuditRecord) (uint64, error) {
	rec, err := s.prepareAudit(rec)
	if err != nil {
		return 0, err
	}
	var ticket uint64
	err = s.use(func() error {
		var err error
		ticket, err = s.enqueue(auditReq{rec: rec})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("audit %s: %w", rec.User, err)
	}
	return ticket, nil
}

// AuditTicket is the ticket of the last record queued: FlushAudit(t) with
// it covers everything queued afterwards.
func (s *Store) AuditTicket() uint64 {
	var t uint64
	_ = s.use(func() error {
		if w := s.writer; w != nil {
			w.enqMu.Lock()
			t = w.ticket
			w.enqMu.Unlock()
		}
		return nil
	})
	return t
}

// FlushAudit waits until every record queued so far is committed, and
// reports an error if any record queued after ticket since failed.
func (s *Store) FlushAudit(since uint64) error {
	done := make(chan auditDone, 1)
	var w *auditWriter
	var upTo uint64
	err := s.use(func() error {
		var err error
		w = s.writer
		upTo, err = s.enqueue(auditReq{barrier: true, done: done})
		return err
	})
	if err != nil {
		return fmt.Errorf("flush audit: %w", err)
	}
	<-done
	return w.failedBetween(since, upTo)
}

// failedBetween reports a failure of a record with a ticket in (since, upTo).
func (w *auditWriter) failedBetween(since, upTo uint64) error {
	w.failMu.Lock()
	defer w.failMu.Unlock()
	n := 0
	if w.dropped > since {
		n++
	}
	for _, t := range w.failed {
		if t > since && t < upTo {
			n++
		}
	}
	if n > 0 {
		return fmt.Errorf("flush audit: %d or more records could not be written: %w", n, w.lastErr)
	}
	return nil
}

func (w *auditWriter) fail(ticket uint64, err error) {
	w.failMu.Lock()
	defer w.failMu.Unlock()
	if len(w.failed) == maxFailedTickets {
		w.dropped = w.failed[0]
		w.failed = w.failed[1:]
	}
	w.failed = append(w.failed, ticket)
	w.lastErr = err
}

func (s *Store) runAuditWriter(w *auditWriter) {
	defer close(w.stopped)
	batch := make([]auditReq, 0, maxAuditBatch)
	for r := range w.q {
		batch = append(batch[:0], r)
	fill:
		for len(batch) < maxAuditBatch {
			select {
			case r, ok := <-w.q:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.commitAudit(w, batch)
	}
}

// commitAudit commits a batch, or, if that fails, each record alone, and
// answers every request.
func (s *Store) commitAudit(w *auditWriter, batch []auditReq) {
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	outs := make([]AuditRecord, len(batch))
	errs := make([]error, len(batch))
	if err := s.commitRecords(batch, outs); err != nil {
		if records(batch) <= 1 {
			for i := range errs {
				errs[i] = err
			}
		} else {
			for i := range batch {
				errs[i] = s.commitRecords(batch[i:i+1], outs[i:i+1])
			}
		}
	}
	var syncErr error
	for i, r := range batch {
		if r.sync && errs[i] == nil {
			if syncErr = s.syncAnchored(); syncErr != nil {
				syncErr = fmt.Errorf("sync: %w", syncErr)
			}
			break
		}
	}
	for i, r := range batch {
		err := errs[i]
		if err == nil && r.sync {
			err = syncErr
		}
		if err != nil && !r.barrier && r.done == nil {
			w.fail(r.ticket, err)
		}
		if r.done != nil {
			r.done <- auditDone{rec: outs[i], err: err}
		}
	}
}

func records(batch []auditReq) int {
	n := 0
	for _, r := range batch {
		if !r.barrier {
			n++
		}
	}
	return n
}

// commitRecords commits the records of reqs as consecutive links in one
// transaction with the new head, filling outs. The caller holds auditMu.
func (s *Store) commitRecords(reqs []auditReq, outs []AuditRecord) error {
	if records(reqs) == 0 {
		return nil
	}
	// Fail closed on a disk too full to write safely (diskguard.go).
	if err := s.writableLocked(); err != nil {
		return err
	}
	if !s.chain.ready {
		if err := s.reloadHeadLocked(); err != nil {
			return err
		}
	}
	h := s.chain.head
	user := ""
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	for i, r := range reqs {
		if r.barrier {
			continue
		}
		rec := r.rec
		rec.Seq, rec.Prev = h.Seq+1, h.Hash
		b, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		h = ChainHead{Seq: rec.Seq, Hash: chainHash(b), Start: h.Start}
		if err := txn.Set(auditKey(rec.User, rec.Seq), b); err != nil {
			return err
		}
		if r.extra != nil {
			if err := r.extra(txn, rec); err != nil {
				return err
			}
		}
		outs[i], user = rec, rec.User
	}
	hb, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode head: %w", err)
	}
	if err := txn.Set(keyAuditHead, hb); err != nil {
		return err
	}
	if err := s.commitTxn(txn, &h, user); err != nil {
		// Whether it committed is unknown: read the head back first.
		s.chain.ready = false
		return err
	}
	s.chain.head = h
	return nil
}
