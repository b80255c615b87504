package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Handler answers the requests and notifications a Server reads.
type Handler interface {
	// Handle runs one method. For a request, the result is marshalled
	// into the reply; a returned *RPCError (found with errors.As) is sent
	// as is, any other error as CodeInternalError with its text. For a
	// notification, the return values are dropped.
	Handle(ctx context.Context, method string, params json.RawMessage) (any, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, method string, params json.RawMessage) (any, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, method string, params json.RawMessage) (any, error) {
	return f(ctx, method, params)
}

// Serve answers the requests read from r on w until r ends, the stream
// breaks, or ctx is done. It runs at most Options.MaxConcurrent handlers at
// once, reading no further while all are busy. A line that is not a message
// is answered with CodeParseError (or CodeInvalidRequest for valid JSON of
// the wrong shape), id null, and reading goes on. MethodCancelled cancels
// the context of the request it names, whose reply is then not sent.
// Responses, which a server never asked for, are dropped.
//
// Serve returns nil at the end of r, once the handlers running have
// replied. When ctx ends first it cancels them, waits for them and returns
// ctx's error; a Read already blocked on r is left to return by itself. A
// handler that panics takes the process down: in a worker that is the
// fail-closed outcome, and the hub sees the stream end.
func Serve(ctx context.Context, r io.Reader, w io.Writer, h Handler, opts Options) error {
	s := &server{
		h:        h,
		enc:      NewEncoder(w, opts),
		sem:      make(chan struct{}, opts.maxConcurrent()),
		inflight: map[string]*inflight{},
	}
	ctx, s.stop = context.WithCancelCause(ctx)
	defer s.stop(nil)

	type decoded struct {
		m   *Message
		err error
	}
	lines := make(chan decoded)
	dec := NewDecoder(r, opts)
	go func() {
		for {
			m, err := dec.Decode()
			select {
			case lines <- decoded{m, err}:
			case <-ctx.Done():
				return
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				return
			}
		}
	}()

	var end error
loop:
	for {
		var d decoded
		select {
		case d = <-lines:
		case <-ctx.Done():
			break loop
		}
		switch {
		case errors.Is(d.err, io.EOF):
			break loop
		case errors.Is(d.err, ErrMalformed):
			code := CodeParseError
			if errors.Is(d.err, ErrInvalidMessage) {
				code = CodeInvalidRequest
			}
			s.reply(&Message{ID: json.RawMessage("null"), Error: &RPCError{Code: code, Message: d.err.Error()}})
		case d.err != nil:
			end = fmt.Errorf("serve: %w", d.err)
			break loop
		case d.m.IsResponse():
		case d.m.IsNotification() && d.m.Method == MethodCancelled:
			s.cancel(d.m.Params)
		default:
			select {
			case s.sem <- struct{}{}:
			case <-ctx.Done():
				break loop
			}
			s.start(ctx, d.m)
		}
	}
	if end != nil {
		s.stop(end)
	}
	s.wg.Wait()
	if end != nil {
		return end
	}
	if cause := context.Cause(ctx); cause != nil {
		if errors.Is(cause, errWrite) {
			return fmt.Errorf("serve: %w", cause)
		}
		return ctx.Err()
	}
	return nil
}

var errWrite = errors.New("write reply")

type inflight struct {
	cancel context.CancelFunc
	byPeer bool
}

type server struct {
	h    Handler
	enc  *Encoder
	sem  chan struct{}
	wg   sync.WaitGroup
	stop context.CancelCauseFunc

	mu       sync.Mutex
	inflight map[string]*inflight
}

func (s *server) start(ctx context.Context, m *Message) {
	ctx, cancel := context.WithCancel(ctx)
	var f *inflight
	if m.IsRequest() {
		key := string(m.ID)
		s.mu.Lock()
		_, dup := s.inflight[key]
		if !dup {
			f = &inflight{cancel: cancel}
			s.inflight[key] = f
		}
		s.mu.Unlock()
		if dup {
			cancel()
			<-s.sem
			s.reply(&Message{ID: m.ID, Error: &RPCError{Code: CodeInvalidRequest, Message: "duplicate request id"}})
			return
		}
	}
	s.wg.Go(func() {
		defer func() { <-s.sem }()
		defer cancel()
		res, err := s.h.Handle(ctx, m.Method, m.Params)
		if f == nil {
			return // a notification
		}
		s.mu.Lock()
		delete(s.inflight, string(m.ID))
		byPeer := f.byPeer
		s.mu.Unlock()
		if byPeer {
			return // MCP: a cancelled request gets no reply
		}
		s.reply(response(m.ID, res, err))
	})
}

func response(id json.RawMessage, res any, err error) *Message {
	if err != nil {
		var re *RPCError
		if errors.As(err, &re) {
			return &Message{ID: id, Error: re}
		}
		return &Message{ID: id, Error: &RPCError{Code: CodeInternalError, Message: err.Error()}}
	}
	raw, err := json.Marshal(res)
	if err != nil {
		return &Message{ID: id, Error: &RPCError{Code: CodeInternalError, Message: fmt.Sprintf("encode result: %v", err)}}
	}
	return &Message{ID: id, Result: raw}
}

func (s *server) reply(m *Message) {
	err := s.enc.Encode(m)
	if errors.Is(err, ErrTooLarge) || (err != nil && errors.Is(err, ErrMalformed)) {
		// The reply cannot go out as it is; say so instead of staying
		// silent and leaving the caller waiting.
		err = s.enc.Encode(&Message{ID: m.ID, Error: &RPCError{Code: CodeInternalError, Message: err.Error()}})
	}
	if err != nil {
		s.stop(fmt.Errorf("%w: %w", errWrite, err))
	}
}

// cancel stops the request a MethodCancelled notification names.
func (s *server) cancel(params json.RawMessage) {
	var p struct {
		RequestID json.RawMessage `json:"requestId"`
	}
	if !isObject(params) || json.Unmarshal(params, &p) != nil || p.RequestID == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.inflight[string(compact(p.RequestID))]; ok {
		f.byPeer = true
		f.cancel()
	}
}
