package query

import (
	"errors"
	"sync"
	"syscall"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/store"
)

// No status may claim an effect whose outcome the audit log does not
// hold. auditFaults collects what went wrong with the query's records
// while it ran: a write step's outcome that could not close its intent
// (the next open of the store will call that step interrupted), and any
// store error (a full disk, a damaged store) met on the way, which front
// ends turn into their store exit code.

// checkOutcomes switches the outcome check off for the test that shows
// what it prevents; nothing else sets it.
var checkOutcomes = true

// auditFaults is safe for the executor's concurrent steps.
type auditFaults struct {
	mu sync.Mutex
	// outcome is the first outcome record that could not be written.
	outcome error
	// wrote: a write step was recorded as started, so something may
	// have been changed outside the hub.
	wrote bool
	// storeErr is the first store error met (full, damaged).
	storeErr error
}

// started notes a write step recorded as started.
func (f *auditFaults) started() {
	f.mu.Lock()
	f.wrote = true
	f.mu.Unlock()
}

// outcomeFailed notes an outcome record that could not be written.
func (f *auditFaults) outcomeFailed(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.outcome == nil && checkOutcomes {
		f.outcome = err
	}
	f.noteLocked(err)
}

// note keeps err if it is the store's (full, damaged, unusable).
func (f *auditFaults) note(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.noteLocked(err)
}

func (f *auditFaults) noteLocked(err error) {
	if f.storeErr == nil && IsStoreError(err) {
		f.storeErr = err
	}
}

// failure is the reason the answer must be withheld: flushErr (the group
// commit's verdict on the query's records), or an outcome record that
// could not be written; nil when every record is on disk.
func (f *auditFaults) failure(flushErr error) error {
	f.note(flushErr)
	f.mu.Lock()
	defer f.mu.Unlock()
	if flushErr != nil {
		return flushErr
	}
	return f.outcome
}

// status is the query's status when its records are not all on disk:
// interrupted (outcome unknown) once a write step may have run, failed
// when nothing could have been changed.
func (f *auditFaults) status() msg.Outcome {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.wrote {
		return msg.Interrupted
	}
	return msg.Failed
}

// store is the first store error met, nil when none.
func (f *auditFaults) store() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.storeErr
}

// IsStoreError reports whether err is the store's own: a full disk (the
// store's guard, or the file system's own ENOSPC or quota), a damaged
// store, one not closed cleanly. Front ends exit with their store code
// for it.
func IsStoreError(err error) bool {
	return errors.Is(err, store.ErrDiskFull) || errors.Is(err, store.ErrDamaged) || errors.Is(err, store.ErrNeedsReplay) ||
		errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// SwitchOutcomeCheck turns the outcome check on or off, for the test
// that shows what it prevents, and returns the function that restores it.
func SwitchOutcomeCheck(on bool) (restore func()) {
	was := checkOutcomes
	checkOutcomes = on
	return func() { checkOutcomes = was }
}
