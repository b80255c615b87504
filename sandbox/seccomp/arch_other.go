//go:build !amd64

package seccomp

// No syscall table yet for this architecture: Compile refuses.
var syscallNumbers = map[string]uint32{}

const (
	auditArch = 0
	x32Bit    = 0
)
