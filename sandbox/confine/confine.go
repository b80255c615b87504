// Package confine applies the sandbox's layers inside the worker, in a fixed
// order, in two stages:
//
//	stage 1 (`worker`, one locked thread, root of its own namespaces)
//	  descriptors: every one but stdio and the hub's close-on-exec
//	  rlimits
//	  minimal root: tmpfs, pivot_root, read-only system folders, /proc of
//	    its pid namespace, /dev, the app's folder and /tmp as limited tmpfs
//	  loopback up (only with egress)
//	  Landlock on this thread (floor: ABI 3), no_new_privs
//	  capabilities: securebits locked, bounding, ambient and all sets empty
//	  execve(/proc/self/exe) ──────────────────────────────▶ stage 2
//	stage 2 (`worker-confined`)
//	  seccomp(TSYNC) allowlist, then report "ready" and serve
//
// Landlock ABI 7 restricts only the calling thread, and go-landlock's
// all-threads path needs cgo (psx), which hangs in a PID namespace. So the
// worker restricts one locked thread and then re-executes itself: every
// thread of the new image descends from that thread and inherits its
// Landlock domain, no_new_privs and empty capability sets. Seccomp is then
// loaded with SECCOMP_FILTER_FLAG_TSYNC, which the kernel applies to all
// threads.
package confine

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/sandbox/policy"
	"github.com/isolategpt/isolategpt/sandbox/seccomp"
)

// ErrNoLandlock is returned when the kernel has no Landlock, or one older
// than the floor: the sandbox fails closed rather than run an app without
// file confinement, unless the user opted into a weaker sandbox.
var ErrNoLandlock = errors.New("confine: landlock is not available")

// LandlockFloor is the oldest Landlock ABI the sandbox accepts: ABI 3 is
// the first to restrict truncate(2), without which a read-only file could
// still be emptied.
const LandlockFloor = 3

// Rlimits sets the worker's resource limits, soft and hard alike. RLIMIT_CPU
// gets a hard limit one second above the soft one, so the kernel's SIGKILL
// follows the ignored SIGXCPU.
func Rlimits(l policy.Limits) error {
	set := []struct {
		name     string
		res      int
		cur, max uint64
	}{
		{"cpu", unix.RLIMIT_CPU, l.CPUSeconds, l.CPUSeconds + 1},
		{"as", unix.RLIMIT_AS, l.AddressSpace, l.AddressSpace},
		{"fsize", unix.RLIMIT_FSIZE, l.FileSize, l.FileSize},
		{"nofile", unix.RLIMIT_NOFILE, l.OpenFiles, l.OpenFiles},
		{"nproc", unix.RLIMIT_NPROC, l.Processes, l.Processes},
	}
	for _, s := range set {
		if s.cur == 0 {
			return fmt.Errorf("confine: rlimit %s: zero limit in policy", s.name)
		}
		if err := unix.Setrlimit(s.res, &unix.Rlimit{Cur: s.cur, Max: s.max}); err != nil {
			return fmt.Errorf("confine: rlimit %s: %w", s.name, err)
		}
	}
	return nil
}

// Paths are what Landlock lets the worker reach, each an open descriptor
// (O_PATH) in its minimal root.
type Paths struct {
	// Exec is the worker binary: read and execute.
	Exec int
	// Root is "/": listed only.
	Root int
	// ReadOnly are system folders and grants: read and execute.
	ReadOnly []int
	// Proc is the private /proc (-1 without one): read only.
	Proc int
	// Devices are device nodes: read, write, ioctl.
	Devices []int
	// ReadWrite are the app's folder and /tmp: everything but execute and
	// making device nodes.
	ReadWrite []int
	// ConnectTCP and BindTCP are the only TCP ports it may connect to and
	// bind (loopback, in its own network namespace): the egress forwarder's.
	ConnectTCP []uint16
	BindTCP    []uint16
}

// LandlockABI is the kernel's Landlock ABI version, 0 without Landlock.
func LandlockABI() int {
	abi, err := landlockABI()
	if err != nil {
		return 0
	}
	return abi
}

// Landlock restricts the calling OS thread, which must be locked, and sets
// no_new_privs on it. A kernel below floor is refused with ErrNoLandlock.
// It returns the kernel's Landlock ABI version.
func Landlock(p Paths, floor int) (int, error) {
	abi := LandlockABI()
	if abi < 1 || abi < floor {
		return abi, fmt.Errorf("%w (kernel ABI %d, the sandbox needs %d or later)", ErrNoLandlock, abi, floor)
	}
	fs := uint64(1<<13 - 1) // ABI 1: execute … make_sym
	if abi >= 2 {
		fs |= unix.LANDLOCK_ACCESS_FS_REFER
	}
	if abi >= 3 {
		fs |= unix.LANDLOCK_ACCESS_FS_TRUNCATE
	}
	if abi >= 5 {
		fs |= unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	}
	attr := unix.LandlockRulesetAttr{Handled_access_fs: fs}
	if abi >= 4 {
		attr.Handled_access_net = unix.LANDLOCK_ACCESS_NET_BIND_TCP | unix.LANDLOCK_ACCESS_NET_CONNECT_TCP
	}
	if abi >= 6 {
		// The worker is one process with one domain (see the package
		// comment), so signal scoping cannot trip over sibling threads.
		attr.Scoped = unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | unix.LANDLOCK_SCOPE_SIGNAL
	}
	rs, err := landlockCreateRuleset(&attr)
	if err != nil {
		return abi, fmt.Errorf("confine: landlock ruleset: %w", err)
	}
	defer unix.Close(rs)
	const (
		fileRead = uint64(unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_READ_FILE)
		read     = uint64(unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_READ_DIR)
		device   = uint64(unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_TRUNCATE | unix.LANDLOCK_ACCESS_FS_IOCTL_DEV)
		noWrite  = uint64(unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_MAKE_CHAR | unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK)
	)
	add := func(fd int, access uint64) error {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			// Rights that only make sense on folders are refused on files.
			access &= fileRead | unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_TRUNCATE | unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
		}
		return landlockAddPath(rs, access&fs, fd)
	}
	rules := []struct {
		what   string
		fds    []int
		access uint64
	}{
		{"exec", []int{p.Exec}, fileRead},
		{"root", []int{p.Root}, unix.LANDLOCK_ACCESS_FS_READ_DIR},
		{"read-only", p.ReadOnly, fileRead | unix.LANDLOCK_ACCESS_FS_READ_DIR},
		{"proc", []int{p.Proc}, read},
		{"device", p.Devices, device},
		{"read-write", p.ReadWrite, fs &^ noWrite},
	}
	for _, r := range rules {
		for _, fd := range r.fds {
			if fd < 0 {
				continue
			}
			if err := add(fd, r.access); err != nil {
				return abi, fmt.Errorf("confine: landlock %s rule: %w", r.what, err)
			}
		}
	}
	if abi >= 4 {
		for _, port := range p.ConnectTCP {
			if err := landlockAddPort(rs, unix.LANDLOCK_ACCESS_NET_CONNECT_TCP, port); err != nil {
				return abi, fmt.Errorf("confine: landlock port rule: %w", err)
			}
		}
		for _, port := range p.BindTCP {
			if err := landlockAddPort(rs, unix.LANDLOCK_ACCESS_NET_BIND_TCP, port); err != nil {
				return abi, fmt.Errorf("confine: landlock port rule: %w", err)
			}
		}
	}
	if err := NoNewPrivs(); err != nil {
		return abi, err
	}
	if err := landlockRestrictSelf(rs); err != nil {
		return abi, fmt.Errorf("confine: landlock restrict: %w", err)
	}
	return abi, nil
}

// LoopbackUp brings up lo in the worker's new network namespace (created
// down), so the egress forwarder can listen on 127.0.0.1. It needs the
// namespace's CAP_NET_ADMIN, which the worker has before it confines itself.
func LoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("confine: loopback: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("confine: loopback: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("confine: loopback flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("confine: loopback up: %w", err)
	}
	return nil
}

// NoNewPrivs sets no_new_privs on the calling thread (inherited by threads
// it creates and across execve).
func NoNewPrivs() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("confine: no_new_privs: %w", err)
	}
	return nil
}

// Seccomp compiles the policy and loads it for every thread.
func Seccomp(p policy.Policy) error {
	prog, err := seccomp.Compile(p)
	if err != nil {
		return err
	}
	if err := NoNewPrivs(); err != nil {
		return err
	}
	// Keep the Go scheduler from moving us between the two calls.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return seccomp.Load(prog)
}
