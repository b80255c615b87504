package egress

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// startForward runs Forward on a fresh 127.0.0.1 listener and returns its
// address, a cancel for its context, and a wait for its result that fails
// the test if Forward does not return within waitLimit.
func startForward(t *testing.T, sock string) (string, context.CancelFunc, func() error) {
	t.Helper()
	return startForwardDial(t, dialUnix(sock))
}

func dialUnix(sock string) func(context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}
}

func startForwardDial(t *testing.T, dial func(context.Context) (net.Conn, error)) (string, context.CancelFunc, func() error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Forward(ctx, l, dial) }()
	wait := sync.OnceValue(func() error {
		select {
		case err := <-done:
			return err
		case <-time.After(waitLimit):
			t.Error("Forward did not return")
			return nil
		}
	})
	t.Cleanup(func() {
		cancel()
		wait()
	})
	return l.Addr().String(), cancel, wait
}

func TestForwardRelays(t *testing.T) {
	echo := startEcho(t)
	rec := newRecorder()
	sock, _ := startProxy(t, loopbackConfig(echo.port, rec.audit))
	addr, _, _ := startForward(t, sock)

	t.Run("tunnel", func(t *testing.T) {
		c, br := openTunnel(t, "tcp", addr, echo.port)
		c.Write([]byte("through the sandbox"))
		if got := readFull(t, br, 19); got != "through the sandbox" {
			t.Fatalf("echo %q", got)
		}
		c.(*net.TCPConn).CloseWrite()
		wantClosed(t, c, br, "tunnel after half-close")
		ev := rec.wait(t, "closed", func(ev Event) bool { return ev.Reason == ReasonClosed })
		if ev.BytesUp != 19 || ev.BytesDown != 19 {
			t.Errorf("closed event %+v", ev)
		}
	})
	t.Run("refusal passes through", func(t *testing.T) {
		_, _, resp := exchange(t, "tcp", addr, connectReq(hostPort("evil.net", echo.port)))
		if b := body(t, resp); resp.StatusCode != http.StatusForbidden || b != ErrUndeclared.Error()+"\n" {
			t.Errorf("got %d %q, want 403 %q", resp.StatusCode, b, ErrUndeclared)
		}
	})
}

func TestForwardStops(t *testing.T) {
	t.Run("context ends", func(t *testing.T) {
		echo := startEcho(t)
		sock, _ := startProxy(t, loopbackConfig(echo.port, nil))
		addr, cancel, wait := startForward(t, sock)
		c, br := openTunnel(t, "tcp", addr, echo.port)
		cancel()
		if err := wait(); err != nil {
			t.Errorf("Forward returned %v, want nil", err)
		}
		wantClosed(t, c, br, "relay after Forward returned")
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			t.Error("listener still accepting after Forward returned")
		}
	})
	t.Run("listener closed", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- Forward(t.Context(), l, dialUnix(filepath.Join(t.TempDir(), "none.sock"))) }()
		l.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Forward returned %v, want nil", err)
			}
		case <-time.After(waitLimit):
			t.Fatal("Forward did not return after its listener closed")
		}
	})
}

// TestForwardNoProxy: with nothing at the socket the app's connection is
// closed, not left hanging, and Forward keeps serving.
func TestForwardNoProxy(t *testing.T) {
	addr, _, _ := startForward(t, filepath.Join(t.TempDir(), "missing.sock"))
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(connectReq("api.example.com:443")))
		wantClosed(t, c, c, "connection with no proxy")
		c.Close()
	}
}
