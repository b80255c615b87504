package spawner

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// Stage is the spawner's subcommand.
const Stage = "sandbox-spawner"

// Flags that switch defences off (tests only: they show what each stops).
const (
	// noParentDeath: workers outlive a killed hub.
	noParentDeath = "-no-parent-death"
	// noConfine: the spawner keeps what it inherited and its privileges.
	noConfine = "-no-confine"
	// noSharedNet: every worker gets a network namespace of its own.
	noSharedNet = "-no-shared-net"
)

// SocketFD is the spawner's end of the socket to the hub.
const SocketFD = 3

// Namespaces every worker gets.
const Namespaces = unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWNET

const (
	// maxPacket caps one message either way.
	maxPacket = 64 << 10
	// maxFiles caps the descriptors of one request.
	maxFiles = 64
	// maxStderr is what the spawner keeps of a worker's diagnostics.
	maxStderr = 16 << 10
	// nobody is the host uid and gid the sandbox's root maps to when the
	// hub runs as root.
	nobody = 65534
)

// Message ops.
const (
	opSpawn   = "spawn"
	opKill    = "kill"
	opSpawned = "spawned"
	opExit    = "exit"
)

// request is one message of the hub.
type request struct {
	Op string `json:"op"`
	ID uint64 `json:"id,omitempty"`
	// PID is the worker to kill.
	PID int `json:"pid,omitempty"`
	// Files places the passed descriptors: entry i is the child's fd i, its
	// value the index of a passed descriptor, or -1 for none (/dev/null
	// for 0, 1 and 2; closed above).
	Files []int `json:"files,omitempty"`
	// CaptureStderr keeps the worker's fd 2 in the spawner (capped) and
	// sends it with the exit.
	CaptureStderr bool `json:"capture_stderr,omitempty"`
	// SharedNet asks for the spawner's empty network namespace instead of
	// a new one: only for a worker whose seccomp profile refuses socket(),
	// so that nothing it can do reaches anything of the namespace (see
	// SharedNetwork).
	SharedNet bool `json:"shared_net,omitempty"`
}

// reply is one message of the spawner.
type reply struct {
	Op    string `json:"op"`
	ID    uint64 `json:"id,omitempty"`
	PID   int    `json:"pid,omitempty"`
	Error string `json:"error,omitempty"`
	// Status is the wait status of an exit.
	Status uint32 `json:"status,omitempty"`
	Stderr string `json:"stderr,omitempty"`
	// SharedNet (spawned) says the worker got the shared network
	// namespace.
	SharedNet bool `json:"shared_net,omitempty"`

	worker *Worker // the hub's, for a spawned reply
}

// child is one worker the spawner started and has not yet reaped.
type child struct {
	stderr *capture
}

type server struct {
	argv    []string
	defence bool
	uid     int
	gid     int
	// sharedNet: the forking thread is in an empty network namespace of
	// its own, which workers that asked for it share.
	sharedNet bool

	sendM sync.Mutex
	mu    sync.Mutex
	kids  map[int]*child
}

// Main runs the spawner and returns its exit code; args are its arguments
// after the stage (the hub's pid, and the test switch), argv the worker's
// fixed command line (this binary's worker stage).
func Main(args, argv []string) int {
	// Every fork happens on this thread, which never ends while the
	// spawner lives: a worker's Pdeathsig fires when the thread that
	// forked it ends.
	runtime.LockOSThread()
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "spawner: no hub pid")
		return 2
	}
	hub, err := strconv.Atoi(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "spawner: bad hub pid")
		return 2
	}
	s := &server{argv: argv, defence: !slices.Contains(args[1:], noParentDeath), kids: map[int]*child{}}
	if s.defence {
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
			fmt.Fprintln(os.Stderr, "spawner: PR_SET_PDEATHSIG:", err)
			return 1
		}
		// The hub may have died before the signal was armed.
		if os.Getppid() != hub {
			return 1
		}
	}
	if os.Geteuid() == 0 && !slices.Contains(args[1:], noSharedNet) {
		// This thread forks every worker: its network namespace is
		// what a worker without CLONE_NEWNET gets. Made before the
		// capabilities go; an ordinary user's spawner cannot (every
		// worker then gets its own).
		s.sharedNet = unix.Unshare(unix.CLONE_NEWNET) == nil
	}
	if !slices.Contains(args[1:], noConfine) {
		if err := confineSelf(); err != nil {
			fmt.Fprintln(os.Stderr, "spawner:", err)
			return 1
		}
	}
	s.uid, s.gid = os.Getuid(), os.Getgid()
	if s.uid == 0 {
		s.uid, s.gid = nobody, nobody
	}
	go s.reap()
	s.serve()
	if s.defence {
		s.killAll()
	}
	return 0
}

// serve answers the hub's requests until its socket closes.
func (s *server) serve() {
	buf := make([]byte, maxPacket+1)
	oob := make([]byte, unix.CmsgSpace(maxFiles*4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(SocketFD, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n == 0 {
			return // the hub is gone
		}
		fds := rights(oob[:oobn])
		var req request
		if err := strictjson.Unmarshal(buf[:n], &req, maxPacket); err != nil {
			closeAll(fds)
			s.send(reply{Op: opSpawned, Error: "spawner: bad request: " + err.Error()})
			continue
		}
		switch req.Op {
		case opSpawn:
			s.spawn(req, fds)
		case opKill:
			closeAll(fds)
			s.kill(req.PID)
		default:
			closeAll(fds)
			s.send(reply{Op: opSpawned, ID: req.ID, Error: fmt.Sprintf("spawner: unknown op %q", req.Op)})
		}
	}
}

// spawn forks a worker with the passed descriptors in place.
func (s *server) spawn(req request, fds []int) {
	defer closeAll(fds)
	fail := func(err error) { s.send(reply{Op: opSpawned, ID: req.ID, Error: err.Error()}) }
	if len(req.Files) > maxFiles {
		fail(fmt.Errorf("spawner: %d descriptors, limit %d", len(req.Files), maxFiles))
		return
	}
	// 0, 1 and 2 always get something: never the spawner's own.
	for len(req.Files) < 3 {
		req.Files = append(req.Files, -1)
	}
	files := make([]uintptr, len(req.Files))
	var opened []int
	defer func() { closeAll(opened) }()
	var cap *capture
	for i, idx := range req.Files {
		switch {
		case idx >= 0 && idx < len(fds):
			files[i] = uintptr(fds[idx])
		case idx >= 0:
			fail(fmt.Errorf("spawner: descriptor %d of %d", idx, len(fds)))
			return
		case i == 2 && req.CaptureStderr:
			r, w, err := os.Pipe()
			if err != nil {
				fail(fmt.Errorf("spawner: stderr pipe: %w", err))
				return
			}
			cap = newCapture(r)
			wfd, err := unix.Dup(int(w.Fd()))
			w.Close()
			if err != nil {
				r.Close()
				fail(fmt.Errorf("spawner: stderr pipe: %w", err))
				return
			}
			unix.CloseOnExec(wfd)
			opened = append(opened, wfd)
			files[i] = uintptr(wfd)
		case i <= 2:
			fd, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
			if err != nil {
				fail(fmt.Errorf("spawner: /dev/null: %w", err))
				return
			}
			opened = append(opened, fd)
			files[i] = uintptr(fd)
		default:
			files[i] = ^uintptr(0) // closed in the child
		}
	}
	flags := uintptr(Namespaces)
	shared := req.SharedNet && s.sharedNet
	if shared {
		flags &^= unix.CLONE_NEWNET
	}
	attr := &syscall.ProcAttr{
		Env:   []string{}, // no API keys, no hub secrets
		Files: files,
		Sys: &syscall.SysProcAttr{
			Cloneflags:  flags,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: s.uid, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: s.gid, Size: 1}},
			// A root hub may let the child drop the supplementary groups
			// it would otherwise inherit (setgroups(0) in its namespace);
			// the kernel forbids that to an ordinary user's namespace.
			GidMappingsEnableSetgroups: os.Getuid() == 0,
			// Without Credential the child would stay host root behind
			// its mapping.
			Credential: &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{}},
			Setsid:     true,
		},
	}
	if s.defence {
		attr.Sys.Pdeathsig = syscall.SIGKILL
	}
	// Registered before the reaper may look for it.
	s.mu.Lock()
	pid, err := syscall.ForkExec("/proc/self/exe", s.argv, attr)
	if err != nil {
		s.mu.Unlock()
		if cap != nil {
			cap.r.Close()
		}
		fail(fmt.Errorf("start worker: %w", err))
		return
	}
	s.kids[pid] = &child{stderr: cap}
	s.mu.Unlock()
	s.send(reply{Op: opSpawned, ID: req.ID, PID: pid, SharedNet: shared})
}

// kill sends SIGKILL to a child not yet reaped: its pid is still its own.
func (s *server) kill(pid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.kids[pid]; ok {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
}

func (s *server) killAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid := range s.kids {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
}

// reap collects exited children and reports them. It looks at an exited
// child first without reaping it, so that a kill never meets a pid the
// kernel has given to another process.
func (s *server) reap() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, unix.SIGCHLD)
	tick := time.NewTicker(time.Second) // in case a signal was merged away
	defer tick.Stop()
	for {
		for {
			var info unix.Siginfo
			if err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil); err != nil {
				break
			}
			pid := siginfoPID(&info)
			if pid == 0 {
				break
			}
			s.mu.Lock()
			c := s.kids[pid]
			delete(s.kids, pid)
			var ws unix.WaitStatus
			_, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
			s.mu.Unlock()
			if err != nil {
				continue
			}
			go s.exited(pid, ws, c)
		}
		select {
		case <-sig:
		case <-tick.C:
		}
	}
}

// exited reports a child's end, with its diagnostics once their pipe
// closes (every process of the worker's pid namespace died with it).
func (s *server) exited(pid int, ws unix.WaitStatus, c *child) {
	r := reply{Op: opExit, PID: pid, Status: uint32(ws)}
	if c != nil && c.stderr != nil {
		r.Stderr = c.stderr.wait(time.Second)
	}
	s.send(r)
}

func (s *server) send(r reply) {
	b, _ := json.Marshal(r)
	s.sendM.Lock()
	defer s.sendM.Unlock()
	for {
		err := unix.Sendmsg(SocketFD, b, nil, nil, 0)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// capture keeps the first maxStderr bytes of a worker's diagnostics.
type capture struct {
	r    *os.File
	mu   sync.Mutex
	buf  []byte
	done chan struct{}
}

func newCapture(r *os.File) *capture {
	c := &capture{r: r, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer r.Close()
		b := make([]byte, 4096)
		for {
			n, err := r.Read(b)
			c.mu.Lock()
			if room := maxStderr - len(c.buf); room > 0 {
				c.buf = append(c.buf, b[:min(room, n)]...)
			}
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return c
}

// wait returns what was captured once the pipe closed, or after d.
func (c *capture) wait(d time.Duration) string {
	select {
	case <-c.done:
	case <-time.After(d):
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.buf)
}

// rights are the descriptors of SCM_RIGHTS messages.
func rights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var out []int
	for i := range msgs {
		fds, err := unix.ParseUnixRights(&msgs[i])
		if err == nil {
			out = append(out, fds...)
		}
	}
	return out
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
