//go:build amd64

package seccomp

import "golang.org/x/sys/unix"

const (
	auditArch = unix.AUDIT_ARCH_X86_64
	// x32Bit marks the x32 ABI's system call numbers, which must never
	// reach the allowlist under their x86-64 meaning.
	x32Bit = 0x40000000
)
