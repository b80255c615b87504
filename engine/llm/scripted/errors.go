package scripted

import "errors"

var (
	// ErrNoRule is returned when no rule matches a request.
	ErrNoRule = errors.New("no rule matched")
	// errEmptySequence is the reply of a Sequence given no replies.
	errEmptySequence = errors.New("empty sequence")
)
