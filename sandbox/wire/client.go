package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
)

// MethodCancelled is the MCP notification a Client sends when the context
// of a call that already went out ends; a late reply to that call is then
// dropped rather than taken as unexpected.
const MethodCancelled = "notifications/cancelled"

// maxAbandoned bounds how many cancelled calls a Client remembers in order
// to drop their late replies. Past it the oldest is forgotten, and a reply
// to it would break the connection: failing closed.
const maxAbandoned = 1024

// ctrlQueue is how many refusals and cancel notices may wait for the
// writer. A peer that keeps this queue full is flooding.
const ctrlQueue = 64

// Client sends calls to an untrusted peer and matches its replies. It is
// safe for concurrent use.
//
// The client owns r and w: it closes them, when they are io.Closers, on
// Close or as soon as the stream breaks. Everything read from r is hostile
// input: any message the decoder refuses, a reply nobody waits for, or a
// second reply to one call breaks the connection, and every pending and
// later call fails with an error wrapping ErrBroken and the cause, except
// a line that is not JSON at all (a banner, a log line), which is skipped.
// Of the requests the peer sends, ping and roots/list are answered, and
// sampling and elicitation go to the Host of the call in flight
// (WithCall); any other is refused with CodeMethodNotFound.
type Client struct {
	r    io.Reader
	w    io.Writer
	max  int
	opts Options

	out  chan []byte // calls and notifications, handed over one at a time
	ctrl chan []byte // refusals and cancel notices, never waited for
	done chan struct{}

	nextID atomic.Uint64
	hosts  hosts

	mu        sync.Mutex
	err       error // terminal: ErrClosed or ErrBroken wrapping the cause
	pending   map[uint64]chan *Message
	abandoned map[uint64]struct{}
	order     []uint64 // abandoned ids, oldest first
}

// NewClient starts a client on the peer's output r and input w, with a
// reader and a writer goroutine that end when the connection does.
func NewClient(r io.Reader, w io.Writer, opts Options) *Client {
	c := &Client{
		r: r, w: w, max: opts.maxBytes(), opts: opts,
		out:       make(chan []byte),
		ctrl:      make(chan []byte, ctrlQueue),
		done:      make(chan struct{}),
		pending:   map[uint64]chan *Message{},
		abandoned: map[uint64]struct{}{},
	}
	c.hosts.sem = make(chan struct{}, maxPeerRequests)
	go c.readLoop(NewDecoder(r, opts))
	go c.writeLoop()
	return c
}

// Call sends a request and waits for its reply, decoding the result into
// result (unless result is nil) with encoding/json; pass a
// *json.RawMessage to inspect the bytes first. params must marshal to a
// JSON object or array, or be nil. A JSON-RPC error reply is returned as a
// wrapped *RPCError. When ctx ends first, Call returns its error and the
// connection stays up; a silent peer is only ever given up on through ctx,
// so give calls a deadline.
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	if err := c.call(ctx, method, params, result); err != nil {
		return fmt.Errorf("call %s: %w", method, err)
	}
	return nil
}

func (c *Client) call(ctx context.Context, method string, params, result any) error {
	// select picks at random among ready cases: without this a done
	// context could still send the request.
	if err := ctx.Err(); err != nil {
		return err
	}
	raw, err := marshalParams(params)
	if err != nil {
		return err
	}
	id := c.nextID.Add(1)
	idRaw := strconv.AppendUint(nil, id, 10)
	frame, err := marshalMessage(&Message{ID: idRaw, Method: method, Params: raw}, c.max)
	if err != nil {
		return err
	}
	reply := make(chan *Message, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return c.err
	}
	c.pending[id] = reply
	c.mu.Unlock()

	select {
	case c.out <- frame:
	case <-ctx.Done():
		c.abandon(id, false)
		return ctx.Err()
	case <-c.done:
		return c.terminal()
	}

	var m *Message
	select {
	case m = <-reply:
	case <-ctx.Done():
		c.abandon(id, true)
		c.sendCancel(idRaw, ctx.Err())
		return ctx.Err()
	case <-c.done:
		select {
		case m = <-reply: // it arrived just before the end
		default:
			return c.terminal()
		}
	}
	if m.Error != nil {
		return m.Error
	}
	if result != nil {
		if err := json.Unmarshal(m.Result, result); err != nil {
			return fmt.Errorf("decode result: %w", err)
		}
	}
	return nil
}

// Notify sends a notification. It returns once the writer has taken the
// message, so a later Call or Notify goes out after it.
func (c *Client) Notify(ctx context.Context, method string, params any) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("notify %s: %w", method, err)
	}
	raw, err := marshalParams(params)
	if err != nil {
		return fmt.Errorf("notify %s: %w", method, err)
	}
	frame, err := marshalMessage(&Message{Method: method, Params: raw}, c.max)
	if err != nil {
		return fmt.Errorf("notify %s: %w", method, err)
	}
	select {
	case c.out <- frame:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("notify %s: %w", method, ctx.Err())
	case <-c.done:
		return fmt.Errorf("notify %s: %w", method, c.terminal())
	}
}

// Close fails pending and later calls with ErrClosed and closes r and w.
// It does not wait for the reader goroutine, which ends when r's Read
// returns. Closing twice is harmless.
func (c *Client) Close() error {
	if !c.terminate(ErrClosed) {
		return nil
	}
	return c.closeStreams()
}

// Err reports why the connection ended, or nil while it is up.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Done is closed when the connection ends.
func (c *Client) Done() <-chan struct{} { return c.done }

func (c *Client) terminal() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// terminate ends the connection with err, unless it has ended already.
func (c *Client) terminate(err error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return false
	}
	c.err = err
	c.pending = nil
	close(c.done)
	return true
}

// fail breaks the connection: the peer can no longer be believed, so the
// streams are closed too, which tells a worker to go away.
func (c *Client) fail(cause error) {
	if c.terminate(fmt.Errorf("%w: %w", ErrBroken, cause)) {
		_ = c.closeStreams()
	}
}

func (c *Client) closeStreams() error {
	var err error
	if wc, ok := c.w.(io.Closer); ok {
		err = wc.Close()
	}
	if rc, ok := c.r.(io.Closer); ok {
		_ = rc.Close() // may be the same object as w
	}
	if err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// abandon forgets a call whose context ended. If its request went out, a
// late reply is expected and will be dropped.
func (c *Client) abandon(id uint64, sent bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pending[id]; !ok {
		return // answered meanwhile, or the connection ended
	}
	delete(c.pending, id)
	if !sent {
		return
	}
	c.abandoned[id] = struct{}{}
	c.order = append(c.order, id)
	for len(c.order) > maxAbandoned {
		delete(c.abandoned, c.order[0])
		c.order = c.order[1:]
	}
}

func (c *Client) sendCancel(id json.RawMessage, reason error) {
	params, _ := json.Marshal(struct {
		RequestID json.RawMessage `json:"requestId"`
		Reason    string          `json:"reason"`
	}{id, reason.Error()})
	frame, err := marshalMessage(&Message{Method: MethodCancelled, Params: params}, c.max)
	if err != nil {
		return
	}
	select {
	case c.ctrl <- frame:
	default: // best effort: the late reply is dropped either way
	}
}

func (c *Client) writeLoop() {
	for {
		var frame []byte
		select {
		case frame = <-c.out:
		case frame = <-c.ctrl:
		case <-c.done:
			return
		}
		if _, err := c.w.Write(frame); err != nil {
			c.fail(fmt.Errorf("write: %w", err))
			return
		}
	}
}

func (c *Client) readLoop(dec *Decoder) {
	for {
		m, err := dec.Decode()
		if errors.Is(err, ErrInvalidJSON) || errors.Is(err, ErrInvalidUTF8) {
			// A banner or a log line on stdout is not a message; the
			// framing is intact, so it is skipped, as MCP's own clients
			// do. Valid JSON that breaks JSON-RPC still breaks the stream.
			if c.opts.OnSkip != nil {
				c.opts.OnSkip(err)
			}
			continue
		}
		if err != nil {
			c.fail(err)
			return
		}
		select {
		case <-c.done:
			return // closed: nothing read now can matter
		default:
		}
		if err := c.handle(m); err != nil {
			c.fail(err)
			return
		}
	}
}

func (c *Client) handle(m *Message) error {
	switch {
	case m.IsRequest():
		return c.peerRequest(m)
	case m.IsNotification():
		if m.Method == MethodProgress {
			c.progress(m.Params)
		}
		if c.opts.OnNotify != nil {
			c.opts.OnNotify(m.Method, m.Params)
		}
		return nil
	}
	id, ours := parseID(m.ID)
	c.mu.Lock()
	if ours {
		if reply, ok := c.pending[id]; ok {
			delete(c.pending, id)
			c.mu.Unlock()
			reply <- m // buffered, and only ever sent to once
			return nil
		}
		if _, ok := c.abandoned[id]; ok {
			delete(c.abandoned, id)
			c.mu.Unlock()
			return nil
		}
	}
	c.mu.Unlock()
	if string(m.ID) == "null" {
		// The peer could not read one of our requests: the stream is
		// out of step.
		return fmt.Errorf("peer reported %w", m.Error)
	}
	return fmt.Errorf("%w: id %s", ErrUnexpectedReply, truncate(string(m.ID), 32))
}

// parseID reads an id in the only form a Client sends: a positive decimal
// integer without sign, fraction, exponent or leading zero.
func parseID(raw json.RawMessage) (uint64, bool) {
	if len(raw) == 0 || raw[0] < '1' || raw[0] > '9' {
		return 0, false
	}
	id, err := strconv.ParseUint(string(raw), 10, 64)
	return id, err == nil
}

func marshalParams(params any) (json.RawMessage, error) {
	if params == nil {
		return nil, nil
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("encode params: %w", err)
	}
	if string(raw) == "null" {
		return nil, nil // a nil map, slice or RawMessage: no params
	}
	if !isStructured(raw) {
		return nil, errors.New("encode params: not an object or array")
	}
	return raw, nil
}
