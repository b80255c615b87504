// Package seccomp compiles a sandbox policy into a seccomp BPF program and
// loads it for every thread of the process (SECCOMP_FILTER_FLAG_TSYNC).
//
// The program, in order:
//
//	arch != native            → kill the process
//	nr has the x32 bit        → kill the process
//	nr == clone3              → ENOSYS (its flags live in memory BPF cannot
//	                            read; libc falls back to clone)
//	nr == clone               → EPERM with any CLONE_NEW* flag, in every
//	                            profile (CLONE_THREAD|CLONE_NEWUSER too);
//	                            else allow with CLONE_THREAD (Threads), any
//	                            (Processes), or EPERM
//	nr == socket              → allow a listed family with its own types and
//	                            protocols only: unix stream/dgram/seqpacket
//	                            (protocol 0), inet/inet6 TCP and UDP
//	                            (protocol 0 or its own); else EPERM (raw,
//	                            packet, netlink, vsock, MPTCP, UDP-Lite, ping…)
//	nr == socketpair          → unix, with the types above; else EPERM
//	nr == ioctl               → EPERM for TIOCSTI and TIOCLINUX (typing into
//	                            a terminal the command was handed); else allow
//	nr == memfd_create        → allow only with MFD_NOEXEC_SEAL (a memfd can
//	                            never hold a program); else ENOSYS
//	nr in allowlist           → allow
//	anything else             → EPERM
package seccomp

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/sandbox/policy"
)

// ErrUnsupportedArch is returned on architectures without a syscall table.
var ErrUnsupportedArch = errors.New("seccomp: unsupported architecture " + runtime.GOARCH)

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArg0 = 16 // low 32 bits of args[0] on little-endian
	offArg1 = 24
	offArg2 = 32
)

var (
	retAllow = bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW}
	retKill  = bpf.RetConstant{Val: unix.SECCOMP_RET_KILL_PROCESS}
	retEPERM = bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)}
	retNoSys = bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)}
)

// NewNamespaces are the clone flags that create a namespace; no profile
// lets a worker make one (clone's low byte is the exit signal, so
// CLONE_NEWTIME, which only clone3 and unshare take, is not among them).
const NewNamespaces = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET

// mfdNoExecSeal is MFD_NOEXEC_SEAL (Linux 6.3): the memfd is not
// executable and can never be made so.
const mfdNoExecSeal = 0x0008

var families = map[string]uint32{"unix": unix.AF_UNIX, "inet": unix.AF_INET, "inet6": unix.AF_INET6}

// Number returns a system call's number on this architecture.
func Number(name string) (uint32, bool) {
	nr, ok := syscallNumbers[name]
	return nr, ok
}

// special are the calls checked with their arguments, before the allowlist.
var special = []string{"clone", "socket", "socketpair", "ioctl", "memfd_create"}

// Compile turns a policy into a BPF program. An unknown system call name is
// an error: a typo must not silently drop a rule.
func Compile(p policy.Policy) ([]bpf.RawInstruction, error) {
	if len(syscallNumbers) == 0 {
		return nil, ErrUnsupportedArch
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	for _, name := range p.Syscalls {
		if _, ok := syscallNumbers[name]; !ok {
			return nil, fmt.Errorf("seccomp: policy %s: unknown system call %q", p.Name, name)
		}
	}
	nr := func(name string) uint32 { return syscallNumbers[name] }
	a := newAsm()
	a.prologue("clone")

	a.label("clone")
	a.jeq(nr("clone"), "", "socket")
	a.add(bpf.LoadAbsolute{Off: offArg0, Size: 4})
	a.jset(NewNamespaces, "clone.no", "")
	switch {
	case p.Processes:
		a.add(retAllow)
	case p.Threads:
		a.jset(unix.CLONE_THREAD, "", "clone.no")
		a.add(retAllow)
	}
	a.label("clone.no")
	a.add(retEPERM)

	a.label("socket")
	a.jeq(nr("socket"), "", "socketpair")
	a.add(bpf.LoadAbsolute{Off: offArg0, Size: 4})
	for _, f := range p.SocketFamilies {
		if f == "unix" {
			a.jeq(unix.AF_UNIX, "sock.unix", "")
		} else {
			a.jeq(families[f], "sock.inet", "")
		}
	}
	a.add(retEPERM)
	a.label("sock.unix")
	unixTypes(a, "sock.unix")
	a.label("sock.inet")
	a.add(bpf.LoadAbsolute{Off: offArg1, Size: 4}, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf})
	a.jeq(unix.SOCK_STREAM, "sock.tcp", "")
	a.jeq(unix.SOCK_DGRAM, "sock.udp", "")
	a.add(retEPERM)
	a.label("sock.tcp")
	a.add(bpf.LoadAbsolute{Off: offArg2, Size: 4})
	a.jeq(0, "sock.ok", "")
	a.jeq(unix.IPPROTO_TCP, "sock.ok", "")
	a.add(retEPERM)
	a.label("sock.udp")
	a.add(bpf.LoadAbsolute{Off: offArg2, Size: 4})
	a.jeq(0, "sock.ok", "")
	a.jeq(unix.IPPROTO_UDP, "sock.ok", "")
	a.add(retEPERM)
	a.label("sock.ok")
	a.add(retAllow)

	a.label("socketpair")
	a.jeq(nr("socketpair"), "", "ioctl")
	if slices.Contains(p.Syscalls, "socketpair") && slices.Contains(p.SocketFamilies, "unix") {
		a.add(bpf.LoadAbsolute{Off: offArg0, Size: 4})
		a.jeq(unix.AF_UNIX, "", "pair.no")
		unixTypes(a, "pair")
	}
	a.label("pair.no")
	a.add(retEPERM)

	// ioctl: never push input into a terminal (`sandbox run` hands the
	// command the user's terminal; Setsid already makes it not the
	// controlling one, and this refuses the injection outright).
	a.label("ioctl")
	a.jeq(nr("ioctl"), "", "memfd")
	if slices.Contains(p.Syscalls, "ioctl") {
		a.add(bpf.LoadAbsolute{Off: offArg1, Size: 4})
		a.jeq(unix.TIOCSTI, "ioctl.no", "")
		a.jeq(unix.TIOCLINUX, "ioctl.no", "")
		a.add(retAllow)
	}
	a.label("ioctl.no")
	a.add(retEPERM)

	// memfd_create: a memfd lives on no mount, so neither noexec nor
	// Landlock stops a program in it from running through /proc/self/fd.
	a.label("memfd")
	a.jeq(nr("memfd_create"), "", "list")
	if slices.Contains(p.Syscalls, "memfd_create") {
		a.add(bpf.LoadAbsolute{Off: offArg1, Size: 4})
		a.jset(mfdNoExecSeal, "", "memfd.no")
		a.add(retAllow)
	}
	a.label("memfd.no")
	a.add(retNoSys)

	a.label("list")
	a.add(bpf.LoadAbsolute{Off: offNr, Size: 4})
	for _, name := range p.Syscalls {
		if slices.Contains(special, name) {
			continue // handled above, with their arguments
		}
		a.add(bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr(name), SkipFalse: 1}, retAllow)
	}
	a.add(retEPERM)
	raw, err := a.assemble()
	if err != nil {
		return nil, fmt.Errorf("seccomp: policy %s: %w", p.Name, err)
	}
	return raw, nil
}

// unixTypes checks a unix socket's type and protocol (arguments 1 and 2).
func unixTypes(a *asm, at string) {
	a.add(bpf.LoadAbsolute{Off: offArg1, Size: 4}, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf})
	a.jeq(unix.SOCK_STREAM, at+".proto", "")
	a.jeq(unix.SOCK_DGRAM, at+".proto", "")
	a.jeq(unix.SOCK_SEQPACKET, at+".proto", "")
	a.add(retEPERM)
	a.label(at + ".proto")
	a.add(bpf.LoadAbsolute{Off: offArg2, Size: 4})
	a.jeq(0, "", at+".bad")
	a.add(retAllow)
	a.label(at + ".bad")
	a.add(retEPERM)
}

// Load installs the program for every thread of the calling process. The
// caller must have set no_new_privs.
func Load(raw []bpf.RawInstruction) error {
	if len(raw) == 0 || len(raw) > 4096 {
		return fmt.Errorf("seccomp: program of %d instructions", len(raw))
	}
	filters := make([]unix.SockFilter, len(raw))
	for i, ins := range raw {
		filters[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filters)), Filter: &filters[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(filters)
	if errno != 0 {
		return fmt.Errorf("seccomp: load: %w", errno)
	}
	return nil
}
