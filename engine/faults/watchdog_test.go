//go:build faults

package faults

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"sync"
	"syscall"
	"time"
)

// The suite's time limits: it must never hang CI. A command is killed
// after cmdLimit (the trial then fails, naming it); a trial that runs
// past trialLimit (a wait of the suite's own that never ends) stops the
// whole run with its reproduction line, after killing every command it
// started and detaching its filesystems; the run as a whole stops
// runLimit past its budget.
const (
	cmdLimit   = time.Minute
	trialLimit = 4 * time.Minute
	runLimit   = 5 * time.Minute
)

// watch is what the watchdog knows: the trial running, the commands and
// filesystems to clean up. Guarded by suite.mu.
type watch struct {
	cur      string // the running trial's reproduction line
	curStart time.Time
	procs    map[int]bool // process group ids of running commands
	mounts   map[string]bool
}

// startWatchdog checks every few seconds that the trial running is within
// trialLimit and the run within its budget plus runLimit.
func (s *suite) startWatchdog() {
	s.w = watch{procs: map[int]bool{}, mounts: map[string]bool{}, curStart: time.Now(), cur: "starting the suite"}
	start := time.Now()
	stop := make(chan struct{})
	s.t.Cleanup(func() { close(stop) })
	go func() {
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			s.mu.Lock()
			cur, since := s.w.cur, time.Since(s.w.curStart)
			s.mu.Unlock()
			switch {
			case since > trialLimit:
				s.abort(fmt.Sprintf("faults: HUNG: %s still running after %v (limit %v): the suite or a command hung", cur, since.Round(time.Second), trialLimit))
			case time.Since(start) > s.cfg.budget+runLimit:
				s.abort(fmt.Sprintf("faults: HUNG: still running %v past FAULTS_BUDGET=%v (FAULTS_SEED=%d), at %s", runLimit, s.cfg.budget, s.cfg.seed, cur))
			}
		}
	}()
}

// running marks the start of a trial for the watchdog.
func (s *suite) running(tr *trial) {
	s.mu.Lock()
	s.w.cur = fmt.Sprintf("FAULTS_KINDS=%s FAULTS_SEED=%d trial %d as %s", tr.kind, s.cfg.seed, tr.n, tr.mode.name)
	s.w.curStart = time.Now()
	s.mu.Unlock()
}

// track and trackMount keep the sets of running commands (by process
// group) and mounted filesystems.
func (s *suite) track(pgid int, on bool)        { setMember(&s.mu, s.w.procs, pgid, on) }
func (s *suite) trackMount(dir string, on bool) { setMember(&s.mu, s.w.mounts, dir, on) }

func setMember[K comparable](mu *sync.Mutex, set map[K]bool, k K, on bool) {
	mu.Lock()
	defer mu.Unlock()
	if on {
		set[k] = true
	} else {
		delete(set, k)
	}
}

// abort ends the run from the watchdog: every command killed, every small
// filesystem detached, then a panic (go test prints it with every
// goroutine's stack and fails).
func (s *suite) abort(msg string) {
	s.mu.Lock()
	var pgids []int
	for p := range s.w.procs {
		pgids = append(pgids, p)
	}
	var mounts []string
	for m := range s.w.mounts {
		mounts = append(mounts, m)
	}
	s.mu.Unlock()
	sort.Ints(pgids)
	for _, p := range pgids {
		_ = syscall.Kill(-p, syscall.SIGKILL)
	}
	for _, m := range mounts {
		_ = exec.Command("umount", "-l", m).Run()
	}
	fmt.Fprintf(os.Stderr, "%s\n(killed %d command(s), detached %d filesystem(s))\n", msg, len(pgids), len(mounts))
	panic(msg)
}
