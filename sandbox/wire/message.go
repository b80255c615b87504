package wire

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Version is the only value of a message's "jsonrpc" member.
const Version = "2.0"

// Error codes JSON-RPC 2.0 reserves.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603
)

// DefaultMaxMessageBytes is the line limit used when Options leaves it zero.
const DefaultMaxMessageBytes = 4 << 20

// DefaultMaxConcurrent is how many requests Serve handles at once when
// Options leaves it zero.
const DefaultMaxConcurrent = 8

// Options tunes a Decoder, Encoder, Client or Server. The zero value is
// ready to use.
type Options struct {
	// MaxMessageBytes bounds one line, newline excluded, in both
	// directions. Zero or less means DefaultMaxMessageBytes.
	MaxMessageBytes int
	// MaxConcurrent bounds the requests a Server handles at once. Zero or
	// less means DefaultMaxConcurrent.
	MaxConcurrent int
	// OnNotify, if set, receives the notifications a Client's peer sends.
	// It runs on the client's reader goroutine and must not block; params
	// are the peer's and untrusted.
	OnNotify func(method string, params json.RawMessage)
	// OnSkip, if set, hears of each line a Client skipped because it was
	// not JSON. It runs on the reader goroutine and must not block.
	OnSkip func(err error)
	// NoRoots makes a Client offer no MCP roots; by default it offers one,
	// the app's folder as the app sees it (sandbox.DataPath).
	NoRoots bool
}

func (o Options) maxBytes() int {
	if o.MaxMessageBytes <= 0 {
		return DefaultMaxMessageBytes
	}
	return o.MaxMessageBytes
}

func (o Options) maxConcurrent() int {
	if o.MaxConcurrent <= 0 {
		return DefaultMaxConcurrent
	}
	return o.MaxConcurrent
}

// Message is one JSON-RPC 2.0 message: a request (Method and ID), a
// notification (Method, no ID) or a response (ID and exactly one of Result
// and Error). A nil json.RawMessage is an absent member; the JSON literal
// null is a present one. Messages a Decoder returns hold compact JSON in
// their raw members, in memory of their own.
type Message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *RPCError       `json:"error,omitempty"`
}

// IsRequest reports whether m asks for a reply.
func (m *Message) IsRequest() bool { return m.Method != "" && m.ID != nil }

// IsNotification reports whether m is a request that wants no reply.
func (m *Message) IsNotification() bool { return m.Method != "" && m.ID == nil }

// IsResponse reports whether m answers a request.
func (m *Message) IsResponse() bool { return m.Method == "" }

// RPCError is a JSON-RPC error object. Its Message and Data come from the
// peer and are untrusted.
type RPCError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// Error quotes a bounded prefix of the peer's message, so that printing it
// can neither flood a log nor carry terminal control sequences.
func (e *RPCError) Error() string {
	return fmt.Sprintf("rpc error %d: %q", e.Code, truncate(e.Message, 256))
}

// check enforces the JSON-RPC 2.0 shapes on a message whose raw members are
// already compact, valid JSON.
func (m *Message) check() error {
	if m.JSONRPC != Version {
		return fmt.Errorf("%w: jsonrpc is not %q", ErrInvalidMessage, Version)
	}
	if m.Params != nil && !isStructured(m.Params) {
		return fmt.Errorf("%w: params is not an object or array", ErrInvalidMessage)
	}
	idNull := string(m.ID) == "null"
	if m.ID != nil && !idNull && !isString(m.ID) && !isNumber(m.ID) {
		return fmt.Errorf("%w: id is not a number or string", ErrInvalidMessage)
	}
	if m.Method != "" {
		if m.Result != nil || m.Error != nil {
			return fmt.Errorf("%w: request carries a result or error", ErrInvalidMessage)
		}
		if idNull {
			return fmt.Errorf("%w: request id is null", ErrInvalidMessage)
		}
		return nil
	}
	switch {
	case m.Params != nil:
		return fmt.Errorf("%w: response carries params", ErrInvalidMessage)
	case m.ID == nil:
		return fmt.Errorf("%w: response without id", ErrInvalidMessage)
	case m.Result != nil && m.Error != nil:
		return fmt.Errorf("%w: response has both result and error", ErrInvalidMessage)
	case m.Result == nil && m.Error == nil:
		return fmt.Errorf("%w: response has neither result nor error", ErrInvalidMessage)
	case idNull && m.Error == nil:
		// JSON-RPC allows a null id only on the error reply to a request
		// whose id could not be read.
		return fmt.Errorf("%w: result with null id", ErrInvalidMessage)
	}
	return nil
}

func isStructured(raw json.RawMessage) bool {
	return len(raw) > 0 && (raw[0] == '{' || raw[0] == '[')
}

func isObject(raw json.RawMessage) bool { return len(raw) > 0 && raw[0] == '{' }

func isString(raw json.RawMessage) bool { return len(raw) > 0 && raw[0] == '"' }

func isNumber(raw json.RawMessage) bool {
	return len(raw) > 0 && (raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'))
}

// truncate cuts s to at most n bytes without splitting a rune.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
