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

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/appdir"
	"github.com/isolategpt/isolategpt/sandbox/cgroup"
)

// proc is one worker process, with what lives as long as it: its cgroup
// and its app folder's tmpfs.
type proc struct {
	app     string
	cmd     *exec.Cmd
	stderr  *capped
	exited  chan struct{}
	waitErr error
	once    sync.Once

	group *cgroup.Group
	// data is the worker's app folder (its tmpfs, open), committed to
	// dataDir on the host; nil when the folder dies with the worker.
	data      *os.File
	dataDir   string
	dataLimit appdir.Limits
	// seen is what this worker's copy knows of the host folder (guarded
	// by commitM).
	seen    appdir.Seen
	commitM sync.Mutex

	cpuSeconds, memoryCap uint64
	// limitHit holds the cause when watch killed the worker.
	limitHit  chan string
	hit       string
	hitOnce   sync.Once
	cleanOnce sync.Once
}

// start forks on a goroutine locked to its OS thread for the worker's whole
// life: Pdeathsig fires when the thread that started the child exits.
func (p *proc) start() error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the goroutine ends after Wait and its thread
		// with it.
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

// watch enforces the limits that hold for the worker as a whole: once all
// its processes together have used its CPU time (forking does not reset a
// cgroup's count, as it does RLIMIT_CPU's), or once the kernel has killed
// one of them for the group's memory, the whole worker is killed.
func (p *proc) watch() {
	p.limitHit = make(chan string, 1)
	_, counts := p.group.CPUTime()
	if !counts && !p.group.HasMemory() {
		return
	}
	limit := time.Duration(p.cpuSeconds) * time.Second
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.exited:
				return
			case <-t.C:
				var hit string
				if used, ok := p.group.CPUTime(); ok && p.cpuSeconds > 0 && used > limit {
					hit = sandbox.CauseCPU
				} else if p.group.OOMKilled() {
					hit = sandbox.CauseMemory
				}
				if hit != "" {
					p.limitHit <- hit
					p.kill()
					return
				}
			}
		}
	}()
}

func (p *proc) kill() {
	p.once.Do(func() {
		if p.cmd.Process != nil {
			_ = p.cmd.Process.Kill()
		}
	})
	<-p.exited
}

// commit copies the worker's app folder to the host. The worker may still
// be writing: what it writes later is in the next commit.
func (p *proc) commit() error {
	if p.data == nil {
		return nil
	}
	p.commitM.Lock()
	defer p.commitM.Unlock()
	if err := appdir.Commit(p.data, p.dataDir, appdir.Owner{UID: -1}, p.dataLimit, p.seen); err != nil {
		return fmt.Errorf("%s's folder was not all saved: %w", p.app, err)
	}
	return nil
}

// cleanup, after the worker is dead, saves its folder a last time and
// releases its tmpfs and cgroup.
func (p *proc) cleanup() error {
	var err error
	p.cleanOnce.Do(func() {
		err = p.commit()
		if p.data != nil {
			p.data.Close()
		}
		if gerr := p.group.Remove(); gerr != nil && err == nil {
			err = gerr
		}
	})
	return err
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
	switch p.limit() {
	case sandbox.CauseCPU:
		fmt.Fprintf(&b, "; killed: its processes together used its %d s of CPU time", p.cpuSeconds)
	case sandbox.CauseMemory:
		fmt.Fprintf(&b, "; killed: its processes together passed its %d MiB memory limit", p.memoryCap>>20)
	}
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

// limit is the group limit watch killed the worker for, or "".
func (p *proc) limit() string {
	p.hitOnce.Do(func() {
		if p.limitHit == nil {
			return
		}
		select {
		case p.hit = <-p.limitHit:
		default:
		}
	})
	if p.hit == "" && p.group.OOMKilled() {
		return sandbox.CauseMemory
	}
	return p.hit
}

// cause classifies how a dead worker ended (call after why, which waits).
func (p *proc) cause() string {
	select {
	case <-p.exited:
	default:
		return sandbox.CauseCrash
	}
	if c := p.limit(); c != "" {
		return c
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
