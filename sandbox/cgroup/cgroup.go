// Package cgroup gives each worker a cgroup of its own, limiting memory,
// processes and CPU for the whole worker and every process it starts
// (cgroup v2 where the hub's cgroup is delegated to it, v1 when the hub is
// root on a v1 host), and reads back what the kernel counted.
//
// Where worker groups are made:
//
//	v2, hub in the root cgroup     <mount>/isolategpt-<hub pid>-<n>
//	v2, hub in a delegated cgroup  the hub moves itself to <its cgroup>/isolategpt-hub,
//	                               enables the controllers below <its cgroup>,
//	                               and makes <its cgroup>/isolategpt-<hub pid>-<n>
//	v1, hub root                   <hierarchy>/<its cgroup>/isolategpt-<hub pid>-<n>,
//	                               one per controller (memory, pids, cpu, cpuacct)
//
// A controller the host cannot give is reported with the reason, and the
// launcher refuses to start a worker without it unless the user opted
// into a weaker sandbox.
package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The controllers the sandbox limits a worker with.
const (
	Memory = "memory"
	Pids   = "pids"
	CPU    = "cpu"
)

// Controllers lists them in the order they are reported.
var Controllers = []string{Memory, Pids, CPU}

// Limits are one worker's.
type Limits struct {
	Memory     uint64 // bytes of memory (page cache and tmpfs included), no swap
	Pids       uint64 // tasks: processes and threads
	CPUPercent uint64 // CPU bandwidth, 100 = one core
}

// Controller is what the host gives for one controller.
type Controller struct {
	Name     string
	Enforced bool
	// Where is the cgroup version and the folder worker groups go in, or,
	// when not enforced, why not.
	Where string
}

// Host is the hub's view of the host's cgroups.
type Host struct {
	fake    bool
	ctrl    map[string]*place
	cpuacct *place // v1: CPU time is counted by its own controller
	v2      *v2setup
	n       atomic.Int64

	freeM sync.Mutex
	free  []*Group // empty groups kept for reuse
}

// place is where one controller's worker groups go.
type place struct {
	version int
	dir     string
	why     string // not usable: why
}

var (
	hostOnce sync.Once
	host     *Host
)

// Detect reads the host's cgroups once per process.
func Detect() *Host {
	hostOnce.Do(func() {
		mi, _ := os.ReadFile("/proc/self/mountinfo")
		cg, _ := os.ReadFile("/proc/self/cgroup")
		host = detect(string(mi), string(cg), os.Getuid() == 0, true)
	})
	return host
}

// detect works out, from mountinfo and /proc/self/cgroup, where each
// controller's worker groups can go; with probe it tries to make one.
func detect(mountinfo, selfCgroup string, root, probe bool) *Host {
	h := &Host{ctrl: map[string]*place{}}
	mounts := parseMountinfo(mountinfo)
	paths := parseSelfCgroup(selfCgroup)
	v1 := map[string]mount{}
	var v2 *mount
	for _, m := range mounts {
		if m.fstype == "cgroup2" && v2 == nil {
			m := m
			v2 = &m
			continue
		}
		if m.fstype == "cgroup" {
			for _, c := range m.controllers {
				if _, ok := v1[c]; !ok {
					v1[c] = m
				}
			}
		}
	}
	v2Controllers := map[string]bool{}
	var v2dir string
	if v2 != nil {
		if p, ok := paths[""]; ok {
			v2dir = v2.at(p)
		}
		if v2dir != "" {
			b, _ := os.ReadFile(filepath.Join(v2dir, "cgroup.controllers"))
			for _, c := range strings.Fields(string(b)) {
				v2Controllers[c] = true
			}
		}
	}
	for _, c := range append(slices.Clone(Controllers), "cpuacct") {
		pl := &place{}
		m, inV1 := v1[c]
		switch {
		case inV1:
			pl.version = 1
			p, ok := paths[c]
			if pl.dir = m.at(p); !ok || pl.dir == "" {
				pl.why = fmt.Sprintf("cgroup v1 %s: the hub's own cgroup is not visible in /proc/self/cgroup and its mounts", c)
				break
			}
			if !root {
				pl.why = fmt.Sprintf("cgroup v1 %s: this host has cgroup v1, whose groups only root may make (run the hub as root, or on a cgroup v2 host with a delegated cgroup)", c)
			} else if probe {
				if err := tryMkdir(pl.dir); err != nil {
					pl.why = fmt.Sprintf("cgroup v1 %s: cannot make groups in %s: %v", c, pl.dir, err)
				}
			}
		case v2Controllers[c] || (c == "cpuacct" && v2 != nil):
			pl.version, pl.dir = 2, v2dir
		case v2 != nil && v2dir != "":
			pl.why = fmt.Sprintf("cgroup v2 %s: the controller is not enabled for the hub's cgroup %s", c, v2dir)
		default:
			pl.why = fmt.Sprintf("cgroup %s: no cgroup hierarchy has this controller", c)
		}
		if c == "cpuacct" {
			h.cpuacct = pl
		} else {
			h.ctrl[c] = pl
		}
	}
	if h.cpuacct.why != "" && h.ctrl[CPU].why == "" {
		h.ctrl[CPU].why = "cgroup cpu: the worker's CPU time cannot be counted (" + h.cpuacct.why + ")"
	}
	if v2dir != "" {
		h.v2 = &v2setup{dir: v2dir, root: v2.root == "/" && paths[""] == "/", probe: probe}
	}
	return h
}

func tryMkdir(dir string) error {
	probe := filepath.Join(dir, fmt.Sprintf("isolategpt-probe-%d", os.Getpid()))
	if err := os.Mkdir(probe, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return os.Remove(probe)
}

// Fake is a Host whose worker groups are plain folders under dir, as if
// the host had cgroup v1 with every controller: for tests of code that
// makes groups, on hosts that give the test none. It limits nothing.
func Fake(dir string) *Host {
	mi := fmt.Sprintf("1 1 0:1 / %s rw - cgroup cgroup rw,memory,pids,cpu,cpuacct\n", dir)
	h := detect(mi, "1:memory,pids,cpu,cpuacct:/\n", true, false)
	h.fake = true
	return h
}

// None is a Host that gives no controller, for why.
func None(why string) *Host {
	h := &Host{ctrl: map[string]*place{}, cpuacct: &place{why: why}}
	for _, c := range Controllers {
		h.ctrl[c] = &place{why: why}
	}
	return h
}

// Status reports each controller.
func (h *Host) Status() []Controller {
	var out []Controller
	for _, c := range Controllers {
		pl := h.ctrl[c]
		if pl.why == "" && pl.version == 2 {
			if err := h.v2.ready(); err != nil {
				out = append(out, Controller{Name: c, Where: err.Error()})
				continue
			}
		}
		if pl.why != "" {
			out = append(out, Controller{Name: c, Where: pl.why})
			continue
		}
		out = append(out, Controller{Name: c, Enforced: true, Where: fmt.Sprintf("cgroup v%d, worker groups in %s", pl.version, h.parent(pl))})
	}
	return out
}

// Missing names the controllers the host cannot give, with why.
func (h *Host) Missing() []Controller {
	var out []Controller
	for _, c := range h.Status() {
		if !c.Enforced {
			out = append(out, c)
		}
	}
	return out
}

func (h *Host) parent(pl *place) string {
	if pl.version == 2 {
		return h.v2.parent()
	}
	return pl.dir
}

// Group is one worker's cgroup (one folder per v1 hierarchy, or one v2
// folder).
type Group struct {
	fake              bool
	host              *Host
	dirs              []string
	memory, cpu, pids string // the folder holding each controller's files
	cpuVersion        int
	memVersion        int
	// cpuLimit holds the cpu controller's limit files (cpu is where its
	// time is counted, cpuacct's folder on v1).
	cpuLimit        string
	cpuLimitVersion int
	// cpuBase and oomBase are the counters when a reused group was handed
	// out: what an earlier worker did is not this one's.
	cpuBase time.Duration
	oomBase uint64
}

// New makes a worker's group with every controller the host gives, and
// sets its limits. Controllers the host cannot give are left out (see
// Missing); a failure to make or limit one the host gives is an error.
func (h *Host) New(l Limits) (*Group, error) {
	if g := h.reuse(l); g != nil {
		return g, nil
	}
	name := fmt.Sprintf("isolategpt-%d-%d", os.Getpid(), h.n.Add(1))
	g := &Group{fake: h.fake, host: h}
	made := map[string]string{}
	mk := func(pl *place) (string, error) {
		parent := h.parent(pl)
		if d, ok := made[parent]; ok {
			return d, nil
		}
		d := filepath.Join(parent, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			return "", fmt.Errorf("cgroup: make %s: %w", d, err)
		}
		made[parent] = d
		g.dirs = append(g.dirs, d)
		return d, nil
	}
	fail := func(err error) (*Group, error) {
		g.Remove()
		return nil, err
	}
	if h.v2 != nil && h.usesV2() {
		if err := h.v2.ready(); err != nil {
			return nil, err
		}
	}
	for _, c := range Controllers {
		pl := h.ctrl[c]
		if pl.why != "" {
			continue
		}
		d, err := mk(pl)
		if err != nil {
			return fail(err)
		}
		var werr error
		switch c {
		case Memory:
			g.memory, g.memVersion = d, pl.version
			werr = setMemory(d, pl.version, l.Memory)
		case Pids:
			g.pids = d
			werr = write(d, "pids.max", strconv.FormatUint(l.Pids, 10))
		case CPU:
			g.cpuLimit, g.cpuLimitVersion = d, pl.version
			werr = setCPU(d, pl.version, l.CPUPercent)
			acct, err := mk(h.cpuacct)
			if err != nil {
				return fail(err)
			}
			g.cpu, g.cpuVersion = acct, h.cpuacct.version
		}
		if werr != nil {
			return fail(werr)
		}
	}
	return g, nil
}

func (h *Host) usesV2() bool {
	for _, pl := range h.ctrl {
		if pl.why == "" && pl.version == 2 {
			return true
		}
	}
	return false
}

func setMemory(d string, version int, limit uint64) error {
	v := strconv.FormatUint(limit, 10)
	if version == 2 {
		if err := write(d, "memory.max", v); err != nil {
			return err
		}
		// Past the limit the kernel kills the whole group, not one process.
		if err := writeIfExists(d, "memory.oom.group", "1"); err != nil {
			return err
		}
		return writeIfExists(d, "memory.swap.max", "0")
	}
	if err := write(d, "memory.limit_in_bytes", v); err != nil {
		return err
	}
	// Memory and swap together: nothing goes to swap past the limit.
	return writeIfExists(d, "memory.memsw.limit_in_bytes", v)
}

func setCPU(d string, version int, percent uint64) error {
	const period = 100000 // µs
	quota := strconv.FormatUint(percent*period/100, 10)
	// Each write of a bandwidth file makes the kernel check every task
	// group of the host (walk_tg_tree): its cost grows with the groups
	// alive, one per live worker. So a value already in place (the
	// default period, or a reused group's quota) is not written again.
	if version == 2 {
		return writeChanged(d, "cpu.max", quota+" "+strconv.Itoa(period))
	}
	if err := writeChanged(d, "cpu.cfs_period_us", strconv.Itoa(period)); err != nil {
		return err
	}
	return writeChanged(d, "cpu.cfs_quota_us", quota)
}

// writeChanged writes v unless the file already reads v.
func writeChanged(dir, file, v string) error {
	if b, err := os.ReadFile(filepath.Join(dir, file)); err == nil && strings.TrimSpace(string(b)) == v {
		return nil
	}
	return write(dir, file, v)
}

// Add puts a process (and every process it starts later) in the group.
func (g *Group) Add(pid int) error {
	if g == nil {
		return nil
	}
	for _, d := range g.dirs {
		if err := write(d, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// HasMemory reports whether the group limits memory.
func (g *Group) HasMemory() bool { return g != nil && g.memory != "" }

// OOMKilled reports whether the kernel killed a process of the group for
// passing its memory limit.
func (g *Group) OOMKilled() bool {
	if g == nil || g.memory == "" {
		return false
	}
	return g.oomKills() > g.oomBase
}

func (g *Group) oomKills() uint64 {
	file := "memory.events"
	if g.memVersion == 1 {
		file = "memory.oom_control"
	}
	return field(g.memory, file, "oom_kill")
}

// CPUTime is the CPU time every process of the group has used, living or
// gone; ok is false when the group does not count it.
func (g *Group) CPUTime() (time.Duration, bool) {
	if g == nil || g.cpu == "" {
		return 0, false
	}
	if g.cpuVersion == 2 {
		return time.Duration(field(g.cpu, "cpu.stat", "usage_usec"))*time.Microsecond - g.cpuBase, true
	}
	b, err := os.ReadFile(filepath.Join(g.cpu, "cpuacct.usage"))
	if err != nil {
		return 0, false
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return time.Duration(n) - g.cpuBase, true
}

// Remove deletes the group once its processes are gone (it waits a little
// for the kernel to finish with them).
func (g *Group) Remove() error {
	if g == nil {
		return nil
	}
	var errs []error
	for i := len(g.dirs) - 1; i >= 0; i-- {
		d := g.dirs[i]
		if g.fake {
			errs = append(errs, os.RemoveAll(d))
			continue
		}
		var err error
		for try := 0; try < 50; try++ {
			if err = os.Remove(d); err == nil || errors.Is(err, os.ErrNotExist) {
				err = nil
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("cgroup: remove %s: %w", d, err))
		}
	}
	g.dirs = nil
	return errors.Join(errs...)
}

func write(dir, file, v string) error {
	if err := os.WriteFile(filepath.Join(dir, file), []byte(v), 0); err != nil {
		return fmt.Errorf("cgroup: %s: %w", file, err)
	}
	return nil
}

func writeIfExists(dir, file, v string) error {
	if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
		return nil
	}
	return write(dir, file, v)
}

// field reads "key value" lines and returns key's value.
func field(dir, file, key string) uint64 {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}
