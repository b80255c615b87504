package spawner

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// ErrGone is returned for a request the spawner can no longer answer.
var ErrGone = errors.New("spawner: the spawner is gone")

// Options are a spawner's.
type Options struct {
	// Exe is the binary to run as spawner (and, by the spawner, as
	// workers); empty means this binary.
	Exe string
	// NoParentDeath switches off the lifetime defences: the spawner then
	// outlives a killed hub, and its workers outlive it (tests only, to
	// show what the defences stop).
	NoParentDeath bool
	// NoConfine starts the spawner without its own confinement (tests
	// only).
	NoConfine bool
	// NoSharedNet gives every worker a network namespace of its own, even
	// one that asks to share (tests and measurements).
	NoSharedNet bool
}

// Spawner is the hub's end of a spawner process.
type Spawner struct {
	conn *net.UnixConn
	pid  int

	mu      sync.Mutex
	next    uint64
	pending map[uint64]chan reply
	workers map[int]*Worker
	// early holds exits that came before their spawn's reply was read.
	early map[int]reply
	dead  chan struct{}
	err   error
}

// Start starts a spawner. The thread that starts it is kept for as long
// as the spawner lives: its Pdeathsig fires when that thread ends.
func Start(opts Options) (*Spawner, error) {
	exe := opts.Exe
	if exe == "" {
		exe = "/proc/self/exe"
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("spawner: socket: %w", err)
	}
	hubEnd := os.NewFile(uintptr(fds[0]), "spawner")
	c, err := net.FileConn(hubEnd)
	hubEnd.Close()
	if err != nil {
		unix.Close(fds[1])
		return nil, fmt.Errorf("spawner: socket: %w", err)
	}
	theirs := os.NewFile(uintptr(fds[1]), "spawner-child")
	args := []string{"isolategpt", Stage, strconv.Itoa(os.Getpid())}
	if opts.NoParentDeath {
		args = append(args, noParentDeath)
	}
	if opts.NoConfine {
		args = append(args, noConfine)
	}
	if opts.NoSharedNet {
		args = append(args, noSharedNet)
	}
	cmd := &exec.Cmd{
		Path:        exe,
		Args:        args,
		Env:         []string{},
		ExtraFiles:  []*os.File{theirs}, // fd 3
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if !opts.NoParentDeath {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	s := &Spawner{
		conn: c.(*net.UnixConn), pending: map[uint64]chan reply{}, workers: map[int]*Worker{},
		early: map[int]reply{}, dead: make(chan struct{}),
	}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the spawner
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		err := cmd.Wait()
		s.gone(fmt.Errorf("%w (%v)", ErrGone, err))
	}()
	err = <-started
	theirs.Close()
	if err != nil {
		s.conn.Close()
		return nil, fmt.Errorf("spawner: start: %w", err)
	}
	s.pid = cmd.Process.Pid
	go s.read()
	return s, nil
}

// PID is the spawner's process id.
func (s *Spawner) PID() int { return s.pid }

// Dead is closed once the spawner is gone.
func (s *Spawner) Dead() <-chan struct{} { return s.dead }

// Close ends the spawner; its workers die with it.
func (s *Spawner) Close() error {
	err := s.conn.Close()
	if p, perr := os.FindProcess(s.pid); perr == nil {
		_ = p.Kill()
	}
	<-s.dead
	return err
}

// Worker is one process the spawner started.
type Worker struct {
	s         *Spawner
	pid       int
	sharedNet bool
	done      chan struct{}
	// After done:
	status syscall.WaitStatus
	known  bool // the status was reported (not when the spawner died)
	stderr string
}

// PID is the worker's process id on the host.
func (w *Worker) PID() int { return w.pid }

// SharedNet reports whether the worker got the spawner's shared network
// namespace rather than one of its own.
func (w *Worker) SharedNet() bool { return w.sharedNet }

// Done is closed once the worker has exited.
func (w *Worker) Done() <-chan struct{} { return w.done }

// Status is how the worker ended (after Done); ok is false when the
// spawner died before it could say.
func (w *Worker) Status() (ws syscall.WaitStatus, ok bool) { return w.status, w.known }

// Stderr is what the spawner kept of the worker's diagnostics, when it
// captured them (after Done).
func (w *Worker) Stderr() string { return w.stderr }

// Kill has the spawner send the worker SIGKILL; it does not wait.
func (w *Worker) Kill() {
	select {
	case <-w.done:
		return
	default:
	}
	_ = w.s.send(request{Op: opKill, PID: w.pid}, nil)
}

// Spawn starts a worker whose descriptor i is files[i] (nil: /dev/null for
// 0, 1 and 2 and none above, except fd 2 with captureStderr, which the
// spawner keeps and returns with the exit). The caller may close its
// files once Spawn returns.
func (s *Spawner) Spawn(files []*os.File, captureStderr bool) (*Worker, error) {
	return s.SpawnWith(files, SpawnOptions{CaptureStderr: captureStderr})
}

// SpawnOptions are a worker's, beyond its descriptors.
type SpawnOptions struct {
	// CaptureStderr: see Spawn.
	CaptureStderr bool
	// SharedNet asks for the spawner's shared network namespace: empty,
	// no interface up, owned by the host's user namespace (no worker can
	// configure it). Only for a worker whose seccomp profile refuses
	// socket(): sharing is then invisible to it, since everything a
	// network namespace scopes (abstract unix sockets, ports, netlink) is
	// reached through a socket. An ordinary user's spawner has none, and
	// gives a worker its own (Worker.SharedNet says which).
	SharedNet bool
}

// SpawnWith is Spawn with options.
func (s *Spawner) SpawnWith(files []*os.File, o SpawnOptions) (*Worker, error) {
	req := request{Op: opSpawn, CaptureStderr: o.CaptureStderr, SharedNet: o.SharedNet}
	var fds []int
	for _, f := range files {
		if f == nil {
			req.Files = append(req.Files, -1)
			continue
		}
		req.Files = append(req.Files, len(fds))
		fds = append(fds, int(f.Fd()))
	}
	ch := make(chan reply, 1)
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return nil, s.err
	}
	s.next++
	req.ID = s.next
	s.pending[req.ID] = ch
	s.mu.Unlock()
	err := s.send(req, fds)
	runtime.KeepAlive(files)
	if err != nil {
		s.mu.Lock()
		delete(s.pending, req.ID)
		s.mu.Unlock()
		return nil, err
	}
	var r reply
	select {
	case r = <-ch:
	case <-s.dead:
		return nil, s.err
	}
	if r.Error != "" {
		return nil, errors.New(r.Error)
	}
	return r.worker, nil
}

func (s *Spawner) send(req request, fds []int) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := s.conn.WriteMsgUnix(b, oob, nil); err != nil {
		return fmt.Errorf("%w: %v", ErrGone, err)
	}
	return nil
}

// read dispatches the spawner's messages: one goroutine for all workers.
func (s *Spawner) read() {
	buf := make([]byte, maxPacket+1)
	for {
		n, _, _, _, err := s.conn.ReadMsgUnix(buf, nil)
		if err != nil || n == 0 {
			s.gone(fmt.Errorf("%w: its socket closed", ErrGone))
			return
		}
		var r reply
		if err := strictjson.Unmarshal(buf[:n], &r, maxPacket); err != nil {
			// The spawner is this binary; a bad message means it broke.
			s.gone(fmt.Errorf("%w: bad message: %v", ErrGone, err))
			s.Close()
			return
		}
		s.handle(r)
	}
}

func (s *Spawner) handle(r reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Op {
	case opSpawned:
		ch, ok := s.pending[r.ID]
		if !ok {
			return
		}
		delete(s.pending, r.ID)
		if r.Error == "" {
			w := &Worker{s: s, pid: r.PID, sharedNet: r.SharedNet, done: make(chan struct{})}
			if e, ok := s.early[r.PID]; ok {
				delete(s.early, r.PID)
				w.finish(e, true)
			} else {
				s.workers[r.PID] = w
			}
			r.worker = w
		}
		ch <- r
	case opExit:
		w, ok := s.workers[r.PID]
		if !ok {
			s.early[r.PID] = r
			return
		}
		delete(s.workers, r.PID)
		w.finish(r, true)
	}
}

func (w *Worker) finish(r reply, known bool) {
	w.status, w.known, w.stderr = syscall.WaitStatus(r.Status), known, r.Stderr
	close(w.done)
}

// gone marks the spawner dead: every worker it had is dead too (they die
// with it), and every pending request fails.
func (s *Spawner) gone(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	s.err = err
	for pid, w := range s.workers {
		delete(s.workers, pid)
		w.finish(reply{}, false)
	}
	close(s.dead)
}

var shared struct {
	mu sync.Mutex
	m  map[string]*Spawner
}

// Shared is the process's spawner for exe (empty: this binary), started on
// first use and again if it died.
func Shared(exe string) (*Spawner, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if s := shared.m[exe]; s != nil {
		select {
		case <-s.dead:
		default:
			return s, nil
		}
	}
	s, err := Start(Options{Exe: exe})
	if err != nil {
		return nil, err
	}
	if shared.m == nil {
		shared.m = map[string]*Spawner{}
	}
	shared.m[exe] = s
	return s, nil
}
