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

	"github.com/isolategpt/isolategpt/sandbox"
)

func TestCallMatchesRepliesOutOfOrder(t *testing.T) {
	c, p := newRawPeer(t, Options{})
	first := goCall(t.Context(), c, "a", nil)
	m1 := p.recv()
	second := goCall(t.Context(), c, "b", []int{1})
	m2 := p.recv()
	if m1.Method != "a" || m2.Method != "b" || string(m2.Params) != "[1]" || string(m1.ID) == string(m2.ID) {
		t.Fatalf("requests: %+v, %+v", m1, m2)
	}
	p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":"to b"}`+"\n", m2.ID))
	p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":"to a"}`+"\n", m1.ID))
	if r := await(t, first); r.err != nil || string(r.raw) != `"to a"` {
		t.Errorf("first call = %s, %v", r.raw, r.err)
	}
	if r := await(t, second); r.err != nil || string(r.raw) != `"to b"` {
		t.Errorf("second call = %s, %v", r.raw, r.err)
	}
}

func TestCallReturnsRPCError(t *testing.T) {
	c, p := newRawPeer(t, Options{})
	call := goCall(t.Context(), c, "m", nil)
	m := p.recv()
	p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"error":{"code":-32602,"message":"bad \u001b[31m","data":{"x":1}}}`+"\n", m.ID))
	r := await(t, call)
	var re *RPCError
	if !errors.As(r.err, &re) {
		t.Fatalf("Call: %v, want *RPCError", r.err)
	}
	if re.Code != CodeInvalidParams || re.Message != "bad \x1b[31m" || string(re.Data) != `{"x":1}` {
		t.Errorf("RPCError = %+v", re)
	}
	if strings.Contains(r.err.Error(), "\x1b") {
		t.Errorf("error text carries a raw escape: %q", r.err.Error())
	}
	if c.Err() != nil {
		t.Errorf("an error reply broke the connection: %v", c.Err())
	}
}

// TestClientBreaks checks that every kind of misbehaviour fails the pending
// call with ErrBroken and its cause, fails later calls the same way, and
// closes the client's output so the worker is told to go.
func TestClientBreaks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		peer  func(p *rawPeer, id json.RawMessage)
		cause error
	}{
		{"reply with an unknown id", func(p *rawPeer, id json.RawMessage) {
			p.send(`{"jsonrpc":"2.0","id":999,"result":{}}` + "\n")
		}, ErrUnexpectedReply},
		{"reply with a string id", func(p *rawPeer, id json.RawMessage) {
			p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":"%s","result":{}}`+"\n", id))
		}, ErrUnexpectedReply},
		{"reply with a non-canonical id", func(p *rawPeer, id json.RawMessage) {
			p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s.0,"result":{}}`+"\n", id))
		}, ErrUnexpectedReply},
		{"error reply with a null id", func(p *rawPeer, id json.RawMessage) {
			p.send(`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}` + "\n")
		}, &RPCError{}},
		{"malformed line", func(p *rawPeer, id json.RawMessage) {
			p.send(`{"jsonrpc":"2.0","id":1,"id":1,"result":{}}` + "\n")
		}, ErrDuplicateKey},
		{"oversized line", func(p *rawPeer, id json.RawMessage) {
			p.send(`{"jsonrpc":"2.0","id":` + string(id) + `,"result":"` + strings.Repeat("x", 2000) + `"}` + "\n")
		}, ErrTooLarge},
		{"peer closes mid-call", func(p *rawPeer, id json.RawMessage) {
			p.w.Close()
		}, io.EOF},
		{"peer dies mid-line", func(p *rawPeer, id json.RawMessage) {
			p.send(`{"jsonrpc":"2.0","id":` + string(id))
			p.w.Close()
		}, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, p := newRawPeer(t, Options{MaxMessageBytes: 1024})
			call := goCall(t.Context(), c, "m", nil)
			tc.peer(p, p.recv().ID)
			r := await(t, call)
			if !errors.Is(r.err, ErrBroken) || !errors.Is(r.err, sandbox.ErrDead) {
				t.Fatalf("pending call: %v, want ErrBroken and sandbox.ErrDead", r.err)
			}
			if re := new(RPCError); errors.As(tc.cause, &re) {
				if !errors.As(r.err, &re) {
					t.Errorf("pending call: %v, want the peer's RPCError as cause", r.err)
				}
			} else if !errors.Is(r.err, tc.cause) {
				t.Errorf("pending call: %v, want cause %v", r.err, tc.cause)
			}
			later := await(t, goCall(t.Context(), c, "m", nil))
			if !errors.Is(later.err, ErrBroken) {
				t.Errorf("later call: %v, want ErrBroken", later.err)
			}
			if err := p.readErr(); !errors.Is(err, io.EOF) {
				t.Errorf("client output ended with %v, want EOF", err)
			}
		})
	}
}

func TestSecondReplyBreaksTheConnection(t *testing.T) {
	c, p := newRawPeer(t, Options{})
	call := goCall(t.Context(), c, "m", nil)
	id := p.recv().ID
	line := fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":1}`+"\n", id)
	p.send(line)
	if r := await(t, call); r.err != nil || string(r.raw) != "1" {
		t.Fatalf("first reply: %s, %v", r.raw, r.err)
	}
	p.send(line)
	select {
	case <-c.Done():
	case <-time.After(wait):
		t.Fatal("a second reply did not break the connection")
	}
	if err := c.Err(); !errors.Is(err, ErrBroken) || !errors.Is(err, ErrUnexpectedReply) {
		t.Fatalf("Err() = %v", err)
	}
}

func TestPeerRequestsAreRefused(t *testing.T) {
	var mu sync.Mutex
	var notes []string
	c, p := newRawPeer(t, Options{OnNotify: func(method string, params json.RawMessage) {
		mu.Lock()
		defer mu.Unlock()
		notes = append(notes, method+" "+string(params))
	}})
	p.send(`{"jsonrpc":"2.0","id":"evil","method":"evil/act","params":{}}` + "\n")
	m := p.recv()
	if string(m.ID) != `"evil"` || m.Error == nil || m.Error.Code != CodeMethodNotFound {
		t.Fatalf("answer to a peer request = %+v", m)
	}
	p.send(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"p":1}}` + "\n")
	// The connection still works, and the notification came through
	// before the reply that follows it.
	call := goCall(t.Context(), c, "m", nil)
	p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":{}}`+"\n", p.recv().ID))
	if r := await(t, call); r.err != nil {
		t.Fatal(r.err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(notes) != 1 || notes[0] != `notifications/progress {"p":1}` {
		t.Errorf("notifications = %q", notes)
	}
}

func TestPeerRequestFloodBreaks(t *testing.T) {
	c, p := newRawPeer(t, Options{})
	go func() {
		// The peer never reads the refusals it is owed.
		for i := range 10 * ctrlQueue {
			if _, err := fmt.Fprintf(p.w, `{"jsonrpc":"2.0","id":%d,"method":"x"}`+"\n", i); err != nil {
				return
			}
		}
	}()
	select {
	case <-c.Done():
	case <-time.After(wait):
		t.Fatal("a flood of requests did not break the connection")
	}
	if err := c.Err(); !errors.Is(err, ErrPeerFlood) {
		t.Fatalf("Err() = %v, want ErrPeerFlood", err)
	}
}

func TestCancelOneCallKeepsOthers(t *testing.T) {
	c, p := newRawPeer(t, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	doomed := goCall(ctx, c, "slow", nil)
	doomedID := p.recv().ID
	other := goCall(t.Context(), c, "fast", nil)
	otherID := p.recv().ID

	cancel()
	if r := await(t, doomed); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled call: %v", r.err)
	}
	note := p.recv()
	var params struct {
		RequestID json.RawMessage `json:"requestId"`
	}
	if note.Method != MethodCancelled || json.Unmarshal(note.Params, &params) != nil || string(params.RequestID) != string(doomedID) {
		t.Fatalf("after cancel the peer got %+v", note)
	}
	// A late reply to the cancelled call is dropped, not taken as a
	// reply to no call.
	p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":"late"}`+"\n", doomedID))
	p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":"ok"}`+"\n", otherID))
	if r := await(t, other); r.err != nil || string(r.raw) != `"ok"` {
		t.Fatalf("other call = %s, %v", r.raw, r.err)
	}
	// Only one late reply is allowed.
	p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":"late"}`+"\n", doomedID))
	select {
	case <-c.Done():
	case <-time.After(wait):
		t.Fatal("a second late reply did not break the connection")
	}
}

func TestCallWithDoneContextSendsNothing(t *testing.T) {
	c, p := newRawPeer(t, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.Call(ctx, "m", nil, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Call: %v", err)
	}
	// The next request the peer sees is the next call's.
	call := goCall(t.Context(), c, "next", nil)
	m := p.recv()
	if m.Method != "next" {
		t.Fatalf("peer got %+v", m)
	}
	p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":{}}`+"\n", m.ID))
	if r := await(t, call); r.err != nil {
		t.Fatal(r.err)
	}
}

func TestCloseFailsPendingCalls(t *testing.T) {
	c, p := newRawPeer(t, Options{})
	pending := goCall(t.Context(), c, "m", nil)
	p.recv()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if r := await(t, pending); !errors.Is(r.err, ErrClosed) || !errors.Is(r.err, sandbox.ErrClosed) {
		t.Fatalf("pending call: %v, want ErrClosed", r.err)
	}
	if err := c.Call(t.Context(), "m", nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("later call: %v, want ErrClosed", err)
	}
	if err := c.Notify(t.Context(), "n", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("later notify: %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := p.readErr(); !errors.Is(err, io.EOF) {
		t.Fatalf("client output ended with %v, want EOF", err)
	}
}

func TestCallRefusesWhatItCannotSend(t *testing.T) {
	c, p := newRawPeer(t, Options{MaxMessageBytes: 256})
	for _, tc := range []struct {
		name   string
		params any
		want   string
	}{
		{"too large", []string{strings.Repeat("x", 300)}, "too large"},
		{"scalar params", 3, "not an object or array"},
		{"unmarshalable params", map[string]any{"f": func() {}}, "unsupported type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Call(t.Context(), "m", tc.params, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Call: %v, want %q", err, tc.want)
			}
		})
	}
	// None of that broke the connection.
	call := goCall(t.Context(), c, "m", nil)
	p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":{}}`+"\n", p.recv().ID))
	if r := await(t, call); r.err != nil {
		t.Fatal(r.err)
	}
}

func TestHundredConcurrentCalls(t *testing.T) {
	c := connect(t, HandlerFunc(func(ctx context.Context, method string, params json.RawMessage) (any, error) {
		return params, nil
	}), Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Go(func() {
			var got []int
			if err := c.Call(t.Context(), "echo", []int{i}, &got); err != nil {
				errs <- err
				return
			}
			if len(got) != 1 || got[0] != i {
				errs <- fmt.Errorf("call %d got %v", i, got)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func BenchmarkCallRoundTrip(b *testing.B) {
	c := connect(b, HandlerFunc(func(ctx context.Context, method string, params json.RawMessage) (any, error) {
		return params, nil
	}), Options{})
	params := map[string]string{"city": "Paris"}
	var out map[string]string
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Call(b.Context(), "echo", params, &out); err != nil {
			b.Fatal(err)
		}
	}
}
