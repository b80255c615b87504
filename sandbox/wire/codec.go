package wire

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"unicode/utf8"
)

// readChunk is the bufio buffer a Decoder reads through; a line longer than
// this is gathered chunk by chunk, never past the message limit. Small: a
// hub holds one per live worker (thousands), and most messages are short.
const readChunk = 4 << 10

// Decoder reads messages, one per line, from an untrusted stream.
//
// A line that is not an acceptable message is refused with an error wrapping
// ErrMalformed; the next Decode reads the next line. A line longer than the
// limit, a final line without its newline, or a read error breaks the
// stream: that Decode and every later one return the same error.
type Decoder struct {
	br   *bufio.Reader
	max  int
	line []byte
	err  error
}

// NewDecoder returns a Decoder reading from r with opts' line limit.
func NewDecoder(r io.Reader, opts Options) *Decoder {
	return &Decoder{br: bufio.NewReaderSize(r, readChunk), max: opts.maxBytes()}
}

// Decode reads and checks the next message. It returns io.EOF when the
// stream ends cleanly between lines.
func (d *Decoder) Decode() (*Message, error) {
	if d.err != nil {
		return nil, d.err
	}
	line, err := d.readLine()
	if err != nil {
		d.err = err
		return nil, err
	}
	m, err := parseMessage(line)
	if cap(d.line) > readChunk {
		// Keep a large line's buffer only as long as the line.
		d.line = nil
	}
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return m, nil
}

func (d *Decoder) readLine() ([]byte, error) {
	d.line = d.line[:0]
	for {
		chunk, err := d.br.ReadSlice('\n')
		n := len(chunk)
		if err == nil {
			n-- // the newline is not part of the message
		}
		if len(d.line)+n > d.max {
			return nil, fmt.Errorf("read: line exceeds %d bytes: %w", d.max, ErrTooLarge)
		}
		d.line = append(d.line, chunk[:n]...)
		switch {
		case err == nil:
			return d.line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(d.line) == 0:
			return nil, io.EOF
		case errors.Is(err, io.EOF):
			return nil, fmt.Errorf("read: line without newline at end of stream: %w", io.ErrUnexpectedEOF)
		default:
			return nil, fmt.Errorf("read: %w", err)
		}
	}
}

// members are the names JSON-RPC 2.0 defines; anything else is refused, so
// no member can mean one thing here and another to a laxer reader.
var members = map[string]bool{"jsonrpc": true, "id": true, "method": true, "params": true, "result": true, "error": true}

// parseMessage checks one line and builds its Message. The members are
// read by their exact names, never by encoding/json's case-insensitive
// matching, so "ID" or "Id" cannot stand in for "id".
func parseMessage(line []byte) (*Message, error) {
	if err := checkJSON(line); err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if first := firstByte(line); first != '{' {
		return nil, fmt.Errorf("%w: not an object (batches are not supported)", ErrInvalidMessage)
	}
	if err := json.Unmarshal(line, &fields); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidMessage, err)
	}
	m := &Message{}
	for k, v := range fields {
		if !members[k] {
			return nil, fmt.Errorf("%w: unknown member %q", ErrInvalidMessage, truncate(k, 64))
		}
		v = compact(v)
		switch k {
		case "jsonrpc":
			if !isString(v) {
				return nil, fmt.Errorf("%w: jsonrpc is not a string", ErrInvalidMessage)
			}
			_ = json.Unmarshal(v, &m.JSONRPC)
		case "id":
			m.ID = v
		case "method":
			if !isString(v) {
				return nil, fmt.Errorf("%w: method is not a string", ErrInvalidMessage)
			}
			_ = json.Unmarshal(v, &m.Method)
			if m.Method == "" {
				return nil, fmt.Errorf("%w: empty method", ErrInvalidMessage)
			}
		case "params":
			m.Params = v
		case "result":
			m.Result = v
		case "error":
			e, err := parseError(v)
			if err != nil {
				return nil, err
			}
			m.Error = e
		}
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}

func parseError(raw json.RawMessage) (*RPCError, error) {
	if !isObject(raw) {
		return nil, fmt.Errorf("%w: error is not an object", ErrInvalidMessage)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("%w: error: %v", ErrInvalidMessage, err)
	}
	e := &RPCError{}
	code, ok := fields["code"]
	if !ok {
		return nil, fmt.Errorf("%w: error without code", ErrInvalidMessage)
	}
	c, err := strconv.ParseInt(string(code), 10, strconv.IntSize)
	if err != nil {
		return nil, fmt.Errorf("%w: error code is not an integer", ErrInvalidMessage)
	}
	e.Code = int(c)
	msg, ok := fields["message"]
	if !ok || !isString(msg) {
		return nil, fmt.Errorf("%w: error message is not a string", ErrInvalidMessage)
	}
	_ = json.Unmarshal(msg, &e.Message)
	for k, v := range fields {
		switch k {
		case "code", "message":
		case "data":
			e.Data = v // a copy, and compact: raw was
		default:
			return nil, fmt.Errorf("%w: error has unknown member %q", ErrInvalidMessage, truncate(k, 64))
		}
	}
	return e, nil
}

// checkJSON accepts exactly one JSON value of valid UTF-8, optionally
// surrounded by white space, in which no object repeats a key.
func checkJSON(b []byte) error {
	if !utf8.Valid(b) {
		return ErrInvalidUTF8
	}
	// json.Valid is the fast gate, and bounds nesting before the walk
	// below allocates for it.
	if !json.Valid(b) {
		if err := walkJSON(b); errors.Is(err, ErrTrailingData) {
			return err
		}
		return ErrInvalidJSON
	}
	return walkJSON(b)
}

// walkJSON tokenizes one value, remembering the keys of each open object.
// Keys are compared after unescaping, so "a" and "\u0061" are the same key.
func walkJSON(b []byte) error {
	type frame struct {
		object  bool
		wantKey bool
		keys    map[string]struct{}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // a number out of float64's range is still valid JSON
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return ErrInvalidJSON
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
		} else if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
			top := stack[n-1]
			key, _ := tok.(string)
			if _, dup := top.keys[key]; dup {
				return fmt.Errorf("%w %q", ErrDuplicateKey, truncate(key, 64))
			}
			top.keys[key] = struct{}{}
			top.wantKey = false
			continue
		} else {
			if n > 0 && stack[n-1].object {
				stack[n-1].wantKey = true
			}
			if d, ok := tok.(json.Delim); ok {
				f := &frame{object: d == '{', wantKey: d == '{'}
				if f.object {
					f.keys = map[string]struct{}{}
				}
				stack = append(stack, f)
			}
		}
		if len(stack) == 0 {
			break
		}
	}
	if len(bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n")) > 0 {
		return ErrTrailingData
	}
	return nil
}

func firstByte(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// compact returns valid JSON without insignificant white space, in new
// memory.
func compact(raw []byte) json.RawMessage {
	var buf bytes.Buffer
	buf.Grow(len(raw))
	_ = json.Compact(&buf, raw) // raw passed checkJSON
	return buf.Bytes()
}

// Encoder writes messages, one per line. It is safe for concurrent use: each
// message goes out in a single Write.
type Encoder struct {
	mu  sync.Mutex
	w   io.Writer
	max int
}

// NewEncoder returns an Encoder writing to w with opts' line limit.
func NewEncoder(w io.Writer, opts Options) *Encoder {
	return &Encoder{w: w, max: opts.maxBytes()}
}

// Encode checks m and writes it as one line. An empty JSONRPC means
// Version. A message that would exceed the limit is not written and the
// error wraps ErrTooLarge.
func (e *Encoder) Encode(m *Message) error {
	line, err := marshalMessage(m, e.max)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.w.Write(line); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// marshalMessage renders m as one line, newline included. Raw members are
// compacted, which also proves they hold no newline.
func marshalMessage(m *Message, max int) ([]byte, error) {
	n := Message{JSONRPC: m.JSONRPC, Method: m.Method}
	if n.JSONRPC == "" {
		n.JSONRPC = Version
	}
	var err error
	if n.ID, err = compactRaw(m.ID, "id"); err != nil {
		return nil, err
	}
	if n.Params, err = compactRaw(m.Params, "params"); err != nil {
		return nil, err
	}
	if n.Result, err = compactRaw(m.Result, "result"); err != nil {
		return nil, err
	}
	if m.Error != nil {
		n.Error = &RPCError{Code: m.Error.Code, Message: m.Error.Message}
		if n.Error.Data, err = compactRaw(m.Error.Data, "error data"); err != nil {
			return nil, err
		}
	}
	if err := n.check(); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	b := make([]byte, 0, 64+len(n.ID)+len(n.Method)+len(n.Params)+len(n.Result))
	b = append(b, `{"jsonrpc":"2.0"`...)
	if n.ID != nil {
		b = append(append(b, `,"id":`...), n.ID...)
	}
	if n.Method != "" {
		b = appendString(append(b, `,"method":`...), n.Method)
	}
	if n.Params != nil {
		b = append(append(b, `,"params":`...), n.Params...)
	}
	if n.Result != nil {
		b = append(append(b, `,"result":`...), n.Result...)
	}
	if n.Error != nil {
		b = strconv.AppendInt(append(b, `,"error":{"code":`...), int64(n.Error.Code), 10)
		b = appendString(append(b, `,"message":`...), n.Error.Message)
		if n.Error.Data != nil {
			b = append(append(b, `,"data":`...), n.Error.Data...)
		}
		b = append(b, '}')
	}
	b = append(b, '}')
	if len(b) > max {
		return nil, fmt.Errorf("encode: %d bytes, limit %d: %w", len(b), max, ErrTooLarge)
	}
	return append(b, '\n'), nil
}

func compactRaw(raw json.RawMessage, what string) (json.RawMessage, error) {
	if raw == nil {
		return nil, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("encode %s: %w", what, ErrInvalidJSON)
	}
	return buf.Bytes(), nil
}

func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}
