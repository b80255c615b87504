package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// The worker reaches its egress proxy through a descriptor it inherited,
// never through a file: there is no socket path an app (or another app)
// could find, connect to or stat.
//
//	worker (Forward)                         hub (Proxy.Serve on PassListener)
//	  accept an app connection on 127.0.0.1
//	  socketpair(AF_UNIX, SOCK_STREAM) → a, b
//	  sendmsg(control, "c", SCM_RIGHTS a) ───▶ recvmsg: a is one connection
//	  close a; relay app ⇄ b                   serve a as a CONNECT request

// PassDialer returns Forward's dial function for a worker holding the
// control socket ctrl.
func PassDialer(ctrl *net.UnixConn) func(context.Context) (net.Conn, error) {
	return func(context.Context) (net.Conn, error) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("egress: %w", err)
		}
		_, _, err = ctrl.WriteMsgUnix([]byte{'c'}, unix.UnixRights(fds[0]), nil)
		unix.Close(fds[0])
		if err != nil {
			unix.Close(fds[1])
			return nil, fmt.Errorf("egress: hand a connection to the proxy: %w", err)
		}
		f := os.NewFile(uintptr(fds[1]), "egress")
		defer f.Close()
		return net.FileConn(f)
	}
}

// PassListener accepts the connections a worker hands over ctrl, one
// descriptor per message. Anything but a connected unix stream socket is
// closed and skipped; Accept fails once the worker closes its end.
func PassListener(ctrl *net.UnixConn) net.Listener { return &passListener{ctrl: ctrl} }

type passListener struct{ ctrl *net.UnixConn }

func (l *passListener) Accept() (net.Conn, error) {
	buf := make([]byte, 16)
	oob := make([]byte, unix.CmsgSpace(4*4))
	for {
		n, oobn, _, _, err := l.ctrl.ReadMsgUnix(buf, oob)
		if err != nil {
			return nil, err
		}
		if n == 0 && oobn == 0 {
			return nil, net.ErrClosed
		}
		fds := Rights(oob[:oobn])
		if len(fds) != 1 {
			closeAll(fds)
			continue
		}
		c, err := streamConn(fds[0])
		if err != nil {
			continue
		}
		return c, nil
	}
}

func (l *passListener) Close() error   { return l.ctrl.Close() }
func (l *passListener) Addr() net.Addr { return l.ctrl.LocalAddr() }

// Rights returns the descriptors an SCM_RIGHTS control message carried
// (already open in this process: the caller owns them).
func Rights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		if r, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, r...)
		}
	}
	return fds
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

var errNotStream = errors.New("egress: a handed descriptor is not a connected unix stream socket")

// streamConn takes fd if it is a connected unix stream socket.
func streamConn(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "egress")
	defer f.Close()
	dom, err1 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	typ, err2 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	acc, err3 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	if err1 != nil || err2 != nil || err3 != nil || dom != unix.AF_UNIX || typ != unix.SOCK_STREAM || acc != 0 {
		return nil, errNotStream
	}
	return net.FileConn(f)
}
