// Package policy holds the sandbox policies as data: which system calls a
// worker may make, its resource limits and its namespaces. One function per
// layer compiles a policy (seccomp in sandbox/seccomp, landlock and rlimits
// in sandbox/confine), so tests can check properties of a whole policy.
package policy

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/isolategpt/isolategpt/sandbox"
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

// Limits are the worker's resource limits: per process (rlimits), for the
// whole worker with every process it starts (cgroups), and for the folders
// it may write (size- and inode-limited tmpfs).
type Limits struct {
	// CPUSeconds is each process's CPU time (RLIMIT_CPU) and, with a cgroup,
	// the whole worker's: forking does not reset it.
	CPUSeconds   uint64 `json:"cpu_seconds"`
	AddressSpace uint64 `json:"address_space"` // bytes per process; Go needs ≥ 2 GiB
	FileSize     uint64 `json:"file_size"`     // bytes per file
	OpenFiles    uint64 `json:"open_files"`
	// Processes is RLIMIT_NPROC and the cgroup's pids.max: threads count.
	Processes uint64 `json:"processes"`
	// Memory is the cgroup's limit on the whole worker's memory, its
	// tmpfs folders included; past it the kernel kills the worker.
	Memory uint64 `json:"memory"`
	// CPUPercent is the cgroup's CPU bandwidth: 100 is one core.
	CPUPercent uint64 `json:"cpu_percent"`
	// DataBytes and DataInodes bound the app's folder (/run/app), and
	// TmpBytes its /tmp (with DataInodes too).
	DataBytes  uint64 `json:"data_bytes"`
	DataInodes uint64 `json:"data_inodes"`
	TmpBytes   uint64 `json:"tmp_bytes"`
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
	// ReadOnly are the host's system paths the worker's minimal root
	// holds, read-only, at the same place (a symbolic link is copied as
	// one); missing ones are left out. Nothing else of the host exists
	// inside.
	ReadOnly []string `json:"read_only"`
	// Devices are the device nodes of its /dev, readable and writable.
	Devices []string `json:"devices"`
	Limits  Limits   `json:"limits"`
}

// systemLibraries lets a dynamically linked binary load: the loader, the C
// library and the loader's cache. Nothing in them is a secret.
var systemLibraries = []string{"/lib", "/lib64", "/usr/lib", "/usr/lib64", "/etc/ld.so.cache"}

// systemPrograms is what external programs find: the system's programs and
// libraries, TLS roots, the time zone. No other host configuration (no
// passwd, no gitconfig, no ssh): what is not granted does not exist.
var systemPrograms = []string{
	"/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc/ld.so.cache",
	"/etc/ssl/certs", "/etc/ssl/openssl.cnf", "/etc/ca-certificates.conf", "/etc/alternatives", "/etc/localtime",
}

// devices are harmless character devices.
var devices = []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"}

// Forbidden may never appear in any profile: escapes, kernel attack
// surface, and ways around the other layers.
var Forbidden = []string{
	"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
	"execveat", "setgroups", "setuid", "setreuid", "setresuid", "setgid", "setregid", "setresgid", "capset",
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
	"wait4", "waitid", "execve", "kill", "prctl", "capget", "getpgid", "setpgid", "getsid", "setsid",
	"getgroups", "getresuid", "getresgid", "sysinfo", "times", "membarrier", "memfd_create", "copy_file_range", "sendfile",
	"inotify_init1", "inotify_add_watch", "inotify_rm_watch", "timerfd_create", "timerfd_settime", "timerfd_gettime",
	"sched_setaffinity", "sched_getparam", "sched_getscheduler", "getpriority", "setpriority", "mlock", "munlock", "pkey_alloc", "pkey_mprotect", "pkey_free",
	"getrusage", "close_range", "socket", "splice", "tee", "vfork", "fork", "clone", "umask",
	// Reading extended attributes (ls -l, cp, tar ask); setting them is
	// refused.
	"getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr",
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
		Devices:  devices,
		Limits: Limits{
			CPUSeconds:   30,
			AddressSpace: 4 << 30,
			FileSize:     64 << 20,
			OpenFiles:    64,
			Processes:    64,
			Memory:       512 << 20,
			CPUPercent:   100,
			DataBytes:    64 << 20,
			DataInodes:   4096,
			TmpBytes:     16 << 20,
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
		ReadOnly:       systemPrograms,
		Devices:        devices,
		Limits: Limits{
			CPUSeconds:   120,
			AddressSpace: 16 << 30,
			FileSize:     256 << 20,
			OpenFiles:    512,
			Processes:    256,
			Memory:       2 << 30,
			CPUPercent:   100,
			DataBytes:    256 << 20,
			DataInodes:   16384,
			TmpBytes:     256 << 20,
		},
	}
}

// EgressSuffix names the variant of a profile for apps that declare domains.
const EgressSuffix = "+egress"

// egressCalls are what the in-worker egress forwarder needs: a loopback
// listener, and a socket pair per connection handed to the hub's proxy.
var egressCalls = []string{
	"socket", "socketpair", "bind", "listen", "accept4", "connect", "getsockname", "getpeername",
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
	for _, r := range p.ReadOnly {
		if err := CheckGrant(r); err != nil {
			return fmt.Errorf("policy %s: %w", p.Name, err)
		}
	}
	for _, d := range p.Devices {
		if path.Dir(d) != "/dev" || path.Clean(d) != d {
			return fmt.Errorf("policy %s: device %q is not a node of /dev", p.Name, d)
		}
	}
	for _, f := range p.SocketFamilies {
		if f != "unix" && f != "inet" && f != "inet6" {
			return fmt.Errorf("policy %s: socket family %q is not allowed", p.Name, f)
		}
	}
	return nil
}

// Own are the paths of the sandbox's own making in every worker's root;
// no host path may be granted at or below them. (A grant may sit in /tmp
// or /run: its read-only mount is made inside the worker's own tree.)
var Own = []string{"/proc", "/dev", sandbox.DataPath}

// CheckGrant refuses a host path that cannot be given to a worker's
// minimal root: one that is not absolute and clean, the root itself, or a
// path at or below what the sandbox makes itself.
func CheckGrant(p string) error {
	if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
		return fmt.Errorf("read-only path %q must be absolute, clean and below /", p)
	}
	for _, o := range Own {
		if p == o || strings.HasPrefix(p, o+"/") {
			return fmt.Errorf("read-only path %q is inside the sandbox's own %s", p, o)
		}
	}
	if p == "/tmp" || p == "/run" {
		return fmt.Errorf("read-only path %q would cover the sandbox's own folder", p)
	}
	return nil
}

func sorted(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}
