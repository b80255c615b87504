package launch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/appdir"
	"github.com/isolategpt/isolategpt/sandbox/cgroup"
	"github.com/isolategpt/isolategpt/sandbox/confine"
	"github.com/isolategpt/isolategpt/sandbox/egress"
	"github.com/isolategpt/isolategpt/sandbox/spawner"
	"github.com/isolategpt/isolategpt/sandbox/worker"
)

// spawnSpec is everything one worker is made from. A worker needs nothing
// else from the hub: its stage 1 builds its root and confines itself from
// this alone (see sandbox/worker), so the spawner starts it from the
// descriptors alone.
type spawnSpec struct {
	app string
	cfg worker.Config
	// data is the app's folder on the host: filled into the worker's
	// tmpfs before it starts and committed back. Empty: an empty folder
	// that dies with the worker.
	data                  string
	stdin                 io.Reader
	stdout, stderr        io.Writer
	egress                *os.File // the worker's end of the egress control socket
	cpuSeconds, memoryCap uint64
}

// spawn starts a worker: new namespaces, its own cgroup, the set-up
// hand-shake (config, built root, go, confined, app folder filled, start)
// and its ready report. A layer the host cannot give stops it here unless the launcher
// allows a weaker sandbox.
func (l *Launcher) spawn(s spawnSpec) (*proc, *statusConn, error) {
	s.cfg.Persist = s.data != ""
	if s.cfg.Persist {
		if err := checkDataFolder(s.data); err != nil {
			return nil, nil, fmt.Errorf("launch %s: %w", s.app, err)
		}
	}
	b, err := l.build(s)
	if err != nil {
		return nil, nil, err
	}
	return l.complete(b, s.data)
}

// built is a worker confined and stopped before its app starts: nothing
// of the app has run, and it waits for its app folder and the hub's
// start.
type built struct {
	p      *proc
	status *statusConn
	layers []sandbox.Layer
}

// abandon kills a built worker that will not be used.
func (b *built) abandon() {
	b.status.Close()
	b.p.kill()
	b.p.cleanup()
}

// build starts a worker up to its confinement (see spawn).
func (l *Launcher) build(s spawnSpec) (*built, error) {
	_, _, startTimeout, _ := l.defaults()
	uid, _ := hostIDs()
	layers := hostLayers(uid)
	s.cfg.AllowWeaker = l.AllowWeaker
	s.cfg.LandlockFloor = l.LandlockFloor
	lim := s.cfg.Policy.Limits
	mark := phaseMarker()
	group, glayers, err := l.cgroupFor(cgroup.Limits{Memory: lim.Memory, Pids: lim.Processes, CPUPercent: lim.CPUPercent})
	layers = append(layers, glayers...)
	if err != nil {
		return nil, fmt.Errorf("launch %s: %w", s.app, err)
	}
	mark("cgroup mkdir+limits")
	// The grants get this worker's descriptor numbers: a copy, since the
	// configuration's slice is shared with the other starts of it (a
	// prewarmed worker is built beside a launch).
	s.cfg.Grants = slices.Clone(s.cfg.Grants)
	grants, err := detachGrants(s.cfg.Grants)
	if err != nil {
		group.Remove()
		return nil, fmt.Errorf("launch %s: %w", s.app, err)
	}
	defer closeFiles(grants)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		group.Remove()
		return nil, fmt.Errorf("launch %s: status socket: %w", s.app, err)
	}
	childStatus := os.NewFile(uintptr(fds[1]), "status-child")
	defer childStatus.Close()
	status, err := newStatusConn(fds[0])
	if err != nil {
		group.Remove()
		return nil, fmt.Errorf("launch %s: status socket: %w", s.app, err)
	}

	sp, err := spawner.Shared(l.Exe)
	if err != nil {
		status.Close()
		group.Remove()
		return nil, fmt.Errorf("launch %s: %w", s.app, err)
	}
	p := &proc{
		app: s.app, group: group,
		dataLimit:  appdir.Limits{Bytes: lim.DataBytes, Entries: lim.DataInodes},
		cpuSeconds: s.cpuSeconds, memoryCap: s.memoryCap, memLimit: lim.AddressSpace,
	}
	stdio, err := p.stdio(s.stdin, s.stdout, s.stderr)
	if err != nil {
		status.Close()
		group.Remove()
		return nil, fmt.Errorf("launch %s: %w", s.app, err)
	}
	files := append(stdio, childStatus, s.egress, nil) // fd 3, 4, 5
	files = append(files, grants...)                   // 6…
	mark("sockets, pipes")
	p.w, err = sp.SpawnWith(files, spawner.SpawnOptions{CaptureStderr: s.stderr == nil, SharedNet: l.mayShareNet(s.cfg)})
	mark("spawner: clone(namespaces)+maps+exec")
	p.closeChildEnds()
	if err != nil {
		status.Close()
		group.Remove()
		return nil, fmt.Errorf("launch %s: start worker: %w", s.app, err)
	}
	p.exited = p.w.Done()
	if p.w.SharedNet() {
		layers[0].Detail = namespacesShared(uid)
	}
	b := &built{p: p, status: status, layers: layers}
	fail := func(err error) (*built, error) {
		b.abandon()
		return nil, fmt.Errorf("launch %s: worker set-up: %w%s", s.app, err, p.why())
	}
	// Stage 1 (this binary's own code: rlimits, the minimal root) runs
	// while the hub moves the worker into its cgroup, a migration that
	// waits for an RCU grace period on cgroup v1; the hub says go, and
	// so lets anything confined or of the app run, only once it is in.
	deadline := time.Now().Add(startTimeout)
	cb, _ := json.Marshal(s.cfg)
	if err := status.send(cb, deadline); err != nil {
		return fail(fmt.Errorf("send configuration: %w", err))
	}
	if err := group.Add(p.w.PID()); err != nil {
		return fail(err)
	}
	mark("cgroup attach")
	st, data, err := status.read(deadline, true)
	if err == nil && st.Phase != worker.PhaseBuilt {
		err = phaseError(st, worker.PhaseBuilt)
	}
	if err != nil {
		if data != nil {
			data.Close()
		}
		return fail(err)
	}
	mark("stage 1: Go init, rlimits, minimal root")
	if s.cfg.Persist {
		if data == nil {
			return fail(errors.New("no app folder from the worker"))
		}
		p.data = data
	} else if data != nil {
		data.Close()
	}
	// Confined before anything of a user is in it.
	if err := status.send([]byte(worker.Go), deadline); err != nil {
		return fail(err)
	}
	st, _, err = status.read(deadline, false)
	if err == nil && st.Phase != worker.PhaseConfined {
		err = phaseError(st, worker.PhaseConfined)
	}
	if err != nil {
		return fail(err)
	}
	mark("Landlock, caps, re-exec; stage 2: Go init, seccomp")
	return b, nil
}

// complete fills a confined worker's app folder from dataDir (when it
// keeps one), lets its app start and waits for its ready report.
func (l *Launcher) complete(b *built, dataDir string) (*proc, *statusConn, error) {
	_, _, startTimeout, _ := l.defaults()
	p, status := b.p, b.status
	fail := func(err error) (*proc, *statusConn, error) {
		b.abandon()
		return nil, nil, fmt.Errorf("launch %s: worker set-up: %w%s", p.app, err, p.why())
	}
	mark := phaseMarker()
	deadline := time.Now().Add(startTimeout)
	if p.data != nil {
		uid, gid := hostIDs()
		p.dataDir = dataDir
		var err error
		if p.seen, err = appdir.Fill(p.data, dataDir, appdir.Owner{UID: uid, GID: gid}); err != nil {
			return fail(err)
		}
	}
	mark("fill app folder")
	if err := status.send([]byte(worker.Start), deadline); err != nil {
		return fail(err)
	}
	st, _, err := status.read(deadline, false)
	if err == nil && st.Phase != worker.PhaseReady {
		err = phaseError(st, worker.PhaseReady)
	}
	if err != nil {
		return fail(err)
	}
	mark("app start, ready")
	l.setLayers(append(b.layers, st.Layers...))
	p.watch()
	return p, status, nil
}

func phaseError(st worker.Status, want string) error {
	if st.Error != "" {
		return errors.New(st.Error)
	}
	return fmt.Errorf("the worker said %q, not %q", st.Phase, want)
}

// mayShareNet: a worker whose profile refuses socket() and that has no
// egress forwarder may run in the spawner's shared, empty network
// namespace (spawner.SpawnOptions.SharedNet): with no socket it can reach
// nothing a network namespace holds, another worker's least of all. Every
// other worker gets a namespace of its own.
func (l *Launcher) mayShareNet(cfg worker.Config) bool {
	if l.NoSharedNet || cfg.ProxyPort != 0 {
		return false
	}
	if l.forceSharedNet {
		return true
	}
	return !slices.Contains(cfg.Policy.Syscalls, "socket") && !slices.Contains(cfg.Policy.Syscalls, "io_uring_setup")
}

func namespacesShared(uid int) string {
	return fmt.Sprintf("user (root inside is uid %d on the host), mount, pid, ipc, uts; network: one empty namespace of the spawner, no interface up, shared by workers that cannot open a socket", uid)
}

// hostLayers are the layers the hub gives from outside the worker.
func hostLayers(uid int) []sandbox.Layer {
	ls := []sandbox.Layer{{Name: sandbox.LayerNamespaces, Enforced: true, Detail: fmt.Sprintf("user (root inside is uid %d on the host), mount, pid, ipc, uts, network", uid)}}
	if os.Getuid() == 0 {
		return append(ls, sandbox.Layer{Name: sandbox.LayerGroups, Enforced: true, Detail: "dropped; setgroups refused"})
	}
	// Not a missing layer: nothing is there for them to open.
	return append(ls, sandbox.Layer{Name: sandbox.LayerGroups, Enforced: true, Detail: "the kernel keeps an ordinary user's own groups (shown inside as 65534) and refuses setgroups; the minimal root leaves them nothing of the host's but the read-only system folders"})
}

// cgroupFor makes a worker's cgroup, or says which controllers the host
// cannot give: with AllowWeaker the worker runs without them.
func (l *Launcher) cgroupFor(lim cgroup.Limits) (*cgroup.Group, []sandbox.Layer, error) {
	h := l.Cgroups
	if h == nil {
		h = cgroup.Detect()
		// Once per hub: the groups that hubs killed before they could
		// remove them left.
		sweepOnce.Do(func() { go h.Sweep(cgroup.StaleAfter) })
	}
	names := map[string]string{cgroup.Memory: sandbox.LayerMemory, cgroup.Pids: sandbox.LayerPids, cgroup.CPU: sandbox.LayerCPU}
	var layers, missing []sandbox.Layer
	for _, c := range h.Status() {
		ly := sandbox.Layer{Name: names[c.Name], Enforced: c.Enforced, Detail: c.Where}
		if !c.Enforced {
			missing = append(missing, ly)
		}
		layers = append(layers, ly)
	}
	if len(missing) > 0 && !l.AllowWeaker {
		return nil, layers, &sandbox.WeakerError{Missing: missing}
	}
	g, err := h.New(lim)
	return g, layers, err
}

var sweepOnce sync.Once

// checkDataFolder refuses a data folder that is a symbolic link.
func checkDataFolder(path string) error {
	var st unix.Stat_t
	err := unix.Lstat(path, &st)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil
	case err != nil:
		return fmt.Errorf("data folder %s: %w", path, err)
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("data folder %s is not a folder (a symbolic link?)", path)
	}
	return nil
}

// detachGrants makes, for a hub running as root, a read-only detached copy
// of each grant's mount to hand the worker: the sandbox's user (nobody)
// may not be able to reach the path itself. An ordinary user's worker is
// that user, and binds the paths itself.
func detachGrants(grants []confine.Grant) ([]*os.File, error) {
	if os.Getuid() != 0 {
		return nil, nil
	}
	var out []*os.File
	for i := range grants {
		fd, err := unix.OpenTree(unix.AT_FDCWD, grants[i].Path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
		if err != nil {
			closeFiles(out)
			return nil, fmt.Errorf("read-only %s: %w", grants[i].Path, err)
		}
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
			unix.Close(fd)
			closeFiles(out)
			return nil, fmt.Errorf("read-only %s: %w", grants[i].Path, err)
		}
		grants[i].FD = worker.GrantFD + i
		out = append(out, os.NewFile(uintptr(fd), grants[i].Path))
	}
	return out, nil
}

func closeFiles(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// statusConn is the hub's end of a worker's status socket, one message a
// packet.
type statusConn struct{ c *net.UnixConn }

func newStatusConn(fd int) (*statusConn, error) {
	f := os.NewFile(uintptr(fd), "status")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	return &statusConn{c: c.(*net.UnixConn)}, nil
}

func (s *statusConn) Close() error { return s.c.Close() }

func (s *statusConn) send(b []byte, deadline time.Time) error {
	_ = s.c.SetWriteDeadline(deadline)
	_, err := s.c.Write(b)
	return err
}

// statusBufs are the status messages' read buffers: three reads a start,
// not three 64 KiB allocations.
var statusBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// read reads one status message; with takeFD, a descriptor sent with it.
// A zero deadline waits for as long as it takes.
func (s *statusConn) read(deadline time.Time, takeFD bool) (worker.Status, *os.File, error) {
	var st worker.Status
	_ = s.c.SetReadDeadline(deadline)
	bp := statusBufs.Get().(*[]byte)
	defer statusBufs.Put(bp)
	buf := *bp
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := s.c.ReadMsgUnix(buf, oob)
	var file *os.File
	fds := egress.Rights(oob[:oobn])
	if takeFD && len(fds) == 1 {
		file = os.NewFile(uintptr(fds[0]), "app folder")
	} else {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	if err != nil {
		return st, file, fmt.Errorf("no status report: %w", err)
	}
	if n == 0 {
		return st, file, errors.New("no status report: the worker closed its status socket")
	}
	if err := json.Unmarshal(buf[:n], &st); err != nil {
		return st, file, fmt.Errorf("bad status report: %w", err)
	}
	return st, file, nil
}
