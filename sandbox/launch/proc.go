package launch

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/sandbox"
)

// proc is one worker process.
type proc struct {
	app     string
	cmd     *exec.Cmd
	stderr  *capped
	exited  chan struct{}
	waitErr error
	once    sync.Once
}

// start forks on a goroutine locked to its OS thread for the worker's whole
// life: Pdeathsig fires when the thread that started the child exits.
//
// That thread first takes a working folder of its own (unshare CLONE_FS)
// and enters dir. clone(CLONE_NEWNS) moves the child's working folder to
// its copy in the new mount namespace, so getcwd works in the worker; a
// folder entered later through an inherited descriptor would belong to the
// hub's namespace and be unreachable from the worker's root, and programs
// such as Node.js refuse to start without a working folder.
func (p *proc) start(dir *os.File) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the goroutine ends after Wait and its thread
		// with it, cwd and all.
		if err := enter(dir); err != nil {
			started <- err
			close(p.exited)
			return
		}
		if err := p.cmd.Start(); err != nil {
			started <- err
			close(p.exited)
			return
		}
		started <- nil
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	return <-started
}

// enter gives the calling (locked) thread its own working folder, dir.
func enter(dir *os.File) error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("own working folder: %w", err)
	}
	if err := unix.Fchdir(int(dir.Fd())); err != nil {
		return fmt.Errorf("enter data folder: %w", err)
	}
	return nil
}

func (p *proc) kill() {
	p.once.Do(func() {
		if p.cmd.Process != nil {
			_ = p.cmd.Process.Kill()
		}
	})
	<-p.exited
}

func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// why describes how the worker ended, for error messages; its stderr is the
// app's own text and is quoted.
func (p *proc) why() string {
	select {
	case <-p.exited:
	case <-time.After(200 * time.Millisecond):
		return ""
	}
	var b strings.Builder
	if ps := p.cmd.ProcessState; ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			switch ws.Signal() {
			case syscall.SIGSYS:
				b.WriteString("; killed by seccomp (a forbidden system call)")
			case syscall.SIGKILL:
				b.WriteString("; killed (SIGKILL: a limit, or the hub)")
			default:
				fmt.Fprintf(&b, "; killed by %v", ws.Signal())
			}
		} else {
			fmt.Fprintf(&b, "; exited with code %d", ps.ExitCode())
		}
	}
	if s := strings.TrimSpace(p.stderr.String()); s != "" {
		fmt.Fprintf(&b, "; worker said %q", lastLine(s))
	}
	return b.String()
}

// cause classifies how a dead worker ended (call after why, which waits).
func (p *proc) cause() string {
	select {
	case <-p.exited:
	default:
		return sandbox.CauseCrash
	}
	if ps := p.cmd.ProcessState; ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGSYS {
			return sandbox.CauseSeccomp
		}
	}
	// The Go runtime's words, and the race detector's (which meets the
	// address-space limit in more ways) for the same thing.
	if e := p.stderr.String(); strings.Contains(e, "out of memory") || strings.Contains(e, "failed to allocate") || strings.Contains(e, "address space") {
		return sandbox.CauseMemory
	}
	return sandbox.CauseCrash
}

// lastLine picks the line that explains an exit: a Go runtime's "fatal
// error" or "panic" line if there is one, else the last line.
func lastLine(s string) string {
	lines := strings.Split(s, "\n")
	s = lines[len(lines)-1]
	for _, l := range lines {
		if strings.HasPrefix(l, "fatal error:") || strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "runtime: out of memory") {
			s = l
			break
		}
	}
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// capped keeps at most max bytes of a stream and drops the rest.
type capped struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.buf)
}
