package wire

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"
)

// wait is how long a test waits for an event that should come at once.
const wait = 5 * time.Second

// connect runs Serve with h behind a Client, over two in-memory pipes.
func connect(t testing.TB, h Handler, opts Options) *Client {
	t.Helper()
	cr, sw := io.Pipe() // worker's stdout
	sr, cw := io.Pipe() // worker's stdin
	served := make(chan error, 1)
	go func() {
		err := Serve(context.Background(), sr, sw, h, opts)
		sw.Close()
		served <- err
	}()
	c := NewClient(cr, cw, opts)
	t.Cleanup(func() {
		c.Close() // EOF on the worker's stdin ends Serve
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(wait):
			t.Error("Serve did not return after the client closed")
		}
	})
	return c
}

// rawPeer is a hand-driven peer: the test reads what the client writes and
// writes whatever it likes back.
type rawPeer struct {
	t   *testing.T
	dec *Decoder
	w   *io.PipeWriter
	r   *io.PipeReader
}

func newRawPeer(t *testing.T, opts Options) (*Client, *rawPeer) {
	t.Helper()
	cr, pw := io.Pipe()
	pr, cw := io.Pipe()
	c := NewClient(cr, cw, opts)
	t.Cleanup(func() {
		c.Close()
		pw.Close()
		pr.Close()
	})
	return c, &rawPeer{t: t, dec: NewDecoder(pr, Options{}), w: pw, r: pr}
}

// recv reads the next message the client wrote.
func (p *rawPeer) recv() *Message {
	p.t.Helper()
	type res struct {
		m   *Message
		err error
	}
	ch := make(chan res, 1)
	go func() {
		m, err := p.dec.Decode()
		ch <- res{m, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			p.t.Fatalf("peer read: %v", r.err)
		}
		return r.m
	case <-time.After(wait):
		p.t.Fatal("peer read: nothing came")
	}
	return nil
}

// readErr waits for the client's side of the stream to end and returns
// the error the peer's read got.
func (p *rawPeer) readErr() error {
	p.t.Helper()
	ch := make(chan error, 1)
	go func() {
		for {
			if _, err := p.dec.Decode(); err != nil && !errors.Is(err, ErrMalformed) {
				ch <- err
				return
			}
		}
	}()
	select {
	case err := <-ch:
		return err
	case <-time.After(wait):
		p.t.Fatal("the client kept its output open")
	}
	return nil
}

// send writes raw bytes to the client; the write may fail if the client
// has broken the connection already, which send ignores.
func (p *rawPeer) send(s string) {
	p.t.Helper()
	done := make(chan struct{})
	go func() {
		_, _ = p.w.Write([]byte(s))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(wait):
		p.t.Fatal("peer write: the client does not read")
	}
}

// goCall runs c.Call in the background; the returned channel gets its
// error and raw result.
func goCall(ctx context.Context, c *Client, method string, params any) <-chan callResult {
	ch := make(chan callResult, 1)
	go func() {
		var raw json.RawMessage
		err := c.Call(ctx, method, params, &raw)
		ch <- callResult{raw, err}
	}()
	return ch
}

type callResult struct {
	raw json.RawMessage
	err error
}

func await(t *testing.T, ch <-chan callResult) callResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(wait):
		t.Fatal("call did not return")
	}
	return callResult{}
}
