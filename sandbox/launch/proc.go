package launch

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/appdir"
	"github.com/isolategpt/isolategpt/sandbox/cgroup"
	"github.com/isolategpt/isolategpt/sandbox/spawner"
)

// proc is one worker process, with what lives as long as it: its cgroup
// and its app folder's tmpfs.
type proc struct {
	app    string
	w      *spawner.Worker
	exited <-chan struct{}
	once   sync.Once
	// copies are the hub's copies of the worker's output to writers that
	// are not files (Run's), done once it is gone.
	copies    sync.WaitGroup
	childEnds []*os.File
	// busy counts the calls in progress: the watcher looks at a busy
	// worker's limits more often.
	busy atomic.Int32

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

// watch enforces the limits that hold for the worker as a whole: once all
// its processes together have used its CPU time (forking does not reset a
// cgroup's count, as it does RLIMIT_CPU's), or once the kernel has killed
// one of them for the group's memory, the whole worker is killed. One
// watcher looks after every worker (see watcher).
func (p *proc) watch() {
	p.limitHit = make(chan string, 1)
	_, counts := p.group.CPUTime()
	if !counts && !p.group.HasMemory() {
		return
	}
	limits.add(p)
}

// check kills the worker if it passed a group limit, and reports whether
// it did.
func (p *proc) check() bool {
	var hit string
	if used, ok := p.group.CPUTime(); ok && p.cpuSeconds > 0 && used > time.Duration(p.cpuSeconds)*time.Second {
		hit = sandbox.CauseCPU
	} else if p.group.OOMKilled() {
		hit = sandbox.CauseMemory
	}
	if hit == "" {
		return false
	}
	select {
	case p.limitHit <- hit:
	default:
	}
	p.signal()
	return true
}

// kill kills the worker and waits until it is gone.
func (p *proc) kill() {
	p.signal()
	<-p.exited
	p.copies.Wait()
}

// signal has the spawner kill the worker, once, without waiting.
func (p *proc) signal() { p.once.Do(p.w.Kill) }

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
	if ws, ok := p.w.Status(); ok {
		if ws.Signaled() {
			switch ws.Signal() {
			case syscall.SIGSYS:
				b.WriteString("; killed by seccomp (a forbidden system call)")
			case syscall.SIGKILL:
				b.WriteString("; killed (SIGKILL: a limit, or the hub)")
			default:
				fmt.Fprintf(&b, "; killed by %v", ws.Signal())
			}
		} else {
			fmt.Fprintf(&b, "; exited with code %d", ws.ExitStatus())
		}
	} else {
		b.WriteString("; the sandbox's spawner died")
	}
	if s := strings.TrimSpace(p.w.Stderr()); s != "" {
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
	if ws, ok := p.w.Status(); ok && ws.Signaled() && ws.Signal() == syscall.SIGSYS {
		return sandbox.CauseSeccomp
	}
	// The Go runtime's words, and the race detector's (which meets the
	// address-space limit in more ways) for the same thing.
	if e := p.w.Stderr(); strings.Contains(e, "out of memory") || strings.Contains(e, "failed to allocate") || strings.Contains(e, "address space") {
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
