package egress

import (
	"net"
	"net/http"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// controlPair is a worker's control socket: the hub's end and the worker's.
func controlPair(t *testing.T) (hub, worker *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "control")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.(*net.UnixConn)
	}
	return conn(fds[0]), conn(fds[1])
}

// TestPassedConnectionsReachTheProxy: a worker hands its connections over
// an inherited socket; descriptors that are not a connection are dropped,
// and the next real one is served.
func TestPassedConnectionsReachTheProxy(t *testing.T) {
	echo := startEcho(t)
	rec := newRecorder()
	px, err := New(loopbackConfig(echo.port, rec.audit))
	if err != nil {
		t.Fatal(err)
	}
	hub, worker := controlPair(t)
	go px.Serve(PassListener(hub))
	t.Cleanup(func() { px.Close() })

	// Hostile hand-overs: a pipe, a listening socket, two at once.
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	ln, _ := net.Listen("unix", t.TempDir()+"/l.sock")
	defer ln.Close()
	lf, _ := ln.(*net.UnixListener).File()
	defer lf.Close()
	for _, fds := range [][]int{{int(r.Fd())}, {int(lf.Fd())}, {int(r.Fd()), int(w.Fd())}} {
		if _, _, err := worker.WriteMsgUnix([]byte{'c'}, unix.UnixRights(fds...), nil); err != nil {
			t.Fatal(err)
		}
	}
	addr, _, _ := startForwardDial(t, PassDialer(worker))
	c, br, resp := exchange(t, "tcp", addr, connectReq(hostPort("api.example.com", echo.port)))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	c.Write([]byte("ping"))
	if got := readFull(t, br, 4); got != "ping" {
		t.Fatalf("echo %q", got)
	}
	rec.wait(t, "opened", func(ev Event) bool { return ev.Reason == ReasonOpened })
}
