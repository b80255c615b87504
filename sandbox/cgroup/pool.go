package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxFree is how many empty worker groups a hub keeps for its next
// workers: making and removing a group costs a mkdir and an rmdir per v1
// hierarchy, and an rmdir may have to wait for the kernel to let go of
// the processes that just died.
const MaxFree = 64

// StaleAfter is how long an empty group of a hub that is gone must have
// existed before Sweep removes it: a hub in another pid namespace, whose
// pid this one cannot see, may just have made it.
const StaleAfter = time.Minute

// groupName matches worker groups: isolategpt-<hub pid>-<n>.
var groupName = regexp.MustCompile(`^isolategpt-([0-9]+)-[0-9]+$`)

// Release gives back a worker's group once its processes are gone: an
// empty one is kept for the host's next New (its counters start again
// from what they read now), any other is removed.
func (g *Group) Release() error {
	if g == nil || g.host == nil || len(g.dirs) == 0 {
		return g.Remove()
	}
	h := g.host
	if !g.empty() {
		return g.Remove()
	}
	h.freeM.Lock()
	if len(h.free) >= MaxFree {
		h.freeM.Unlock()
		return g.Remove()
	}
	h.free = append(h.free, g)
	h.freeM.Unlock()
	return nil
}

// empty reports whether no process is left in the group (a fake group
// without a cgroup.procs file counts as empty).
func (g *Group) empty() bool {
	for _, d := range g.dirs {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if g.fake && errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil || strings.TrimSpace(string(b)) != "" {
			return false
		}
	}
	return true
}

// reuse takes a kept group and sets its limits for a new worker; a group
// that cannot take them (it vanished, or the kernel cannot reclaim what
// is still charged to it) is removed and nil returned.
func (h *Host) reuse(l Limits) *Group {
	for {
		h.freeM.Lock()
		n := len(h.free)
		if n == 0 {
			h.freeM.Unlock()
			return nil
		}
		g := h.free[n-1]
		h.free = h.free[:n-1]
		h.freeM.Unlock()
		if err := g.limit(l); err != nil {
			g.Remove()
			continue
		}
		// A new Group for the new worker: whoever still holds the last
		// one's reads it as it was.
		ng := *g
		ng.cpuBase, ng.oomBase = 0, 0
		ng.cpuBase, _ = ng.CPUTime()
		ng.oomBase = ng.oomKills()
		return &ng
	}
}

// limit writes a group's limits.
func (g *Group) limit(l Limits) error {
	if g.memory != "" {
		if g.memVersion == 1 {
			// memory and swap together may not be below memory alone:
			// lift it before a larger memory limit is set.
			if err := writeIfExists(g.memory, "memory.memsw.limit_in_bytes", "-1"); err != nil {
				return err
			}
		}
		if err := setMemory(g.memory, g.memVersion, l.Memory); err != nil {
			return err
		}
	}
	if g.pids != "" {
		if err := write(g.pids, "pids.max", strconv.FormatUint(l.Pids, 10)); err != nil {
			return err
		}
	}
	if g.cpuLimit != "" {
		return setCPU(g.cpuLimit, g.cpuLimitVersion, l.CPUPercent)
	}
	return nil
}

// Drain removes the groups kept for reuse (a hub that ends calls it).
func (h *Host) Drain() error {
	h.freeM.Lock()
	free := h.free
	h.free = nil
	h.freeM.Unlock()
	var errs []error
	for _, g := range free {
		errs = append(errs, g.Remove())
	}
	return errors.Join(errs...)
}

// Sweep removes the worker groups that hubs which are gone left behind (a
// hub killed with SIGKILL removes none of its own): empty groups named for
// a pid that no process has, older than age (StaleAfter unless a test
// says otherwise). A group that still holds processes is left alone,
// whoever made it. It returns how many it removed.
func (h *Host) Sweep(age time.Duration) (int, error) {
	self := os.Getpid()
	removed := 0
	var errs []error
	for _, parent := range h.Parents() {
		ents, err := os.ReadDir(parent)
		if err != nil {
			errs = append(errs, fmt.Errorf("cgroup: sweep %s: %w", parent, err))
			continue
		}
		for _, e := range ents {
			m := groupName.FindStringSubmatch(e.Name())
			if m == nil || !e.IsDir() {
				continue
			}
			pid, err := strconv.Atoi(m[1])
			if err != nil || pid == self || pidAlive(pid) {
				continue
			}
			d := filepath.Join(parent, e.Name())
			if info, err := e.Info(); err != nil || time.Since(info.ModTime()) < age {
				continue
			}
			g := &Group{fake: h.fake, dirs: []string{d}}
			if !g.empty() {
				continue
			}
			if err := g.Remove(); err != nil {
				errs = append(errs, err)
				continue
			}
			removed++
		}
	}
	return removed, errors.Join(errs...)
}

// Parents are the folders worker groups are made in.
func (h *Host) Parents() []string {
	var out []string
	add := func(pl *place) {
		if pl != nil && pl.why == "" && !slices.Contains(out, h.parent(pl)) {
			out = append(out, h.parent(pl))
		}
	}
	for _, c := range Controllers {
		add(h.ctrl[c])
	}
	add(h.cpuacct)
	return out
}

// pidAlive reports whether a process has pid here.
func pidAlive(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}
