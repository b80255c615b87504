package wire

import (
	"errors"
	"fmt"

	"github.com/isolategpt/isolategpt/sandbox"
)

var (
	// ErrClosed is returned by calls on a closed Client. It is the same
	// value as sandbox.ErrClosed, so callers behind a sandbox.Conn can test
	// for either.
	ErrClosed = sandbox.ErrClosed
	// ErrBroken marks a connection whose stream can no longer be trusted:
	// the peer closed it, sent a message the decoder refused, answered a
	// call nobody made, or a write failed. Errors carrying it also carry
	// the cause, and sandbox.ErrDead: the app instance is of no further use.
	ErrBroken error = brokenError{}
	// ErrTooLarge marks a line longer than Options.MaxMessageBytes. On
	// input it breaks the stream: the rest of the line is never read.
	ErrTooLarge = errors.New("message too large")

	// ErrMalformed marks one line that is not an acceptable message. The
	// framing is intact, so a server may answer it and read on; a client
	// treats it as a broken stream.
	ErrMalformed = errors.New("malformed message")
	// ErrInvalidUTF8 marks a line that is not valid UTF-8.
	ErrInvalidUTF8 = fmt.Errorf("%w: invalid UTF-8", ErrMalformed)
	// ErrInvalidJSON marks a line that is not one JSON value.
	ErrInvalidJSON = fmt.Errorf("%w: invalid JSON", ErrMalformed)
	// ErrDuplicateKey marks an object with the same key twice: two readers
	// of such an object may each see a different value.
	ErrDuplicateKey = fmt.Errorf("%w: duplicate object key", ErrMalformed)
	// ErrTrailingData marks a line with more after its JSON value.
	ErrTrailingData = fmt.Errorf("%w: trailing data after the value", ErrMalformed)
	// ErrInvalidMessage marks valid JSON that is not a JSON-RPC 2.0
	// request, notification or response.
	ErrInvalidMessage = fmt.Errorf("%w: not a JSON-RPC 2.0 message", ErrMalformed)

	// ErrUnexpectedReply marks a reply that matches no pending call: an
	// unknown id, or a second reply to the same call.
	ErrUnexpectedReply = errors.New("reply matches no pending call")
	// ErrPeerFlood marks a peer that sends requests faster than it reads
	// the refusals the client owes it.
	ErrPeerFlood = errors.New("peer sends requests faster than it reads replies")
	// ErrProtocol marks an MCP message that is valid JSON-RPC but breaks
	// the MCP shapes this package accepts.
	ErrProtocol = errors.New("MCP protocol violation")
	// ErrNoStructured marks a tool whose function reads a structured
	// result and which returned none: the app's failure, not the stream's.
	ErrNoStructured = errors.New("no structured result")
)

// brokenError reads as "wire: connection broken" and is also
// sandbox.ErrDead, without repeating that error's text in every message.
type brokenError struct{}

func (brokenError) Error() string { return "wire: connection broken" }
func (brokenError) Unwrap() error { return sandbox.ErrDead }
