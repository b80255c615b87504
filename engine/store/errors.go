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
