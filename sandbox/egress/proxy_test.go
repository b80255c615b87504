package egress

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// loopbackOnly stands in for PublicAddr in tests whose upstream is a local
// echo server; the refusal tests below run with the default.
func loopbackOnly(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.1") }

func TestTunnelAllowed(t *testing.T) {
	tests := []struct {
		name     string
		declared string
		host     string
		wantHost string
	}{
		{"subdomain", "example.com", "api.example.com", "api.example.com"},
		{"declared domain itself", "example.com", "example.com", "example.com"},
		{"case and trailing dot", "EXAMPLE.com.", "API.Example.COM.", "api.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			echo := startEcho(t)
			res := resolveTo(tt.wantHost, "127.0.0.1")
			dials := &dialRecorder{}
			rec := newRecorder()
			sock, _ := startProxy(t, Config{
				App:       "weather",
				Domains:   []string{tt.declared},
				Resolver:  res,
				Dialer:    dials.dial,
				AllowAddr: loopbackOnly,
				Ports:     []int{echo.port},
				Audit:     rec.audit,
			})

			// Bytes sent right behind the request head (a TLS ClientHello,
			// usually) belong to the tunnel and must not be lost.
			c, br, resp := exchange(t, "unix", sock, connectReq(hostPort(tt.host, echo.port))+"early")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d %q, want 200", resp.StatusCode, body(t, resp))
			}
			if got := readFull(t, br, 5); got != "early" {
				t.Fatalf("early bytes echoed as %q", got)
			}
			// Half-closing straight after the last write must still
			// bring the whole answer back: the end of the app's stream is
			// passed on, not taken as the end of the tunnel.
			if _, err := c.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			c.(*net.UnixConn).CloseWrite()
			if rest, err := io.ReadAll(br); err != nil || string(rest) != "hello" {
				t.Fatalf("after half-close read %q, %v; want \"hello\" then EOF", rest, err)
			}

			want := hostPort("127.0.0.1", echo.port)
			if got := dials.seen(); !slices.Equal(got, []string{want}) {
				t.Errorf("dialled %q, want only the resolved address %q", got, want)
			}
			if got := res.seen(); !slices.Equal(got, []string{tt.wantHost}) {
				t.Errorf("looked up %q, want [%q]", got, tt.wantHost)
			}
			opened := rec.wait(t, "opened", func(ev Event) bool { return ev.Reason == ReasonOpened })
			if !opened.Allowed || opened.App != "weather" || opened.Host != tt.wantHost ||
				opened.Port != echo.port || opened.Addr != want || opened.At.IsZero() {
				t.Errorf("opened event %+v", opened)
			}
			closed := rec.wait(t, "closed", func(ev Event) bool { return ev.Reason == ReasonClosed })
			if !closed.Allowed || closed.BytesUp != 10 || closed.BytesDown != 10 || closed.Addr != want {
				t.Errorf("closed event %+v, want allowed with 10 bytes each way", closed)
			}
			if n := len(rec.all()); n != 2 {
				t.Errorf("%d events for one tunnel, want 2: %+v", n, rec.all())
			}
		})
	}
}

// TestRebindingRefused: a declared domain whose DNS answer holds any address
// PublicAddr refuses is refused, and nothing is dialled. The echo server is
// live on 127.0.0.1, so a proxy that dialled would reach it.
func TestRebindingRefused(t *testing.T) {
	tests := []struct {
		name  string
		addrs []string
	}{
		{"loopback", []string{"127.0.0.1"}},
		{"private", []string{"10.0.0.1"}},
		{"metadata", []string{"169.254.169.254"}},
		{"IPv6 loopback", []string{"::1"}},
		{"v4-mapped loopback", []string{"::ffff:127.0.0.1"}},
		{"NAT64 loopback", []string{"64:ff9b::7f00:1"}},
		{"AWS IPv6 metadata", []string{"fd00:ec2::254"}},
		{"unspecified", []string{"0.0.0.0"}},
		{"public then loopback", []string{"93.184.215.14", "127.0.0.1"}},
		{"loopback then public", []string{"127.0.0.1", "93.184.215.14"}},
		{"public then private v6", []string{"2606:4700:4700::1111", "fc00::1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			echo := startEcho(t)
			dials := &dialRecorder{}
			rec := newRecorder()
			sock, _ := startProxy(t, Config{
				App:      "weather",
				Domains:  []string{"example.com"},
				Resolver: resolveTo("api.example.com", tt.addrs...),
				Dialer:   dials.dial,
				Ports:    []int{echo.port},
				Audit:    rec.audit,
			})
			_, _, resp := exchange(t, "unix", sock, connectReq(hostPort("api.example.com", echo.port)))
			b := body(t, resp)
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d %q, want 403", resp.StatusCode, b)
			}
			if b != ErrForbiddenAddr.Error()+"\n" {
				t.Errorf("body %q, want the rule and no address", b)
			}
			if got := dials.seen(); len(got) != 0 {
				t.Errorf("dialled %q after a rebinding answer", got)
			}
			if n := echo.accepted.Load(); n != 0 {
				t.Errorf("upstream accepted %d connections", n)
			}
			ev := rec.wait(t, "refusal", func(Event) bool { return true })
			if ev.Allowed || !strings.Contains(ev.Reason, ErrForbiddenAddr.Error()) || ev.Addr == "" {
				t.Errorf("event %+v, want refused with the forbidden address", ev)
			}
		})
	}
}

// TestRequestRefused covers every refusal decided before DNS: none of them
// may look the name up or dial.
func TestRequestRefused(t *testing.T) {
	big := "X-Pad: " + strings.Repeat("a", MaxHeaderBytes) + "\r\n"
	tests := []struct {
		name   string
		req    string
		status int
		err    error
	}{
		{"undeclared", connectReq("evil.net:443"), 403, ErrUndeclared},
		{"declared as suffix of attacker domain", connectReq("example.com.evil.net:443"), 403, ErrUndeclared},
		{"declared as prefix", connectReq("evilexample.com:443"), 403, ErrUndeclared},
		{"other TLD", connectReq("example.co:443"), 403, ErrUndeclared},
		{"punycode lookalike", connectReq("xn--exmple-cua.com:443"), 403, ErrUndeclared},
		{"public suffix", connectReq("com:443"), 403, ErrUndeclared},
		{"localhost", connectReq("localhost:443"), 403, ErrUndeclared},
		{"docker host", connectReq("host.docker.internal:443"), 403, ErrUndeclared},
		{"cyrillic lookalike", connectReq("ex\u0430mple.com:443"), 400, ErrBadHost},
		{"kelvin sign folds to k", connectReq("\u212Aexample.com:443"), 400, ErrBadHost},
		{"percent-encoded dot", connectReq("example.com%2eevil.net:443"), 400, ErrBadHost},
		{"userinfo", connectReq("api.example.com@evil.net:443"), 400, ErrBadHost},
		{"fragment", connectReq("evil.net#.example.com:443"), 400, ErrBadHost},
		{"absolute form", connectReq("http://api.example.com:443"), 400, ErrBadHost},
		{"empty label", connectReq("api..example.com:443"), 400, ErrBadHost},
		{"empty host", connectReq(":443"), 400, ErrBadHost},

		{"IPv4", connectReq("127.0.0.1:443"), 403, ErrIPLiteral},
		{"public IPv4", connectReq("93.184.215.14:443"), 403, ErrIPLiteral},
		{"IPv4 trailing dot", connectReq("127.0.0.1.:443"), 403, ErrIPLiteral},
		{"IPv6 bracketed", connectReq("[::1]:443"), 403, ErrIPLiteral},
		{"IPv6 bare", connectReq("::1:443"), 403, ErrIPLiteral},
		{"v4-mapped", connectReq("[::ffff:127.0.0.1]:443"), 403, ErrIPLiteral},
		{"IPv6 zone", connectReq("[fe80::1%25eth0]:443"), 403, ErrIPLiteral},
		{"decimal", connectReq("2130706433:443"), 403, ErrIPLiteral},
		{"hex", connectReq("0x7f000001:443"), 403, ErrIPLiteral},
		{"hex upper", connectReq("0X7F000001:443"), 403, ErrIPLiteral},
		{"hex parts", connectReq("0x7f.1:443"), 403, ErrIPLiteral},
		{"octal", connectReq("017700000001:443"), 403, ErrIPLiteral},
		{"octal parts", connectReq("0177.0.0.1:443"), 403, ErrIPLiteral},
		{"short form", connectReq("127.1:443"), 403, ErrIPLiteral},
		{"metadata decimal", connectReq("2852039166:443"), 403, ErrIPLiteral},
		{"numeric last label", connectReq("example.com.123:443"), 403, ErrIPLiteral},

		{"port not allowed", connectReq("api.example.com:22"), 403, ErrPort},
		{"port 8443", connectReq("api.example.com:8443"), 403, ErrPort},
		{"no port", connectReq("api.example.com"), 400, ErrBadRequest},
		{"empty port", connectReq("api.example.com:"), 400, ErrBadRequest},
		{"leading zero port", connectReq("api.example.com:0443"), 400, ErrBadRequest},
		{"signed port", connectReq("api.example.com:+443"), 400, ErrBadRequest},
		{"port out of range", connectReq("api.example.com:65979"), 400, ErrBadRequest},

		{"GET", "GET http://api.example.com/ HTTP/1.1\r\nHost: api.example.com\r\n\r\n", 405, ErrMethod},
		{"lower-case connect", "connect api.example.com:443 HTTP/1.1\r\n\r\n", 405, ErrMethod},
		{"HTTP/2", "CONNECT api.example.com:443 HTTP/2.0\r\n\r\n", 400, ErrBadRequest},
		{"extra field", "CONNECT api.example.com:443 HTTP/1.1 x\r\n\r\n", 400, ErrBadRequest},
		{"NUL in line", "CONNECT api.example.com\x00.evil.net:443 HTTP/1.1\r\n\r\n", 400, ErrBadRequest},
		{"oversized header", "CONNECT api.example.com:443 HTTP/1.1\r\n" + big + "\r\n", 431, ErrHeaderTooLarge},
		{"closed inside header", "CONNECT api.example.com:443 HTTP/1.1\r\n", 0, ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := resolveTo("api.example.com", "93.184.215.14")
			dials := &dialRecorder{}
			rec := newRecorder()
			sock, _ := startProxy(t, Config{
				App:      "weather",
				Domains:  []string{"example.com"},
				Resolver: res,
				Dialer:   dials.dial,
				Audit:    rec.audit,
			})
			if tt.status == 0 {
				c, err := net.Dial("unix", sock)
				if err != nil {
					t.Fatal(err)
				}
				c.Write([]byte(tt.req))
				c.(*net.UnixConn).CloseWrite()
				c.SetDeadline(time.Now().Add(waitLimit))
				io.ReadAll(c)
				c.Close()
			} else {
				_, _, resp := exchange(t, "unix", sock, tt.req)
				b := body(t, resp)
				if resp.StatusCode != tt.status || b != tt.err.Error()+"\n" {
					t.Errorf("got %d %q, want %d %q", resp.StatusCode, b, tt.status, tt.err.Error())
				}
				if tt.status == 405 && resp.Header.Get("Allow") != "CONNECT" {
					t.Errorf("405 without Allow: CONNECT: %v", resp.Header)
				}
			}
			ev := rec.wait(t, "refusal", func(Event) bool { return true })
			if ev.Allowed || !strings.Contains(ev.Reason, tt.err.Error()) || ev.App != "weather" {
				t.Errorf("event %+v, want refused for %q", ev, tt.err)
			}
			if got := res.seen(); len(got) != 0 {
				t.Errorf("looked up %q; a refused name must not reach DNS", got)
			}
			if got := dials.seen(); len(got) != 0 {
				t.Errorf("dialled %q", got)
			}
		})
	}
}

func TestNoDomainsRefusesEverything(t *testing.T) {
	res := resolveTo("example.com", "93.184.215.14")
	rec := newRecorder()
	sock, _ := startProxy(t, Config{App: "offline", Resolver: res, Audit: rec.audit})
	for _, target := range []string{"example.com:443", "api.example.com:80", "localhost:443"} {
		t.Run(target, func(t *testing.T) {
			_, _, resp := exchange(t, "unix", sock, connectReq(target))
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403", resp.StatusCode)
			}
		})
	}
	if got := res.seen(); len(got) != 0 {
		t.Errorf("looked up %q", got)
	}
	for _, ev := range rec.all() {
		if ev.Allowed {
			t.Errorf("allowed %+v", ev)
		}
	}
}

// TestAppFromSocket: an app cannot borrow another app's policy by saying so;
// the proxy it reaches is the one whose socket it holds.
func TestAppFromSocket(t *testing.T) {
	res := resolveTo("api.other.org", "93.184.215.14")
	recA, recB := newRecorder(), newRecorder()
	sockA, _ := startProxy(t, Config{App: "a", Domains: []string{"example.com"}, Resolver: res, Audit: recA.audit})
	startProxy(t, Config{App: "b", Domains: []string{"other.org"}, Resolver: res, Audit: recB.audit})

	req := "CONNECT api.other.org:443 HTTP/1.1\r\nHost: api.other.org:443\r\n" +
		"X-App: b\r\nProxy-Authorization: Basic Yjo=\r\nForwarded: for=b\r\n\r\n"
	_, _, resp := exchange(t, "unix", sockA, req)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403: app a reached b's domain", resp.StatusCode)
	}
	ev := recA.wait(t, "refusal", func(Event) bool { return true })
	if ev.App != "a" || ev.Allowed {
		t.Errorf("event %+v, want app a refused", ev)
	}
	if got := recB.all(); len(got) != 0 {
		t.Errorf("app b's proxy saw %+v", got)
	}
}

func TestUpstreamFailures(t *testing.T) {
	closedPort := func(t *testing.T) int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		return port
	}
	tests := []struct {
		name   string
		res    *fakeResolver
		status int
		err    error
	}{
		{"no addresses", resolveTo("other.example.com", "127.0.0.1"), 403, ErrNoAddress},
		{"lookup error", &fakeResolver{err: errors.New("no such host")}, 502, ErrResolve},
		{"lookup hangs past DialTimeout", &fakeResolver{hang: true}, 502, ErrResolve},
		{"dial refused", resolveTo("api.example.com", "127.0.0.1"), 502, ErrUpstream},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := closedPort(t)
			rec := newRecorder()
			sock, _ := startProxy(t, Config{
				App:         "weather",
				Domains:     []string{"example.com"},
				Resolver:    tt.res,
				AllowAddr:   loopbackOnly,
				Ports:       []int{port},
				Audit:       rec.audit,
				DialTimeout: 100 * time.Millisecond,
			})
			_, _, resp := exchange(t, "unix", sock, connectReq(hostPort("api.example.com", port)))
			if b := body(t, resp); resp.StatusCode != tt.status || b != tt.err.Error()+"\n" {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, b, tt.status, tt.err.Error())
			}
			ev := rec.wait(t, "refusal", func(Event) bool { return true })
			if ev.Allowed || !strings.Contains(ev.Reason, tt.err.Error()) {
				t.Errorf("event %+v", ev)
			}
		})
	}
}

// TestSlowClientRefused: a client that never finishes its request head is
// answered 408 after HeaderTimeout instead of holding its slot for ever.
func TestSlowClientRefused(t *testing.T) {
	tests := []struct {
		name string
		sent string
	}{
		{"nothing sent", ""},
		{"partial request line", "CONNECT api.exa"},
		{"headers never end", "CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com\r\nX-Slow: 1\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			sock, _ := startProxy(t, Config{
				App:           "weather",
				Domains:       []string{"example.com"},
				Resolver:      resolveTo("api.example.com", "93.184.215.14"),
				Audit:         rec.audit,
				HeaderTimeout: 200 * time.Millisecond,
			})
			c, br, resp := exchange(t, "unix", sock, tt.sent)
			if resp.StatusCode != http.StatusRequestTimeout {
				t.Fatalf("status %d, want 408", resp.StatusCode)
			}
			body(t, resp)
			wantClosed(t, c, br, "after 408")
			ev := rec.wait(t, "refusal", func(Event) bool { return true })
			if ev.Allowed || !strings.Contains(ev.Reason, ErrHeaderTimeout.Error()) {
				t.Errorf("event %+v", ev)
			}
		})
	}
}

func TestMaxConnections(t *testing.T) {
	echo := startEcho(t)
	rec := newRecorder()
	cfg := loopbackConfig(echo.port, rec.audit)
	cfg.MaxConnections = 2
	sock, _ := startProxy(t, cfg)
	req := connectReq(hostPort("api.example.com", echo.port))
	var tunnels []net.Conn
	for range 2 {
		c, _, resp := exchange(t, "unix", sock, req)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("tunnel under the limit: status %d", resp.StatusCode)
		}
		tunnels = append(tunnels, c)
	}

	_, _, resp := exchange(t, "unix", sock, req)
	if b := body(t, resp); resp.StatusCode != http.StatusServiceUnavailable || b != ErrTooManyConnections.Error()+"\n" {
		t.Fatalf("third connection: %d %q, want 503", resp.StatusCode, b)
	}
	rec.wait(t, "over the limit", func(ev Event) bool {
		return !ev.Allowed && strings.Contains(ev.Reason, ErrTooManyConnections.Error())
	})

	// A closed tunnel gives its slot back.
	tunnels[0].Close()
	rec.wait(t, "tunnel closed", func(ev Event) bool { return ev.Reason == ReasonClosed })
	_, _, resp = exchange(t, "unix", sock, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after a tunnel closed: status %d, want 200", resp.StatusCode)
	}
}

func TestIdleTunnelClosed(t *testing.T) {
	echo := startEcho(t)
	rec := newRecorder()
	cfg := loopbackConfig(echo.port, rec.audit)
	cfg.IdleTimeout = 200 * time.Millisecond
	sock, _ := startProxy(t, cfg)
	c, br := openTunnel(t, "unix", sock, echo.port)
	c.Write([]byte("ping"))
	if got := readFull(t, br, 4); got != "ping" {
		t.Fatalf("echo %q", got)
	}
	wantClosed(t, c, br, "idle tunnel")
	ev := rec.wait(t, "closed", func(ev Event) bool { return ev.Reason == ReasonClosed })
	if ev.BytesUp != 4 || ev.BytesDown != 4 {
		t.Errorf("closed event %+v, want 4 bytes each way", ev)
	}
}

func TestCloseEndsTunnels(t *testing.T) {
	echo := startEcho(t)
	rec := newRecorder()
	sock, p := startProxy(t, loopbackConfig(echo.port, rec.audit))
	c, br := openTunnel(t, "unix", sock, echo.port)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	wantClosed(t, c, br, "tunnel after Close")
	rec.wait(t, "closed", func(ev Event) bool { return ev.Reason == ReasonClosed })
	if _, err := net.Dial("unix", sock); err == nil {
		t.Error("socket still accepting after Close")
	}
	l, err := net.Listen("unix", sock+"2")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Serve(l); !errors.Is(err, ErrClosed) {
		t.Errorf("Serve after Close: %v, want ErrClosed", err)
	}
}

// TestTunnelByteCounts: the closing Event counts each direction on its own;
// the upstream here reads the whole request and then answers "ok".
func TestTunnelByteCounts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(waitLimit))
		io.Copy(io.Discard, c)
		c.Write([]byte("ok"))
	}()
	port := l.Addr().(*net.TCPAddr).Port
	rec := newRecorder()
	sock, _ := startProxy(t, loopbackConfig(port, rec.audit))
	c, br, resp := exchange(t, "unix", sock, connectReq(hostPort("api.example.com", port))+"request")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	c.Write([]byte(" body"))
	c.(*net.UnixConn).CloseWrite()
	if got, err := io.ReadAll(br); err != nil || string(got) != "ok" {
		t.Fatalf("read %q, %v; want \"ok\"", got, err)
	}
	ev := rec.wait(t, "closed", func(ev Event) bool { return ev.Reason == ReasonClosed })
	if ev.BytesUp != int64(len("request body")) || ev.BytesDown != 2 {
		t.Errorf("closed event %+v, want 12 bytes up and 2 down", ev)
	}
}
