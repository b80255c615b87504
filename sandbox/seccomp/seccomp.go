// Package seccomp compiles a sandbox policy into a seccomp BPF program and
// loads it for every thread of the process (SECCOMP_FILTER_FLAG_TSYNC).
//
// The program, in order:
//
//	arch != native            → kill the process
//	nr has the x32 bit        → kill the process
//	nr == clone3              → ENOSYS (its flags live in memory BPF cannot
//	                            read; libc falls back to clone)
//	nr == clone               → allow with CLONE_THREAD (Threads); allow any
//	                            (Processes); else EPERM
//	nr == socket              → allow listed families, never SOCK_RAW or
//	                            SOCK_PACKET; else EPERM
//	nr == ioctl               → EPERM for TIOCSTI and TIOCLINUX (typing into
//	                            a terminal the command was handed); else allow
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
)

var (
	retAllow = bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW}
	retKill  = bpf.RetConstant{Val: unix.SECCOMP_RET_KILL_PROCESS}
	retEPERM = bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)}
	retNoSys = bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)}
)

var families = map[string]uint32{"unix": unix.AF_UNIX, "inet": unix.AF_INET, "inet6": unix.AF_INET6}

// Number returns a system call's number on this architecture.
func Number(name string) (uint32, bool) {
	nr, ok := syscallNumbers[name]
	return nr, ok
}

// Compile turns a policy into a BPF program. An unknown system call name is
// an error: a typo must not silently drop a rule.
func Compile(p policy.Policy) ([]bpf.RawInstruction, error) {
	if len(syscallNumbers) == 0 {
		return nil, ErrUnsupportedArch
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: offArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: auditArch, SkipTrue: 1},
		retKill,
		bpf.LoadAbsolute{Off: offNr, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: x32Bit, SkipFalse: 1},
		retKill,
	}
	nr := func(name string) uint32 { return syscallNumbers[name] }

	// clone3 → ENOSYS.
	prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr("clone3"), SkipFalse: 1}, retNoSys)

	// clone: threads only, or anything when processes are allowed.
	switch {
	case p.Processes:
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr("clone"), SkipFalse: 1}, retAllow)
	case p.Threads:
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr("clone"), SkipFalse: 4},
			bpf.LoadAbsolute{Off: offArg0, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: unix.CLONE_THREAD, SkipFalse: 1},
			retAllow,
			retEPERM,
		)
	}

	// socket: listed families, and never raw or packet types.
	if len(p.SocketFamilies) > 0 {
		// Layout: load family; one jump per family to the type check;
		// EPERM; the type check.
		f := len(p.SocketFamilies)
		sock := []bpf.Instruction{bpf.LoadAbsolute{Off: offArg0, Size: 4}}
		for i, name := range p.SocketFamilies {
			sock = append(sock, bpf.JumpIf{Cond: bpf.JumpEqual, Val: families[name], SkipTrue: uint8(f - i)})
		}
		sock = append(sock,
			retEPERM,
			bpf.LoadAbsolute{Off: offArg1, Size: 4},
			bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SOCK_STREAM, SkipTrue: 2},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SOCK_DGRAM, SkipTrue: 1},
			retEPERM,
			retAllow,
		)
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr("socket"), SkipFalse: uint8(len(sock))})
		prog = append(prog, sock...)
	}

	// ioctl: never push input into a terminal (`sandbox run` hands the
	// command the user's terminal; Setsid already makes it not the
	// controlling one, and this refuses the injection outright).
	if slices.Contains(p.Syscalls, "ioctl") {
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr("ioctl"), SkipFalse: 5},
			bpf.LoadAbsolute{Off: offArg1, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.TIOCSTI, SkipTrue: 2},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.TIOCLINUX, SkipTrue: 1},
			retAllow,
			retEPERM,
		)
	}

	for _, name := range p.Syscalls {
		if name == "clone" || name == "socket" || name == "ioctl" {
			continue // handled above, with their arguments
		}
		n, ok := syscallNumbers[name]
		if !ok {
			return nil, fmt.Errorf("seccomp: policy %s: unknown system call %q", p.Name, name)
		}
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: n, SkipFalse: 1}, retAllow)
	}
	prog = append(prog, retEPERM)
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("seccomp: assemble: %w", err)
	}
	return raw, nil
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
