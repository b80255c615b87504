package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Session is one command a later process asked the holder to run: its
// request and its stdio, relayed over the socket.
type Session struct {
	ID      uint64
	PeerPID int
	Request Request
	// Stdin reads the caller's stdin, asking the caller for each chunk.
	Stdin io.Reader
	// Stdout and Stderr write to the caller's.
	Stdout, Stderr io.Writer
	// Interrupted is closed when the caller was interrupted once
	// (Ctrl+C): the command denies its prompts from then on and finishes
	// the work in flight, its output still relayed. A hang-up ends ctx.
	Interrupted <-chan struct{}
	// unserved, when set by Unserved, is sent instead of an exit code.
	unserved string
}

// Unserved makes the session end without running: the caller is told
// why and waits for the folder instead (for example, it asked for another
// model than the holder runs). Call it before writing any output.
func (s *Session) Unserved(reason string) { s.unserved = reason }

// Handler runs one session's command and returns its exit code. ctx ends
// when the caller hangs up or the holder closes.
type Handler func(ctx context.Context, s *Session) int

// Event tells an observer about served commands.
type Event struct {
	Session uint64
	PeerPID int
	Args    []string
	// Done is false when the command starts, true when it ended with Code.
	Done bool
	Code int
}

// ServeOptions configure Serve.
type ServeOptions struct {
	// Observe, if set, hears of every command served (the TUI shows them).
	Observe func(Event)
	Logger  *slog.Logger
}

type server struct {
	ln      *net.UnixListener
	handle  Handler
	opts    ServeOptions
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	next    uint64
	active  map[uint64]Event
	closing bool
}

// Serve starts serving later commands on the folder's socket.
func (h *Holder) Serve(handle Handler, o ServeOptions) error {
	if h.srv != nil {
		return errors.New("control: already serving")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	// The socket is made under a name of its own, given mode 0600, and
	// only then renamed into place: a client never finds it open to others,
	// not even for the moment between bind and chmod. A socket left by a
	// holder that died is replaced: we hold the lock, so it is nobody's.
	tmp := fmt.Sprintf("%s.%d", SocketFile, os.Getpid())
	_ = unix.Unlinkat(h.f.fd, tmp, 0)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: h.f.path(tmp), Net: "unix"})
	if err != nil {
		return fmt.Errorf("data folder %s: control socket: %w", h.f.dir, err)
	}
	ln.SetUnlinkOnClose(false)
	if err := unix.Fchmodat(h.f.fd, tmp, 0o600, 0); err == nil {
		err = unix.Renameat(h.f.fd, tmp, h.f.fd, SocketFile)
	}
	if err != nil {
		ln.Close()
		_ = unix.Unlinkat(h.f.fd, tmp, 0)
		return fmt.Errorf("data folder %s: control socket: %w", h.f.dir, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.srv = &server{ln: ln, handle: handle, opts: o, ctx: ctx, cancel: cancel, active: map[uint64]Event{}}
	h.srv.wg.Add(1)
	go h.srv.accept(h.command)
	return nil
}

// Active lists the commands being served now.
func (h *Holder) Active() []Event {
	if h.srv == nil {
		return nil
	}
	h.srv.mu.Lock()
	defer h.srv.mu.Unlock()
	out := make([]Event, 0, len(h.srv.active))
	for _, e := range h.srv.active {
		out = append(out, e)
	}
	return out
}

func (s *server) accept(command string) {
	defer s.wg.Done()
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			conn.Close()
			return
		}
		s.next++
		id := s.next
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer conn.Close()
			s.serve(conn, id, command)
		}()
	}
}

// close stops accepting and waits for the sessions in flight.
func (s *server) close() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
	s.cancel()
}

// Shutdown ends the sessions in flight: their commands see their context
// end (the holder is going away, for example on a signal).
func (h *Holder) Shutdown() {
	if h.srv != nil {
		h.srv.cancel()
	}
}

func (s *server) serve(conn *net.UnixConn, id uint64, command string) {
	cred, err := peerCred(conn)
	if err != nil || int(cred.Uid) != os.Geteuid() {
		// Only this user's processes are served; the socket's mode
		// should already keep everyone else out.
		s.opts.Logger.Warn("control socket: refused a peer", "uid", credUID(cred), "pid", credPID(cred), "err", err)
		return
	}
	c := newCodec(conn)
	if err := c.send(frame{Hello: &Info{PID: os.Getpid(), Command: command}}); err != nil {
		return
	}
	first, err := c.recv()
	if err == nil && first.Run == nil {
		err = errors.New("the first frame is not a run request")
	}
	if err != nil {
		s.opts.Logger.Warn("control socket: no run request", "pid", cred.Pid, "err", err)
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	out := &relay{c: c}
	in := &pull{c: out, data: make(chan []byte, 1), eof: make(chan struct{}), gone: ctx.Done()}
	interrupted := make(chan struct{})
	var interruptOnce sync.Once
	sess := &Session{ID: id, PeerPID: int(cred.Pid), Request: *first.Run, Stdin: in,
		Stdout: &stream{r: out, which: "stdout"}, Stderr: &stream{r: out, which: "stderr"}, Interrupted: interrupted}
	// The caller's frames: stdin chunks, or the end of the connection,
	// which cancels the command.
	go func() {
		defer cancel()
		for {
			f, err := c.recv()
			if err != nil {
				return
			}
			switch {
			case f.Stdin != nil:
				select {
				case in.data <- f.Stdin:
				case <-ctx.Done():
					return
				}
			case f.StdinEOF:
				in.closeOnce.Do(func() { close(in.eof) })
			case f.Interrupt:
				interruptOnce.Do(func() { close(interrupted) })
			default:
				return // a frame a client never sends
			}
		}
	}()
	ev := Event{Session: id, PeerPID: int(cred.Pid), Args: sess.Request.Args}
	s.track(ev)
	code := s.handle(ctx, sess)
	ev.Done, ev.Code = true, code
	if sess.unserved != "" {
		ev.Code = -1
	}
	// The command is over before its caller hears so: whoever watches the
	// holder (the TUI, a test) never sees a finished command as running.
	s.track(ev)
	if sess.unserved != "" {
		_ = out.send(frame{Unserved: sess.unserved})
	} else {
		_ = out.send(frame{Exit: &code})
	}
}

func (s *server) track(ev Event) {
	s.mu.Lock()
	if ev.Done {
		delete(s.active, ev.Session)
	} else {
		s.active[ev.Session] = ev
	}
	s.mu.Unlock()
	if s.opts.Observe != nil {
		s.opts.Observe(ev)
	}
}

// relay serialises frames from the command's goroutines.
type relay struct {
	mu sync.Mutex
	c  *codec
}

func (r *relay) send(f frame) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.c.send(f)
}

// stream is the caller's stdout or stderr.
type stream struct {
	r     *relay
	which string
}

func (s *stream) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), maxChunk)]
		f := frame{Stdout: chunk}
		if s.which == "stderr" {
			f = frame{Stderr: chunk}
		}
		if err := s.r.send(f); err != nil {
			return n, err
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
	return n, nil
}

// pull reads the caller's stdin: each Read asks for one chunk.
type pull struct {
	c         *relay
	mu        sync.Mutex
	data      chan []byte
	eof       chan struct{}
	closeOnce sync.Once
	gone      <-chan struct{}
	rest      []byte
}

func (p *pull) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// The frames arrive in order, so data sent before the end of input is
	// in the channel by the time eof is closed: take it first.
	if len(p.rest) == 0 {
		select {
		case d := <-p.data:
			p.rest = d
		default:
			select {
			case <-p.eof:
				return 0, io.EOF
			default:
			}
			if err := p.c.send(frame{Read: min(len(b), maxChunk)}); err != nil {
				return 0, err
			}
			select {
			case d := <-p.data:
				p.rest = d
			case <-p.eof:
				select {
				case d := <-p.data:
					p.rest = d
				default:
					return 0, io.EOF
				}
			case <-p.gone:
				return 0, ErrClosed
			}
		}
	}
	n := copy(b, p.rest)
	p.rest = p.rest[n:]
	return n, nil
}

func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, serr
}

func credUID(c *unix.Ucred) int {
	if c == nil {
		return -1
	}
	return int(c.Uid)
}

func credPID(c *unix.Ucred) int {
	if c == nil {
		return -1
	}
	return int(c.Pid)
}
