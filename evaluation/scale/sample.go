package scale

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/isolategpt/isolategpt/actors/msg"
)

// workerCount follows the spokes' workers from their WorkerChanged
// events: a worker is up from ready until stopped, killed or failed.
type workerCount struct {
	mu       sync.Mutex
	up       map[string]bool // by spoke
	n, peakN int
}

func newWorkerCount() *workerCount { return &workerCount{up: map[string]bool{}} }

func (w *workerCount) change(ev *msg.WorkerChanged) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch ev.State {
	case msg.WorkerReady, msg.WorkerBusy:
		if !w.up[ev.Spoke] {
			w.up[ev.Spoke] = true
			w.n++
			w.peakN = max(w.peakN, w.n)
		}
	case msg.WorkerStopped, msg.WorkerKilled, msg.WorkerFailed:
		if w.up[ev.Spoke] {
			delete(w.up, ev.Spoke)
			w.n--
		}
	}
}

func (w *workerCount) peakCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peakN
}

type procPeaks struct {
	rss                 int64
	threads, fds, procs int
}

// sampleEvery is how often the hub's RSS, threads and descriptors are
// read; procsEvery how often its descendant processes are counted (a scan
// of /proc, costlier with thousands of workers). Reading /proc/self/fd
// every 20 ms took a fifth of the hub's CPU at 1,700 descriptors.
const (
	sampleEvery = 100 * time.Millisecond
	procsEvery  = time.Second
)

// sample records this process's peak RSS, threads and descriptors, and
// with procs its descendant processes, until stop is closed. The hub is
// this process.
func sample(stop <-chan struct{}, out chan<- procPeaks, procs bool) {
	var p procPeaks
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	var lastProcs time.Time
	for {
		rss, thr := procStatus()
		p.rss, p.threads = max(p.rss, rss), max(p.threads, thr)
		p.fds = max(p.fds, countFDs())
		if procs && time.Since(lastProcs) >= procsEvery {
			p.procs = max(p.procs, descendants(os.Getpid()))
			lastProcs = time.Now()
		}
		select {
		case <-stop:
			if procs {
				// The row's workers are still up: its sessions are open.
				p.procs = max(p.procs, descendants(os.Getpid()))
			}
			out <- p
			return
		case <-tick.C:
		}
	}
}

// countFDs counts this process's open descriptors (unsorted names).
func countFDs() int {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0
	}
	defer d.Close()
	n := 0
	for {
		names, err := d.Readdirnames(1024)
		n += len(names)
		if err != nil || len(names) == 0 {
			// The listing's own descriptor is not the hub's.
			return max(n-1, 0)
		}
	}
}

// descendants counts the processes whose parent chain reaches pid.
func descendants(pid int) int {
	n, _ := procTree(pid)
	return n
}

// procTree scans /proc for the processes whose parent chain reaches pid:
// how many, and their CPU time, each process's own and that of its
// children it has reaped (utime, stime, cutime, cstime), in clock ticks.
func procTree(pid int) (n int, ticks int64) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0
	}
	type proc struct {
		ppid int
		cpu  int64
	}
	procs := make(map[int]proc, len(ents))
	for _, e := range ents {
		id, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime stime cutime cstime: comm may
		// hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 15 {
			continue
		}
		pp, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		var cpu int64
		for _, v := range f[11:15] {
			t, _ := strconv.ParseInt(v, 10, 64)
			cpu += t
		}
		procs[id] = proc{ppid: pp, cpu: cpu}
	}
	for id, p := range procs {
		for pp, hops := p.ppid, 0; pp > 1 && hops < 64; pp, hops = procs[pp].ppid, hops+1 {
			if pp == pid {
				n++
				ticks += p.cpu
				break
			}
		}
		_ = id
	}
	return n, ticks
}

// descendantsCPU is the CPU time so far of every process descended from
// this one: the children it reaped, and the live descendants with the
// children they reaped (a worker that exited is counted by whoever reaped
// it: the spawner, or this process). This process's own is selfCPU.
func descendantsCPU() time.Duration {
	var kids syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids) != nil {
		return 0
	}
	_, ticks := procTree(os.Getpid())
	return time.Duration(kids.Utime.Nano()+kids.Stime.Nano()) + time.Duration(ticks)*time.Second/clockTicks
}

// procStatus reads VmRSS (bytes) and Threads from /proc/self/status.
func procStatus() (rss int64, threads int) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = n << 10
		case "Threads":
			threads = int(n)
		}
	}
	return rss, threads
}

// selfCPU is this process's user and system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTicks is USER_HZ, the unit of /proc/stat (100 on Linux).
const clockTicks = 100
