package launch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/spawner"
)

// StartCost is what starting one worker cost with Live others alive.
type StartCost struct {
	Live    int
	Samples int
	// Wall is the median time of one Launch: spawn, set-up and the
	// initialize hand-shake.
	Wall time.Duration
	// HubCPU and SpawnerCPU are the mean CPU time (user and system) the
	// hub's process and the spawner's spent on one start (the spawner's
	// is counted in clock ticks: a mean over many samples).
	HubCPU, SpawnerCPU time.Duration
	// HubThreads and HubFDs are the hub's OS threads and open descriptors
	// with Live workers alive (before the samples).
	HubThreads, HubFDs int
}

// MeasureStartCost measures the cost of starting a worker for app (its
// folder dataDir) with each number of live workers in lives, in the order
// given: it starts (or closes) workers of the same app until that many are
// alive, then starts and closes samples more, one at a time, timing each.
// Every worker it started is closed when it returns.
func (l *Launcher) MeasureStartCost(ctx context.Context, app sandbox.App, dataDir string, lives []int, samples int) ([]StartCost, error) {
	if samples < 1 {
		return nil, errors.New("measure start cost: samples must be at least 1")
	}
	var live []sandbox.Conn
	defer func() { closeConns(live) }()
	var out []StartCost
	for _, n := range lives {
		if n < 0 {
			return out, fmt.Errorf("measure start cost: %d live workers", n)
		}
		if n < len(live) {
			closeConns(live[n:])
			live = live[:n]
		}
		more, err := l.startMany(ctx, app, dataDir, n-len(live))
		live = append(live, more...)
		if err != nil {
			return out, fmt.Errorf("measure start cost: %d live workers: %w", n, err)
		}
		sc := StartCost{Live: n, Samples: samples, HubThreads: threads(), HubFDs: openFDs()}
		sp, err := spawner.Shared(l.Exe)
		if err != nil {
			return out, fmt.Errorf("measure start cost: %w", err)
		}
		var wall []time.Duration
		h0, s0 := selfCPU(), pidCPU(sp.PID())
		for range samples {
			start := time.Now()
			c, err := l.Launch(ctx, app, dataDir)
			if err != nil {
				return out, fmt.Errorf("measure start cost: %w", err)
			}
			wall = append(wall, time.Since(start))
			c.Close()
		}
		// Closing is part of a worker's cost to the hub.
		sc.Wall = median(wall)
		sc.HubCPU = (selfCPU() - h0) / time.Duration(samples)
		sc.SpawnerCPU = (pidCPU(sp.PID()) - s0) / time.Duration(samples)
		out = append(out, sc)
	}
	return out, nil
}

// startMany starts n workers, a few at a time.
func (l *Launcher) startMany(ctx context.Context, app sandbox.App, dataDir string, n int) ([]sandbox.Conn, error) {
	var (
		mu    sync.Mutex
		conns []sandbox.Conn
		first error
		wg    sync.WaitGroup
	)
	next := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				c, err := l.Launch(ctx, app, dataDir)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				if c != nil {
					conns = append(conns, c)
				}
				mu.Unlock()
			}
		}()
	}
	for range n {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			break
		}
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	return conns, first
}

func closeConns(cs []sandbox.Conn) {
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := i; j < len(cs); j += 4 {
				cs[j].Close()
			}
		}()
	}
	wg.Wait()
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// selfCPU is this process's CPU time so far.
func selfCPU() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pidCPU is another process's CPU time so far (utime and stime of its
// /proc stat, in clock ticks of 10 ms on Linux's usual USER_HZ of 100).
func pidCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func threads() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

func openFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}
