// Package confine applies the sandbox's layers inside the worker, in a fixed
// order: rlimits → landlock → no_new_privs → (re-exec) → seccomp.
//
// Landlock ABI 7 restricts only the calling thread, and go-landlock's
// all-threads path needs cgo (psx), which hangs in a PID namespace. So the
// worker restricts one locked thread and then re-executes itself: every
// thread of the new image descends from that thread and inherits its
// Landlock domain and no_new_privs. Seccomp is then loaded with
// SECCOMP_FILTER_FLAG_TSYNC, which the kernel applies to all threads.
//
//	stage 1 (`worker`, one locked thread)       stage 2 (`worker-confined`)
//	  setrlimit ×5                                seccomp(TSYNC) allowlist
//	  landlock_restrict_self (this thread)        report "ready" to the hub
//	  prctl(NO_NEW_PRIVS)                         serve the app
//	  execve(/proc/self/exe) ───────────────────▶
package confine

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/sandbox/policy"
	"github.com/isolategpt/isolategpt/sandbox/seccomp"
)

// ErrNoLandlock is returned when the kernel has no Landlock: the sandbox
// fails closed rather than run an app without file confinement.
var ErrNoLandlock = errors.New("confine: landlock is not available")

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

// Paths are what Landlock lets the worker reach. Each is an open file
// descriptor (O_PATH), so the worker needs no search permission on the
// parents of its data folder.
type Paths struct {
	// Exec is the worker binary: read and execute.
	Exec int
	// ReadOnly are files or folders to read (and execute).
	ReadOnly []int
	// ReadWrite are folders the worker owns, or files it may write.
	ReadWrite []int
	// ConnectTCP and BindTCP are the only TCP ports it may connect to and
	// bind (loopback, in its own network namespace): the egress forwarder's.
	ConnectTCP []uint16
	BindTCP    []uint16
}

// Landlock restricts the calling OS thread, which must be locked, and sets
// no_new_privs on it. It returns the kernel's Landlock ABI version.
func Landlock(p Paths) (int, error) {
	abi, err := landlockABI()
	if err != nil || abi < 1 {
		return 0, ErrNoLandlock
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
	const fileRead = uint64(unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_READ_FILE)
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
	if err := add(p.Exec, fileRead); err != nil {
		return abi, fmt.Errorf("confine: landlock exec rule: %w", err)
	}
	for _, fd := range p.ReadOnly {
		if err := add(fd, fileRead|unix.LANDLOCK_ACCESS_FS_READ_DIR); err != nil {
			return abi, fmt.Errorf("confine: landlock read rule: %w", err)
		}
	}
	for _, fd := range p.ReadWrite {
		if err := add(fd, fs); err != nil {
			return abi, fmt.Errorf("confine: landlock write rule: %w", err)
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
