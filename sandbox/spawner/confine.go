package spawner

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/sandbox/confine"
)

// spawnerCaps are the only capabilities a root spawner keeps: mapping a
// worker's root to nobody (CAP_SETUID, CAP_SETGID) and killing a worker
// that runs as nobody (CAP_KILL). An ordinary user's spawner has none.
var spawnerCaps = []int{unix.CAP_SETUID, unix.CAP_SETGID, unix.CAP_KILL}

// confineSelf takes from the spawner what its job does not need:
//
//	descriptors  none but stdio and its socket to the hub: whatever else it
//	             inherited is closed
//	working dir  /, so no host folder stays pinned
//	no_new_privs set: nothing it runs can gain privileges (workers set it too)
//	capabilities a root spawner keeps CAP_SETUID, CAP_SETGID and CAP_KILL in
//	             its effective and permitted sets, nothing inheritable; the
//	             bounding set stays (a worker's user namespace starts from a
//	             full set of its own regardless)
//	core dumps   none
//
//	seccomp      the calls of denied refused (and so in every worker from
//	             its first instruction)
//	Landlock     scoped (ABI 6 or later): signals to its workers only, no
//	             abstract unix socket outside them; see loadProfile
//
// Neither can confine it further: it must clone every kind of namespace,
// and a worker's own set-up (mounts, pivot_root) runs under whatever it
// inherits from the spawner.
func confineSelf() error {
	if err := closeInherited(); err != nil {
		return err
	}
	if err := os.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return fmt.Errorf("no core dumps: %w", err)
	}
	if err := allThreads(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if os.Geteuid() == 0 {
		if err := keepCaps(); err != nil {
			return err
		}
	}
	_, err := loadProfile()
	return err
}

// keepCaps leaves a root spawner spawnerCaps only.
func keepCaps() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for _, c := range spawnerCaps {
		data[c/32].Effective |= 1 << (c % 32)
		data[c/32].Permitted |= 1 << (c % 32)
	}
	if err := allThreads(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); err != nil {
		return fmt.Errorf("capabilities: %w", err)
	}
	return nil
}

// closeInherited closes every descriptor above the socket except the Go
// runtime's own (its poller's epoll and eventfd, which carry no access to
// anything), and marks any it cannot close close-on-exec.
func closeInherited() error {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return confine.CloseOnExecFrom(SocketFD + 1)
	}
	var close []int
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= SocketFD {
			continue
		}
		link, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue // the folder's own descriptor, closed by now
		}
		if link == "anon_inode:[eventpoll]" || link == "anon_inode:[eventfd]" {
			continue
		}
		close = append(close, fd)
	}
	for _, fd := range close {
		unix.Close(fd)
	}
	return confine.CloseOnExecFrom(SocketFD + 1)
}

// allThreads makes a per-thread system call on every thread of the
// process. A binary built with cgo cannot (Go refuses): then it is made on
// this thread, the one that forks every worker, which is what the workers
// inherit from.
func allThreads(trap, a1, a2, a3 uintptr) error {
	_, _, errno := syscall.AllThreadsSyscall(trap, a1, a2, a3)
	if errno == 0 {
		return nil
	}
	if !errors.Is(errno, syscall.ENOTSUP) {
		return errno
	}
	if _, _, errno := syscall.RawSyscall(trap, a1, a2, a3); errno != 0 {
		return errno
	}
	return nil
}

// siginfoPID is si_pid of a SIGCHLD siginfo: the first field after the
// three ints and their padding.
func siginfoPID(info *unix.Siginfo) int {
	return int(*(*int32)(unsafe.Add(unsafe.Pointer(info), 16)))
}
