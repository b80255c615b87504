package egress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/publicsuffix"
)

// Proxy is the egress proxy of one app. Serve it on a listener that only
// that app's sandbox can reach.
type Proxy struct {
	cfg     Config
	domains map[string]bool
	ports   map[int]bool
	slots   chan struct{}
	log     *slog.Logger

	// ctx ends at Close; every connection and lookup hangs off it.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]bool
	wg        sync.WaitGroup
}

// New checks cfg, fills in its defaults and returns a proxy that is not yet
// serving. It refuses a declared domain that is not its own eTLD+1.
func New(cfg Config) (*Proxy, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("new egress proxy: %w", err)
	}
	p := &Proxy{
		cfg:       cfg,
		domains:   make(map[string]bool, len(cfg.Domains)),
		ports:     make(map[int]bool, len(cfg.Ports)),
		slots:     make(chan struct{}, cfg.MaxConnections),
		log:       cfg.Logger.With("app", cfg.App),
		listeners: make(map[net.Listener]bool),
	}
	for _, d := range cfg.Domains {
		p.domains[d] = true
	}
	for _, port := range cfg.Ports {
		p.ports[port] = true
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p, nil
}

// Serve accepts connections on l and handles each as one CONNECT request
// from the proxy's app. It returns ErrClosed after Close, and closes l.
func (p *Proxy) Serve(l net.Listener) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		l.Close()
		return ErrClosed
	}
	p.listeners[l] = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.listeners, l)
		p.mu.Unlock()
		l.Close()
	}()

	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if p.isClosed() {
				return ErrClosed
			}
			if !retryableAccept(err) {
				return fmt.Errorf("serve egress for %s: accept: %w", p.cfg.App, err)
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			p.log.Warn("egress accept", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-p.ctx.Done():
				return ErrClosed
			}
			continue
		}
		backoff = 0
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return ErrClosed
		}
		p.wg.Add(1)
		p.mu.Unlock()
		go func() {
			defer p.wg.Done()
			p.handle(c)
		}()
	}
}

// Close stops every Serve, closes every connection and waits for their
// handlers to finish.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	ls := make([]net.Listener, 0, len(p.listeners))
	for l := range p.listeners {
		ls = append(ls, l)
	}
	p.mu.Unlock()
	p.cancel()
	var errs []error
	for _, l := range ls {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	p.wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close egress for %s: %w", p.cfg.App, err)
	}
	return nil
}

func (p *Proxy) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// retryableAccept reports whether an Accept error is a passing shortage
// (file descriptors, buffers) rather than a dead listener.
func retryableAccept(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// handle serves one connection. The connection slot is given back before
// the closing Event is sent, so that an auditor who sees a tunnel closed can
// count on its slot being free.
func (p *Proxy) handle(c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(p.ctx, func() { c.Close() })
	defer stop()

	select {
	case p.slots <- struct{}{}:
	default:
		p.refuse(c, Event{App: p.cfg.App},
			fmt.Errorf("%w: limit %d", ErrTooManyConnections, p.cfg.MaxConnections))
		return
	}
	closing, opened := p.serve(c)
	<-p.slots
	if opened {
		p.emit(closing)
	}
}

// serve runs the checks in the order the package doc lists, and on success
// the tunnel. It returns the closing Event of a tunnel that was opened.
func (p *Proxy) serve(c net.Conn) (closing Event, opened bool) {
	ev := Event{App: p.cfg.App}
	c.SetReadDeadline(time.Now().Add(p.cfg.HeaderTimeout))
	req, early, err := readRequest(c)
	ev.Host, ev.Port = req.rawHost, req.port
	if err != nil {
		p.refuse(c, ev, err)
		return ev, false
	}
	ev.Host = req.host
	c.SetReadDeadline(time.Time{})

	if !p.ports[req.port] {
		p.refuse(c, ev, fmt.Errorf("%w: %d", ErrPort, req.port))
		return ev, false
	}
	// The domain is checked before any lookup, so that names outside the
	// declared domains never reach DNS.
	if d, err := publicsuffix.EffectiveTLDPlusOne(req.host); err != nil || !p.domains[d] {
		p.refuse(c, ev, fmt.Errorf("%w: %s", ErrUndeclared, req.host))
		return ev, false
	}

	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.DialTimeout)
	defer cancel()
	addrs, err := p.cfg.Resolver.LookupNetIP(ctx, "ip", req.host)
	if err != nil {
		p.refuse(c, ev, fmt.Errorf("%w: %s: %w", ErrResolve, req.host, err))
		return ev, false
	}
	if len(addrs) == 0 {
		p.refuse(c, ev, fmt.Errorf("%w: %s", ErrNoAddress, req.host))
		return ev, false
	}
	// One bad address refuses the name: a rebinding server mixes a public
	// address with an internal one and hopes the internal one is dialled.
	for _, a := range addrs {
		if !p.cfg.AllowAddr(a) {
			ev.Addr = a.String()
			p.refuse(c, ev, fmt.Errorf("%w: %s resolves to %s", ErrForbiddenAddr, req.host, a))
			return ev, false
		}
	}

	up, addr, err := p.dial(ctx, addrs, req.port)
	if err != nil {
		p.refuse(c, ev, err)
		return ev, false
	}
	defer up.Close()
	stopUp := context.AfterFunc(p.ctx, func() { up.Close() })
	defer stopUp()
	ev.Addr = addr

	c.SetWriteDeadline(time.Now().Add(p.cfg.HeaderTimeout))
	if _, err := c.Write([]byte("HTTP/1.1 200 Connection Established\r\n\r\n")); err != nil {
		ev.Reason = fmt.Sprintf("write reply: %v", err)
		p.emit(ev)
		return ev, false
	}
	c.SetWriteDeadline(time.Time{})
	ev.Allowed, ev.Reason = true, ReasonOpened
	p.emit(ev)

	closing = ev
	if len(early) > 0 {
		up.SetWriteDeadline(time.Now().Add(p.cfg.IdleTimeout))
		n, err := up.Write(early)
		closing.BytesUp += int64(n)
		if err != nil {
			closing.Reason = ReasonClosed
			return closing, true
		}
	}
	upN, downN := relay(c, up, p.cfg.IdleTimeout)
	closing.BytesUp += upN
	closing.BytesDown = downN
	closing.Reason = ReasonClosed
	return closing, true
}

// dial tries each resolved address in turn, by address: looking the name up
// again would let a rebinding server answer differently the second time.
func (p *Proxy) dial(ctx context.Context, addrs []netip.Addr, port int) (net.Conn, string, error) {
	var errs []error
	for _, a := range addrs {
		target := netip.AddrPortFrom(a.Unmap(), uint16(port)).String()
		up, err := p.cfg.Dialer(ctx, "tcp", target)
		if err == nil {
			return up, target, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, "", fmt.Errorf("%w: %w", ErrUpstream, errors.Join(errs...))
}

// refusals maps each refusal to its status; the body is the sentinel's text so
// the app learns the rule it broke but not, say, which internal address its
// domain resolved to.
var refusals = []struct {
	err    error
	status int
}{
	{ErrTooManyConnections, http.StatusServiceUnavailable},
	{ErrHeaderTimeout, http.StatusRequestTimeout},
	{ErrHeaderTooLarge, http.StatusRequestHeaderFieldsTooLarge},
	{ErrMethod, http.StatusMethodNotAllowed},
	{ErrBadRequest, http.StatusBadRequest},
	{ErrBadHost, http.StatusBadRequest},
	{ErrIPLiteral, http.StatusForbidden},
	{ErrPort, http.StatusForbidden},
	{ErrUndeclared, http.StatusForbidden},
	{ErrNoAddress, http.StatusForbidden},
	{ErrForbiddenAddr, http.StatusForbidden},
	{ErrResolve, http.StatusBadGateway},
	{ErrUpstream, http.StatusBadGateway},
}

// refuse audits a refused attempt and answers it.
func (p *Proxy) refuse(c net.Conn, ev Event, err error) {
	status, public := http.StatusForbidden, err
	for _, r := range refusals {
		if errors.Is(err, r.err) {
			status, public = r.status, r.err
			break
		}
	}
	ev.Allowed, ev.Reason = false, err.Error()
	p.emit(ev)

	body := public.Error() + "\n"
	head := "HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		"Connection: close\r\n"
	if status == http.StatusMethodNotAllowed {
		head += "Allow: CONNECT\r\n"
	}
	c.SetWriteDeadline(time.Now().Add(p.cfg.HeaderTimeout))
	if _, werr := c.Write([]byte(head + "\r\n" + body)); werr != nil {
		p.log.Debug("egress refusal reply", "err", werr)
	}
}

func (p *Proxy) emit(ev Event) {
	ev.At = time.Now()
	level := slog.LevelInfo
	if ev.Allowed {
		level = slog.LevelDebug
	}
	p.log.Log(context.Background(), level, "egress",
		"host", ev.Host, "port", ev.Port, "addr", ev.Addr, "allowed", ev.Allowed,
		"reason", ev.Reason, "bytes_up", ev.BytesUp, "bytes_down", ev.BytesDown)
	p.cfg.Audit(ev)
}
