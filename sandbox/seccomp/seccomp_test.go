//go:build amd64

package seccomp

import (
	"encoding/binary"
	"slices"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/sandbox/policy"
)

// run evaluates the program on a seccomp_data. x/net/bpf's VM loads words
// big-endian, so the test lays the fields out that way; the program's logic
// is the same.
func run(t *testing.T, prog []bpf.RawInstruction, arch uint32, nr uint32, args ...uint32) uint32 {
	t.Helper()
	ins, ok := bpf.Disassemble(prog)
	if !ok {
		t.Fatal("program does not disassemble")
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 64)
	binary.BigEndian.PutUint32(data[0:], nr)
	binary.BigEndian.PutUint32(data[4:], arch)
	for i, a := range args {
		binary.BigEndian.PutUint32(data[16+8*i:], a)
	}
	out, err := vm.Run(data)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(out)
}

const (
	allow = unix.SECCOMP_RET_ALLOW
	kill  = unix.SECCOMP_RET_KILL_PROCESS
	eperm = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	enosy = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
)

func compile(t *testing.T, p policy.Policy) []bpf.RawInstruction {
	t.Helper()
	prog, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

func TestNoProfileAllowsAForbiddenCall(t *testing.T) {
	for _, p := range policy.Profiles() {
		prog := compile(t, p)
		for _, name := range policy.Forbidden {
			nr, ok := Number(name)
			if !ok {
				continue // not a system call on this architecture
			}
			if got := run(t, prog, auditArch, nr); got == allow {
				t.Errorf("%s allows %s", p.Name, name)
			}
		}
	}
}

func TestAllowlistAndArguments(t *testing.T) {
	nr := func(n string) uint32 { v, _ := Number(n); return v }
	builtin, external := compile(t, policy.BuiltinPolicy()), compile(t, policy.ExternalPolicy())
	netted := compile(t, policy.BuiltinPolicy().WithEgress())
	tests := []struct {
		name string
		prog []bpf.RawInstruction
		arch uint32
		nr   uint32
		args []uint32
		want uint32
	}{
		{"builtin read", builtin, auditArch, nr("read"), nil, allow},
		{"builtin futex", builtin, auditArch, nr("futex"), nil, allow},
		{"other architecture", builtin, unix.AUDIT_ARCH_I386, nr("read"), nil, kill},
		{"x32 number", builtin, auditArch, nr("read") | x32Bit, nil, kill},
		{"builtin new thread", builtin, auditArch, nr("clone"), []uint32{unix.CLONE_THREAD | unix.CLONE_VM}, allow},
		{"builtin fork", builtin, auditArch, nr("clone"), []uint32{uint32(unix.SIGCHLD)}, eperm},
		{"builtin fork()", builtin, auditArch, nr("fork"), nil, eperm},
		{"builtin socket", builtin, auditArch, nr("socket"), []uint32{unix.AF_INET, unix.SOCK_STREAM}, eperm},
		{"builtin connect", builtin, auditArch, nr("connect"), nil, eperm},
		{"builtin execve", builtin, auditArch, nr("execve"), nil, eperm},
		{"clone3 falls back", builtin, auditArch, nr("clone3"), nil, enosy},
		{"unknown number", builtin, auditArch, 4000, nil, eperm},
		{"external tcp socket", external, auditArch, nr("socket"), []uint32{unix.AF_INET, unix.SOCK_STREAM | unix.SOCK_CLOEXEC}, allow},
		{"external unix socket", external, auditArch, nr("socket"), []uint32{unix.AF_UNIX, unix.SOCK_STREAM}, allow},
		{"external raw socket", external, auditArch, nr("socket"), []uint32{unix.AF_INET, unix.SOCK_RAW}, eperm},
		{"external packet socket", external, auditArch, nr("socket"), []uint32{unix.AF_PACKET, unix.SOCK_DGRAM}, eperm},
		{"external netlink socket", external, auditArch, nr("socket"), []uint32{unix.AF_NETLINK, unix.SOCK_RAW}, eperm},
		{"external fork", external, auditArch, nr("clone"), []uint32{uint32(unix.SIGCHLD)}, allow},
		{"external ptrace", external, auditArch, nr("ptrace"), nil, eperm},
		{"builtin ioctl", builtin, auditArch, nr("ioctl"), []uint32{1, unix.TCGETS}, allow},
		{"builtin TIOCSTI", builtin, auditArch, nr("ioctl"), []uint32{0, unix.TIOCSTI}, eperm},
		{"external TIOCSTI", external, auditArch, nr("ioctl"), []uint32{0, unix.TIOCSTI}, eperm},
		{"external TIOCLINUX", external, auditArch, nr("ioctl"), []uint32{0, unix.TIOCLINUX}, eperm},
		{"external ioctl", external, auditArch, nr("ioctl"), []uint32{1, unix.TIOCGWINSZ}, allow},
		// A built-in app that declares domains gets its forwarder's
		// sockets, and nothing else more.
		{"builtin+egress tcp socket", netted, auditArch, nr("socket"), []uint32{unix.AF_INET, unix.SOCK_STREAM}, allow},
		{"builtin+egress unix socket", netted, auditArch, nr("socket"), []uint32{unix.AF_UNIX, unix.SOCK_STREAM}, allow},
		{"builtin+egress inet6 socket", netted, auditArch, nr("socket"), []uint32{unix.AF_INET6, unix.SOCK_STREAM}, eperm},
		{"builtin+egress raw socket", netted, auditArch, nr("socket"), []uint32{unix.AF_INET, unix.SOCK_RAW}, eperm},
		{"builtin+egress connect", netted, auditArch, nr("connect"), nil, allow},
		{"builtin+egress fork", netted, auditArch, nr("clone"), []uint32{uint32(unix.SIGCHLD)}, eperm},
		{"builtin+egress execve", netted, auditArch, nr("execve"), nil, eperm},

		// No profile creates a namespace, not even with a new thread.
		{"builtin thread with a new user namespace", builtin, auditArch, nr("clone"), []uint32{unix.CLONE_THREAD | unix.CLONE_VM | unix.CLONE_SIGHAND | unix.CLONE_NEWUSER}, eperm},
		{"external fork into a new user namespace", external, auditArch, nr("clone"), []uint32{unix.CLONE_NEWUSER | uint32(unix.SIGCHLD)}, eperm},
		{"external fork into a new network namespace", external, auditArch, nr("clone"), []uint32{unix.CLONE_NEWNET | uint32(unix.SIGCHLD)}, eperm},
		{"external thread with a new mount namespace", external, auditArch, nr("clone"), []uint32{unix.CLONE_THREAD | unix.CLONE_NEWNS}, eperm},
		{"external fork with a new cgroup namespace", external, auditArch, nr("clone"), []uint32{unix.CLONE_NEWCGROUP}, eperm},
		{"external clone3", external, auditArch, nr("clone3"), nil, enosy},
		{"external unshare", external, auditArch, nr("unshare"), []uint32{0}, eperm},

		// Socket families, types and protocols.
		{"external unix seqpacket", external, auditArch, nr("socket"), []uint32{unix.AF_UNIX, unix.SOCK_SEQPACKET, 0}, allow},
		{"external unix with a protocol", external, auditArch, nr("socket"), []uint32{unix.AF_UNIX, unix.SOCK_STREAM, 1}, eperm},
		{"external udp", external, auditArch, nr("socket"), []uint32{unix.AF_INET6, unix.SOCK_DGRAM | unix.SOCK_NONBLOCK, unix.IPPROTO_UDP}, allow},
		{"external tcp by number", external, auditArch, nr("socket"), []uint32{unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_TCP}, allow},
		{"external MPTCP", external, auditArch, nr("socket"), []uint32{unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_MPTCP}, eperm},
		{"external UDP-Lite", external, auditArch, nr("socket"), []uint32{unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_UDPLITE}, eperm},
		{"external ping socket", external, auditArch, nr("socket"), []uint32{unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP}, eperm},
		{"external SCTP", external, auditArch, nr("socket"), []uint32{unix.AF_INET, unix.SOCK_SEQPACKET, unix.IPPROTO_SCTP}, eperm},
		{"external vsock", external, auditArch, nr("socket"), []uint32{unix.AF_VSOCK, unix.SOCK_STREAM, 0}, eperm},
		{"external unix socketpair", external, auditArch, nr("socketpair"), []uint32{unix.AF_UNIX, unix.SOCK_STREAM | unix.SOCK_CLOEXEC, 0}, allow},
		{"external netlink socketpair", external, auditArch, nr("socketpair"), []uint32{unix.AF_NETLINK, unix.SOCK_RAW, 0}, eperm},
		{"external vsock socketpair", external, auditArch, nr("socketpair"), []uint32{unix.AF_VSOCK, unix.SOCK_STREAM, 0}, eperm},
		{"external packet socketpair", external, auditArch, nr("socketpair"), []uint32{unix.AF_PACKET, unix.SOCK_DGRAM, 0}, eperm},
		{"external inet socketpair", external, auditArch, nr("socketpair"), []uint32{unix.AF_INET, unix.SOCK_STREAM, 0}, eperm},
		{"builtin socketpair", builtin, auditArch, nr("socketpair"), []uint32{unix.AF_UNIX, unix.SOCK_STREAM, 0}, eperm},

		// Nothing runs from memory or from a descriptor.
		{"external memfd", external, auditArch, nr("memfd_create"), []uint32{0, unix.MFD_CLOEXEC}, enosy},
		{"external executable memfd", external, auditArch, nr("memfd_create"), []uint32{0, unix.MFD_CLOEXEC | 0x10}, enosy},
		{"external sealed memfd", external, auditArch, nr("memfd_create"), []uint32{0, unix.MFD_CLOEXEC | 0x8}, allow},
		{"builtin memfd", builtin, auditArch, nr("memfd_create"), []uint32{0, 0x8}, enosy},
		{"external execveat", external, auditArch, nr("execveat"), nil, eperm},
		{"external execve", external, auditArch, nr("execve"), nil, allow},
		{"external setgroups", external, auditArch, nr("setgroups"), nil, eperm},
		{"external pidfd_getfd", external, auditArch, nr("pidfd_getfd"), nil, eperm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := run(t, tt.prog, tt.arch, tt.nr, tt.args...); got != tt.want {
				t.Errorf("got %#x, want %#x", got, tt.want)
			}
		})
	}
}

func TestCompileRefuses(t *testing.T) {
	p := policy.BuiltinPolicy()
	p.Syscalls = append(slices.Clone(p.Syscalls), "no_such_call")
	if _, err := Compile(p); err == nil {
		t.Error("an unknown system call name was accepted")
	}
	p = policy.BuiltinPolicy()
	p.Syscalls = append(slices.Clone(p.Syscalls), "ptrace")
	if _, err := Compile(p); err == nil {
		t.Error("a forbidden system call was accepted")
	}
	p = policy.ExternalPolicy()
	p.SocketFamilies = append(slices.Clone(p.SocketFamilies), "packet")
	if _, err := Compile(p); err == nil {
		t.Error("a packet socket family was accepted")
	}
}

func TestEveryPolicyNameIsASystemCall(t *testing.T) {
	for _, p := range policy.Profiles() {
		for _, s := range p.Syscalls {
			if _, ok := Number(s); !ok {
				t.Errorf("%s names %q, which is not a system call here", p.Name, s)
			}
		}
	}
}

// TestDenylistRefusesWhatAWorkerMayNeed: a denylist names forbidden calls
// only; one that names another, or nothing, does not compile.
func TestDenylistRefusesWhatAWorkerMayNeed(t *testing.T) {
	if _, err := CompileDenylist([]string{"ptrace", "read"}); err == nil {
		t.Error("a denylist refusing read compiled")
	}
	if _, err := CompileDenylist(nil); err == nil {
		t.Error("an empty denylist compiled")
	}
	if _, err := CompileDenylist([]string{"ptrace", "vm86"}); err != nil && err != ErrUnsupportedArch {
		t.Errorf("a denylist of forbidden calls: %v", err)
	}
}
