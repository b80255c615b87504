package egress

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitLimit bounds every wait in these tests; reaching it is a failure.
const waitLimit = 10 * time.Second

// fakeResolver answers from a map, records every lookup, and can instead
// fail or hang until its context ends.
type fakeResolver struct {
	addrs map[string][]netip.Addr
	err   error
	hang  bool

	mu      sync.Mutex
	lookups []string
}

func (r *fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	r.lookups = append(r.lookups, host)
	r.mu.Unlock()
	if r.hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if r.err != nil {
		return nil, r.err
	}
	return r.addrs[host], nil
}

func (r *fakeResolver) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lookups...)
}

func resolveTo(host string, addrs ...string) *fakeResolver {
	r := &fakeResolver{addrs: map[string][]netip.Addr{}}
	for _, a := range addrs {
		r.addrs[host] = append(r.addrs[host], netip.MustParseAddr(a))
	}
	return r
}

// dialRecorder dials like net.Dialer and records every address it is asked
// for, before dialling, so a test can tell a dial was never attempted.
type dialRecorder struct {
	mu    sync.Mutex
	addrs []string
}

func (d *dialRecorder) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

func (d *dialRecorder) seen() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

// recorder collects audit Events.
type recorder struct {
	mu     sync.Mutex
	events []Event
	notify chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{})} }

func (r *recorder) audit(ev Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	close(r.notify)
	r.notify = make(chan struct{})
}

func (r *recorder) all() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// wait returns the first Event that matches, waiting up to waitLimit.
func (r *recorder) wait(t *testing.T, what string, match func(Event) bool) Event {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		for _, ev := range r.events {
			if match(ev) {
				r.mu.Unlock()
				return ev
			}
		}
		ch := r.notify
		r.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("no audit event %s; got %+v", what, r.all())
		}
	}
}

// echoServer is a plain TCP echo server on 127.0.0.1 that counts the
// connections it accepts.
type echoServer struct {
	port     int
	accepted atomic.Int32
}

func startEcho(t *testing.T) *echoServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{port: l.Addr().(*net.TCPAddr).Port}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			e.accepted.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(waitLimit))
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return e
}

// startProxy serves a proxy for cfg on a Unix socket in a fresh temporary
// folder and returns the socket's path.
func startProxy(t *testing.T, cfg Config) (string, *Proxy) {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	sock := filepath.Join(t.TempDir(), "egress.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(l) }()
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-served:
			if !errors.Is(err, ErrClosed) {
				t.Errorf("Serve returned %v, want ErrClosed", err)
			}
		case <-time.After(waitLimit):
			t.Error("Serve did not return after Close")
		}
	})
	return sock, p
}

// exchange dials network/addr, writes req and reads the proxy's response
// head. A write error is ignored: a proxy may answer and close before the
// request is all sent, and the answer is what the test checks.
func exchange(t *testing.T, network, addr, req string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(waitLimit))
	c.Write([]byte(req))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatalf("read proxy response to %q: %v", firstLine(req), err)
	}
	return c, br, resp
}

// loopbackConfig is the proxy of app weather, which declares example.com,
// whose api.example.com resolves to a server on 127.0.0.1:port; audit (nil:
// none) sees its events.
func loopbackConfig(port int, audit func(Event)) Config {
	return Config{
		App:       "weather",
		Domains:   []string{"example.com"},
		Resolver:  resolveTo("api.example.com", "127.0.0.1"),
		AllowAddr: loopbackOnly,
		Ports:     []int{port},
		Audit:     audit,
	}
}

// openTunnel asks the proxy at network/addr for a tunnel to
// api.example.com:port and fails the test unless it is granted.
func openTunnel(t *testing.T, network, addr string, port int) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, br, resp := exchange(t, network, addr, connectReq(hostPort("api.example.com", port)))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("tunnel to api.example.com:%d: status %d, want 200", port, resp.StatusCode)
	}
	return c, br
}

func connectReq(target string) string {
	return "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n"
}

func hostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}

func firstLine(s string) string {
	for i := range len(s) {
		if s[i] == '\r' || s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}

// body reads a refusal's body. A 200 answer has no body, only the tunnel,
// so it is reported as such rather than read until the deadline.
func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	if resp.StatusCode == http.StatusOK {
		return "(tunnel opened)"
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read refusal body: %v", err)
	}
	return string(b)
}

// readFull reads exactly n bytes of tunnel data.
func readFull(t *testing.T, r io.Reader, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatalf("read %d tunnel bytes: %v", n, err)
	}
	return string(b)
}

// wantClosed fails unless the peer closes c, with no more data, before
// waitLimit; a client-side timeout means the proxy left it open.
func wantClosed(t *testing.T, c net.Conn, r io.Reader, what string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	b := make([]byte, 1)
	n, err := r.Read(b)
	var ne net.Error
	switch {
	case n > 0:
		t.Fatalf("%s: read %q, want the connection closed", what, b[:n])
	case err == nil:
		t.Fatalf("%s: read returned no data and no error", what)
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("%s: still open after %v", what, waitLimit)
	}
}
