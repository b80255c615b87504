package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Client is a connection to the process holding a data folder.
type Client struct {
	conn   *net.UnixConn
	c      *codec
	f      *folder
	Holder Info
}

// UnservedError says the holder would not run the command, and why; the
// caller should wait for the folder instead.
type UnservedError struct {
	Holder Info
	Reason string
}

func (e *UnservedError) Error() string {
	return fmt.Sprintf("%s does not serve this command: %s", e.Holder, e.Reason)
}

// Dial connects to the holder of the data folder dir, after checking that
// the folder and the socket are this user's alone and that the process
// listening is this user's.
func Dial(dir string) (*Client, error) {
	f, err := openFolder(dir)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(f.fd, SocketFile, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		f.close()
		return nil, fmt.Errorf("data folder %s: control socket: %w", dir, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK || int(st.Uid) != os.Geteuid() || st.Mode&0o077 != 0 {
		f.close()
		return nil, fmt.Errorf("%w: %s/%s is not a socket only you can use (mode %04o, uid %d)", ErrUnsafe, dir, SocketFile, st.Mode&0o7777, st.Uid)
	}
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: f.path(SocketFile), Net: "unix"})
	if err != nil {
		f.close()
		return nil, fmt.Errorf("data folder %s: control socket: %w", dir, err)
	}
	cred, err := peerCred(conn)
	if err != nil || int(cred.Uid) != os.Geteuid() {
		conn.Close()
		f.close()
		return nil, fmt.Errorf("%w (uid %d)", ErrPeer, credUID(cred))
	}
	cl := &Client{conn: conn, c: newCodec(conn), f: f}
	hello, err := cl.c.recv()
	if err != nil || hello.Hello == nil {
		cl.Close()
		return nil, fmt.Errorf("data folder %s: control socket: no hello: %v", dir, err)
	}
	cl.Holder = *hello.Hello
	if !validCommand(cl.Holder.Command) {
		cl.Holder.Command = ""
	}
	return cl, nil
}

// Close hangs up; the holder cancels the command if it still runs.
func (c *Client) Close() error {
	err := c.conn.Close()
	c.f.close()
	return err
}

// Run asks the holder to run req, relays stdin (as the command reads it),
// stdout and stderr, and returns the command's exit code. An
// *UnservedError says the holder would not run it. Ending ctx hangs up.
func (c *Client) Run(ctx context.Context, req Request, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	return c.RunInterruptible(ctx, nil, req, stdin, stdout, stderr)
}

// RunInterruptible is Run that, when interrupt is closed, tells the
// holder the caller was interrupted (Session.Interrupted) and goes on
// relaying until the command ends: its answer and exit code still come.
// Ending ctx hangs up.
func (c *Client) RunInterruptible(ctx context.Context, interrupt <-chan struct{}, req Request, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if err := c.c.send(frame{Run: &req}); err != nil {
		return 0, fmt.Errorf("control socket: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { c.conn.Close() })
	defer stop()
	var (
		wmu   sync.Mutex
		inEOF atomic.Bool
	)
	send := func(f frame) {
		wmu.Lock()
		defer wmu.Unlock()
		_ = c.c.send(f)
	}
	if interrupt != nil {
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-interrupt:
				send(frame{Interrupt: true})
			case <-done:
			}
		}()
	}
	for {
		f, err := c.c.recv()
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return 0, fmt.Errorf("%w (%s) before the command finished", ErrClosed, c.Holder)
			}
			return 0, fmt.Errorf("control socket: %w", err)
		}
		switch {
		case f.Stdout != nil:
			_, _ = stdout.Write(f.Stdout)
		case f.Stderr != nil:
			_, _ = stderr.Write(f.Stderr)
		case f.Read > 0:
			// The holder asks for one chunk at a time and waits for it,
			// so at most one read runs. It runs aside: reading a
			// terminal blocks, and output must keep flowing meanwhile.
			if inEOF.Load() || stdin == nil {
				send(frame{StdinEOF: true})
				continue
			}
			go func(n int) {
				buf := make([]byte, n)
				for {
					k, err := stdin.Read(buf)
					if k > 0 {
						send(frame{Stdin: buf[:k]})
						if err == nil {
							return
						}
					}
					if err != nil {
						inEOF.Store(true)
						send(frame{StdinEOF: true})
						return
					}
				}
			}(f.Read)
		case f.Exit != nil:
			return *f.Exit, nil
		case f.Unserved != "":
			return 0, &UnservedError{Holder: c.Holder, Reason: f.Unserved}
		default:
			return 0, fmt.Errorf("control socket: unexpected frame from %s", c.Holder)
		}
	}
}
