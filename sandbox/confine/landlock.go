package confine

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Raw Landlock system calls on the calling thread only, using x/sys's own
// types: no cgo, no helper that signals other threads.

func landlockABI() (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// landlockRulesetSize is the size of the ruleset attribute up to the
// fields the kernel knows; the quiet fields (ABI 10) are left out.
const landlockRulesetSize = 3 * 8

func landlockCreateRuleset(attr *unix.LandlockRulesetAttr) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(attr)), landlockRulesetSize, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

func landlockAddPath(ruleset int, access uint64, fd int) error {
	attr := unix.LandlockPathBeneathAttr{Allowed_access: access, Parent_fd: int32(fd)}
	_, _, errno := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(ruleset), unix.LANDLOCK_RULE_PATH_BENEATH, uintptr(unsafe.Pointer(&attr)), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// landlockNetPortAttr is struct landlock_net_port_attr (ABI 4), which x/sys
// does not define.
type landlockNetPortAttr struct {
	allowedAccess uint64
	port          uint64
}

const landlockRuleNetPort = 2

func landlockAddPort(ruleset int, access uint64, port uint16) error {
	attr := landlockNetPortAttr{allowedAccess: access, port: uint64(port)}
	_, _, errno := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(ruleset), landlockRuleNetPort, uintptr(unsafe.Pointer(&attr)), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func landlockRestrictSelf(ruleset int) error {
	_, _, errno := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(ruleset), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
