package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// serveRaw runs Serve on pipes the test drives by hand.
func serveRaw(t *testing.T, h Handler, opts Options) (in *io.PipeWriter, out *Decoder, served <-chan error) {
	t.Helper()
	sr, in := io.Pipe()
	pr, sw := io.Pipe()
	ch := make(chan error, 1)
	go func() {
		ch <- Serve(t.Context(), sr, sw, h, opts)
		sw.Close()
	}()
	t.Cleanup(func() { in.Close(); pr.Close() })
	return in, NewDecoder(pr, Options{}), ch
}

func readMsg(t *testing.T, d *Decoder) *Message {
	t.Helper()
	ch := make(chan *Message, 1)
	go func() {
		m, err := d.Decode()
		if err != nil {
			t.Errorf("read reply: %v", err)
		}
		ch <- m
	}()
	select {
	case m := <-ch:
		if m == nil {
			t.FailNow()
		}
		return m
	case <-time.After(wait):
		t.Fatal("no reply")
	}
	return nil
}

func awaitServe(t *testing.T, served <-chan error) error {
	t.Helper()
	select {
	case err := <-served:
		return err
	case <-time.After(wait):
		t.Fatal("Serve did not return")
	}
	return nil
}

func TestServeAnswersBadLinesAndReadsOn(t *testing.T) {
	echo := HandlerFunc(func(ctx context.Context, method string, params json.RawMessage) (any, error) {
		return params, nil
	})
	in, out, served := serveRaw(t, echo, Options{})
	for _, tc := range []struct {
		name string
		line string
		code int
	}{
		{"not JSON", "nonsense\n", CodeParseError},
		{"duplicate key", `{"jsonrpc":"2.0","id":1,"id":2,"method":"m"}` + "\n", CodeParseError},
		{"invalid UTF-8", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}\n", CodeParseError},
		{"wrong shape", `{"jsonrpc":"2.0","id":1}` + "\n", CodeInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fmt.Fprint(in, tc.line)
			m := readMsg(t, out)
			if string(m.ID) != "null" || m.Error == nil || m.Error.Code != tc.code {
				t.Fatalf("reply = %+v, want code %d with id null", m, tc.code)
			}
		})
	}
	fmt.Fprint(in, `{"jsonrpc":"2.0","id":"x","method":"echo","params":[1]}`+"\n")
	if m := readMsg(t, out); string(m.ID) != `"x"` || string(m.Result) != "[1]" {
		t.Fatalf("reply after bad lines = %+v", m)
	}
	in.Close()
	if err := awaitServe(t, served); err != nil {
		t.Fatalf("Serve at EOF: %v", err)
	}
}

func TestServeReplies(t *testing.T) {
	h := HandlerFunc(func(ctx context.Context, method string, params json.RawMessage) (any, error) {
		switch method {
		case "rpc":
			return nil, fmt.Errorf("wrapped: %w", &RPCError{Code: 42, Message: "as is", Data: json.RawMessage(`[1]`)})
		case "plain":
			return nil, errors.New("disk full")
		case "unmarshalable":
			return func() {}, nil
		case "huge":
			return strings.Repeat("x", 2000), nil
		case "nil":
			return nil, nil
		}
		return map[string]string{"method": method}, nil
	})
	c := connect(t, h, Options{MaxMessageBytes: 1024})
	for _, tc := range []struct {
		method  string
		code    int
		message string
		result  string
	}{
		{method: "ok", result: `{"method":"ok"}`},
		{method: "nil", result: `null`},
		{method: "rpc", code: 42, message: "as is"},
		{method: "plain", code: CodeInternalError, message: "disk full"},
		{method: "unmarshalable", code: CodeInternalError, message: "encode result: json: unsupported type: func()"},
		{method: "huge", code: CodeInternalError, message: "limit 1024: message too large"},
	} {
		t.Run(tc.method, func(t *testing.T) {
			var raw json.RawMessage
			err := c.Call(t.Context(), tc.method, nil, &raw)
			if tc.code == 0 {
				if err != nil || string(raw) != tc.result {
					t.Fatalf("Call = %s, %v; want %s", raw, err, tc.result)
				}
				return
			}
			var re *RPCError
			if !errors.As(err, &re) || re.Code != tc.code || !strings.Contains(re.Message, tc.message) {
				t.Fatalf("Call: %v; want code %d %q", err, tc.code, tc.message)
			}
		})
	}
}

func TestServeBoundsConcurrency(t *testing.T) {
	const limit, calls = 3, 10
	started := make(chan struct{}, calls)
	release := make(chan struct{})
	var mu sync.Mutex
	running, most := 0, 0
	h := HandlerFunc(func(ctx context.Context, method string, params json.RawMessage) (any, error) {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		started <- struct{}{}
		<-release
		mu.Lock()
		running--
		mu.Unlock()
		return "done", nil
	})
	c := connect(t, h, Options{MaxConcurrent: limit})
	results := make([]<-chan callResult, calls)
	for i := range results {
		results[i] = goCall(t.Context(), c, "block", nil)
	}
	for range limit {
		select {
		case <-started:
		case <-time.After(wait):
			t.Fatal("handlers did not start")
		}
	}
	// The bound holds: no further handler starts while these run.
	select {
	case <-started:
		t.Fatalf("a handler started past the bound of %d", limit)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	for _, r := range results {
		if got := await(t, r); got.err != nil || string(got.raw) != `"done"` {
			t.Fatalf("call = %s, %v", got.raw, got.err)
		}
	}
	if most != limit {
		t.Errorf("at most %d handlers ran at once, want %d", most, limit)
	}
}

func TestServeCancelsOnPeerCancel(t *testing.T) {
	entered := make(chan struct{})
	cancelled := make(chan struct{})
	h := HandlerFunc(func(ctx context.Context, method string, params json.RawMessage) (any, error) {
		if method != "wait" {
			return "quick", nil
		}
		close(entered)
		<-ctx.Done()
		close(cancelled)
		return nil, ctx.Err()
	})
	c := connect(t, h, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	call := goCall(ctx, c, "wait", nil)
	select {
	case <-entered:
	case <-time.After(wait):
		t.Fatal("handler did not start")
	}
	cancel()
	select {
	case <-cancelled:
	case <-time.After(wait):
		t.Fatal("the handler's context was not cancelled")
	}
	if r := await(t, call); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("call: %v", r.err)
	}
	// The server sent no reply to the cancelled call, or the client would
	// have had to drop it; either way the connection is still fine.
	if r := await(t, goCall(t.Context(), c, "quick", nil)); r.err != nil || string(r.raw) != `"quick"` {
		t.Fatalf("later call = %s, %v", r.raw, r.err)
	}
}

func TestServeEnds(t *testing.T) {
	h := HandlerFunc(func(ctx context.Context, method string, params json.RawMessage) (any, error) { return "ok", nil })
	t.Run("oversized line", func(t *testing.T) {
		in, _, served := serveRaw(t, h, Options{MaxMessageBytes: 64})
		go fmt.Fprint(in, `{"jsonrpc":"2.0","id":1,"method":"`+strings.Repeat("m", 100)+`"}`+"\n")
		if err := awaitServe(t, served); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Serve: %v, want ErrTooLarge", err)
		}
	})
	t.Run("context done", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		sr, in := io.Pipe()
		t.Cleanup(func() { in.Close() })
		served := make(chan error, 1)
		go func() { served <- Serve(ctx, sr, io.Discard, h, Options{}) }()
		cancel()
		if err := awaitServe(t, served); !errors.Is(err, context.Canceled) {
			t.Fatalf("Serve: %v, want context.Canceled", err)
		}
	})
	t.Run("reply cannot be written", func(t *testing.T) {
		sr, in := io.Pipe()
		pr, sw := io.Pipe()
		pr.Close() // nobody reads the worker's output
		served := make(chan error, 1)
		go func() { served <- Serve(t.Context(), sr, sw, h, Options{}) }()
		t.Cleanup(func() { in.Close() })
		go fmt.Fprint(in, `{"jsonrpc":"2.0","id":1,"method":"m"}`+"\n")
		if err := awaitServe(t, served); !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("Serve: %v, want the write error", err)
		}
	})
}

func TestServeRefusesDuplicateInFlightID(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	h := HandlerFunc(func(ctx context.Context, method string, params json.RawMessage) (any, error) {
		entered <- struct{}{}
		<-release
		return "first", nil
	})
	in, out, _ := serveRaw(t, h, Options{})
	fmt.Fprint(in, `{"jsonrpc":"2.0","id":5,"method":"block"}`+"\n")
	select {
	case <-entered:
	case <-time.After(wait):
		t.Fatal("handler did not start")
	}
	fmt.Fprint(in, `{"jsonrpc":"2.0","id":5,"method":"block"}`+"\n")
	if m := readMsg(t, out); string(m.ID) != "5" || m.Error == nil || m.Error.Code != CodeInvalidRequest {
		t.Fatalf("reply to the duplicate = %+v", m)
	}
	close(release)
	if m := readMsg(t, out); string(m.ID) != "5" || string(m.Result) != `"first"` {
		t.Fatalf("reply to the first = %+v", m)
	}
	if len(entered) != 0 {
		t.Error("the duplicate request reached the handler")
	}
}

func TestServeAnswersRequestNamedCancelled(t *testing.T) {
	// Only the notification form cancels; a request of that name is an
	// ordinary request and gets its reply.
	h := HandlerFunc(func(ctx context.Context, method string, params json.RawMessage) (any, error) { return method, nil })
	in, out, _ := serveRaw(t, h, Options{})
	fmt.Fprint(in, `{"jsonrpc":"2.0","id":1,"method":"notifications/cancelled","params":{"requestId":1}}`+"\n")
	if m := readMsg(t, out); string(m.ID) != "1" || string(m.Result) != `"notifications/cancelled"` {
		t.Fatalf("reply = %+v", m)
	}
}
