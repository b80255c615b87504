package seccomp

import (
	"errors"
	"fmt"
	"slices"

	"golang.org/x/net/bpf"

	"github.com/isolategpt/isolategpt/sandbox/policy"
)

// CompileDenylist is a program for a process that must keep most of the
// kernel (the spawner: every worker it starts inherits its filter, and a
// worker's stage 1 builds a root and confines itself under it), refusing
// only the named calls with EPERM:
//
//	arch != native            → kill the process
//	nr has the x32 bit        → kill the process
//	nr == clone3              → ENOSYS (as in every worker profile)
//	nr in deny                → EPERM
//	anything else             → allow
//
// Every name must be one policy.Forbidden lists, so that no worker profile
// can need it; a name without a number on this architecture cannot be
// called here and is left out, any other unknown name is an error.
func CompileDenylist(deny []string) ([]bpf.RawInstruction, error) {
	if len(syscallNumbers) == 0 {
		return nil, ErrUnsupportedArch
	}
	if len(deny) == 0 {
		return nil, errors.New("seccomp: an empty denylist")
	}
	a := newAsm()
	a.prologue("list")
	a.label("list")
	for _, name := range deny {
		if !slices.Contains(policy.Forbidden, name) {
			return nil, fmt.Errorf("seccomp: %s is not a forbidden call (a worker may need it)", name)
		}
		nr, ok := syscallNumbers[name]
		if !ok || name == "clone3" {
			continue
		}
		a.add(bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr, SkipFalse: 1}, retEPERM)
	}
	a.add(retAllow)
	return a.assemble()
}
