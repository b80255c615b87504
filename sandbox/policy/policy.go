// Package policy holds the sandbox policies as data: which system calls a
// worker may make, its resource limits and its namespaces. One function per
// layer compiles a policy (seccomp in sandbox/seccomp, landlock and rlimits
// in sandbox/confine), so tests can check properties of a whole policy.
package policy

import (
	"fmt"
	"slices"
	"strings"
)

// Profile names.
const (
	// Builtin is for the built-in Go apps: strict, no sockets, no new
	// processes, only what the Go runtime and stdio JSON-RPC need.
	Builtin = "builtin"
	// External is for external programs (MCP servers): wider, still
	// refusing every escape and kernel-attack-surface call.
	External = "external"
)

// Limits are the worker's rlimits.
type Limits struct {
	CPUSeconds   uint64 `json:"cpu_seconds"`
	AddressSpace uint64 `json:"address_space"` // bytes; Go needs ≥ 2 GiB
	FileSize     uint64 `json:"file_size"`     // bytes
	OpenFiles    uint64 `json:"open_files"`
	Processes    uint64 `json:"processes"` // threads count too
}

// Policy is one sandbox profile.
type Policy struct {
	Name string `json:"name"`
	// Syscalls may be made with any arguments.
	Syscalls []string `json:"syscalls"`
	// Threads allows clone only with CLONE_THREAD (new threads, never new
	// processes); Processes allows clone and fork without that limit.
	Threads   bool `json:"threads"`
	Processes bool `json:"processes"`
	// SocketFamilies lists the socket families socket() may create (by
	// name: "unix", "inet", "inet6"); raw and packet sockets never.
	SocketFamilies []string `json:"socket_families"`
	// ReadOnly are host paths the worker may read and execute (besides its
	// own binary and data folder); missing ones are skipped.
	ReadOnly []string `json:"read_only"`
	// ReadWrite are host files the worker may also write (device nodes
	// such as /dev/null); missing ones are skipped.
	ReadWrite []string `json:"read_write,omitempty"`
	Limits    Limits   `json:"limits"`
}

// systemLibraries lets a dynamically linked binary load: the loader, the C
// library and the loader's cache. Nothing in them is a secret.
var systemLibraries = []string{"/lib", "/lib64", "/usr/lib", "/usr/lib64", "/etc/ld.so.cache"}

// Forbidden may never appear in any profile: escapes, kernel attack
// surface, and ways around the other layers.
var Forbidden = []string{
	"ptrace", "process_vm_readv", "process_vm_writev",
	"mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick", "mount_setattr",
	"unshare", "setns", "clone3",
	"bpf", "perf_event_open", "userfaultfd",
	"keyctl", "add_key", "request_key",
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	"personality", "seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
	"reboot", "swapon", "swapoff", "syslog", "acct", "quotactl", "lookup_dcookie",
	"open_by_handle_at", "name_to_handle_at", "iopl", "ioperm", "vhangup",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname",
	"fanotify_init", "nfsservctl", "uselib", "vm86", "vm86old", "modify_ldt",
}

// goRuntime is what a static Go program needs to run, read and write its
// stdio, and keep files in its own folder.
var goRuntime = []string{
	"read", "write", "readv", "writev", "pread64", "pwrite64", "close", "lseek",
	"fstat", "newfstatat", "statx", "openat", "fcntl", "dup", "dup3", "pipe2", "ioctl",
	"getdents64", "mkdirat", "unlinkat", "renameat", "renameat2", "ftruncate", "fsync", "fdatasync", "readlinkat", "faccessat", "faccessat2",
	"mmap", "munmap", "mprotect", "mremap", "madvise", "brk", "mincore",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "rt_sigtimedwait",
	"futex", "sched_yield", "sched_getaffinity", "nanosleep", "clock_gettime", "clock_nanosleep", "gettimeofday",
	"epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_pwait2", "eventfd2",
	"getpid", "gettid", "getppid", "tgkill", "getuid", "geteuid", "getgid", "getegid", "getrlimit", "prlimit64",
	"set_robust_list", "rseq", "restart_syscall", "exit", "exit_group", "getrandom", "uname", "arch_prctl",
	"timer_create", "timer_settime", "timer_delete", "setitimer",
}

// external adds what language runtimes such as Node.js need.
var external = []string{
	"access", "open", "stat", "lstat", "poll", "ppoll", "select", "pselect6", "epoll_wait",
	"readlink", "getcwd", "chdir", "fchdir", "mkdir", "rmdir", "unlink", "rename", "link", "linkat", "symlink", "symlinkat",
	"chmod", "fchmod", "fchmodat", "fchown", "fchownat", "utimensat", "statfs", "fstatfs", "truncate", "fallocate", "flock",
	"dup2", "pipe", "socketpair", "connect", "sendto", "recvfrom", "sendmsg", "recvmsg", "shutdown",
	"getsockname", "getpeername", "setsockopt", "getsockopt", "bind", "listen", "accept4",
	"wait4", "waitid", "execve", "execveat", "kill", "prctl", "capget", "getpgid", "setpgid", "getsid", "setsid",
	"getgroups", "getresuid", "getresgid", "sysinfo", "times", "membarrier", "memfd_create", "copy_file_range", "sendfile",
	"inotify_init1", "inotify_add_watch", "inotify_rm_watch", "timerfd_create", "timerfd_settime", "timerfd_gettime",
	"sched_setaffinity", "sched_getparam", "sched_getscheduler", "getpriority", "setpriority", "mlock", "munlock", "pkey_alloc", "pkey_mprotect", "pkey_free",
	"getrusage", "close_range", "socket", "splice", "tee", "vfork", "fork", "clone", "umask",
}

// Profiles returns every profile, with the egress variant of each.
func Profiles() []Policy {
	return []Policy{BuiltinPolicy(), BuiltinPolicy().WithEgress(), ExternalPolicy(), ExternalPolicy().WithEgress()}
}

// BuiltinPolicy is the strict profile for built-in Go apps.
func BuiltinPolicy() Policy {
	return Policy{
		Name:     Builtin,
		Syscalls: sorted(goRuntime),
		Threads:  true,
		ReadOnly: systemLibraries,
		Limits: Limits{
			CPUSeconds:   30,
			AddressSpace: 4 << 30,
			FileSize:     64 << 20,
			OpenFiles:    64,
			Processes:    64,
		},
	}
}

// ExternalPolicy is the wider profile for external programs.
func ExternalPolicy() Policy {
	all := append(append([]string{}, goRuntime...), external...)
	return Policy{
		Name:           External,
		Syscalls:       sorted(all),
		Threads:        true,
		Processes:      true,
		SocketFamilies: []string{"unix", "inet", "inet6"},
		ReadOnly:       append(append([]string{}, systemLibraries...), "/usr", "/bin", "/etc/ssl", "/etc/ca-certificates", "/dev/urandom"),
		ReadWrite:      []string{"/dev/null"},
		Limits: Limits{
			CPUSeconds:   120,
			AddressSpace: 16 << 30,
			FileSize:     256 << 20,
			OpenFiles:    512,
			Processes:    256,
		},
	}
}

// EgressSuffix names the variant of a profile for apps that declare domains.
const EgressSuffix = "+egress"

// egressCalls are what the in-worker egress forwarder needs: a loopback
// listener and a connection to the hub's proxy socket.
var egressCalls = []string{
	"socket", "bind", "listen", "accept4", "connect", "getsockname", "getpeername",
	"setsockopt", "getsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg", "shutdown",
}

// WithEgress returns p widened just enough for an app that declares
// domains: sockets of the unix and inet families (Landlock still limits TCP
// to the forwarder's port, and the network namespace has no route out).
func (p Policy) WithEgress() Policy {
	if strings.HasSuffix(p.Name, EgressSuffix) {
		return p
	}
	p.Name += EgressSuffix
	p.Syscalls = sorted(append(slices.Clone(p.Syscalls), egressCalls...))
	fams := slices.Clone(p.SocketFamilies)
	for _, f := range []string{"unix", "inet"} {
		if !slices.Contains(fams, f) {
			fams = append(fams, f)
		}
	}
	p.SocketFamilies = fams
	return p
}

// ByName returns a profile.
func ByName(name string) (Policy, error) {
	for _, p := range Profiles() {
		if p.Name == name {
			return p, nil
		}
	}
	return Policy{}, fmt.Errorf("policy: unknown profile %q", name)
}

// Check refuses a profile that allows a forbidden call or names an
// unknown socket family.
func (p Policy) Check() error {
	for _, s := range p.Syscalls {
		if slices.Contains(Forbidden, s) {
			return fmt.Errorf("policy %s: allows forbidden system call %s", p.Name, s)
		}
	}
	for _, r := range append(slices.Clone(p.ReadOnly), p.ReadWrite...) {
		if !strings.HasPrefix(r, "/") || r == "/" || strings.Contains(r, "..") {
			return fmt.Errorf("policy %s: read-only path %q must be absolute, below /, without ..", p.Name, r)
		}
	}
	for _, f := range p.SocketFamilies {
		if f != "unix" && f != "inet" && f != "inet6" {
			return fmt.Errorf("policy %s: socket family %q is not allowed", p.Name, f)
		}
	}
	return nil
}

func sorted(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}
