package spawner

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/sandbox/seccomp"
)

// denied are the system calls the spawner refuses itself, and so every
// worker it starts from its first instruction (a seccomp filter is
// inherited across fork and exec): calls no part of the spawner's job and
// no worker profile needs. Stage 1 of a worker still builds its root
// (mount, pivot_root, open_tree, move_mount), confines itself (capset,
// setgroups, Landlock, seccomp) and re-executes (execveat) under it, and
// the spawner still clones every namespace; what policy.Forbidden refuses
// beyond that list is refused here too.
var denied = []string{
	"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
	"chroot", "fsopen", "fsmount", "fsconfig", "fspick",
	"unshare", "setns", "clone3",
	"bpf", "perf_event_open", "userfaultfd",
	"keyctl", "add_key", "request_key",
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	"personality", "reboot", "swapon", "swapoff", "syslog", "acct", "quotactl", "lookup_dcookie",
	"open_by_handle_at", "name_to_handle_at", "iopl", "ioperm", "vhangup",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname",
	"fanotify_init", "nfsservctl", "uselib", "vm86", "vm86old", "modify_ldt",
}

// Landlock scopes (ABI 6).
const (
	scopeAbstractUnix = 1 << 0
	scopeSignal       = 1 << 1
	landlockScopeABI  = 6
)

// loadProfile refuses the spawner the calls in denied (seccomp, every
// thread), and, where the kernel has Landlock ABI 6 or later, scopes it:
// it may signal only its own workers (which sit in Landlock domains nested
// in its own) and connect to no abstract unix socket outside them. Root's
// CAP_KILL then reaches no process of the host but its workers.
//
// Landlock cannot restrict the spawner's files: a domain that handles
// file access forbids mount and pivot_root to everything under it, and
// every worker builds its root under the spawner's domain. The spawner's
// reach into files is its user and its few capabilities (see confineSelf).
// It returns the Landlock ABI, or 0 where scoping was not possible.
func loadProfile() (int, error) {
	prog, err := seccomp.CompileDenylist(denied)
	if err != nil {
		return 0, fmt.Errorf("seccomp: %w", err)
	}
	if err := seccomp.Load(prog); err != nil {
		return 0, fmt.Errorf("seccomp: %w", err)
	}
	abi, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 || int(abi) < landlockScopeABI {
		return 0, nil // no Landlock, or none with scopes: the workers' floor is checked in their own stage 1
	}
	attr := struct{ fs, net, scoped uint64 }{scoped: scopeAbstractUnix | scopeSignal}
	fd, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr), 0)
	if errno != 0 {
		return 0, fmt.Errorf("landlock ruleset: %w", errno)
	}
	defer unix.Close(int(fd))
	if err := allThreads(unix.SYS_LANDLOCK_RESTRICT_SELF, fd, 0, 0); err != nil {
		return 0, fmt.Errorf("landlock: %w", err)
	}
	return int(abi), nil
}
