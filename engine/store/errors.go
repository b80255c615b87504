package store

import "errors"

var (
	// ErrNotFound reports that the requested record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrBadID reports a user id, app id or grant key that fails validation.
	ErrBadID = errors.New("bad identifier")
	// ErrClosed reports a call on a store that has been closed.
	ErrClosed = errors.New("store closed")
)

var (
	// ErrDamaged reports a store file that is missing, damaged or does
	// not match the others; the error is a *DamageError naming the file.
	ErrDamaged = errors.New("store damaged")
	// ErrReadOnly reports a write to a store opened read-only.
	ErrReadOnly = errors.New("store opened read-only")
	// ErrDiskFull reports that the disk of the store has less free space
	// than the store needs to write safely; the store refuses writes until
	// there is enough again.
	ErrDiskFull = errors.New("disk full")
	// ErrNeedsReplay reports a read-only open of a store a crash left with
	// a write-ahead log to replay, where no private copy could be made.
	ErrNeedsReplay = errors.New("store was not closed cleanly")
)
