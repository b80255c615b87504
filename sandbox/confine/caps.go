package confine

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Securebits (linux/securebits.h): root has no special meaning (NOROOT),
// set-uid does not move capabilities (NO_SETUID_FIXUP), they are not kept
// across set-uid (KEEP_CAPS off), ambient ones cannot be raised; each
// locked so no process of the worker can undo it.
const (
	secNoRoot             = 1 << 0
	secNoRootLocked       = 1 << 1
	secNoSetuidFixup      = 1 << 2
	secNoSetuidFixupLock  = 1 << 3
	secKeepCapsLocked     = 1 << 5
	secNoAmbientRaise     = 1 << 6
	secNoAmbientRaiseLock = 1 << 7
	securebits            = secNoRoot | secNoRootLocked | secNoSetuidFixup | secNoSetuidFixupLock |
		secKeepCapsLocked | secNoAmbientRaise | secNoAmbientRaiseLock
)

// DropCapabilities leaves the calling thread, which must be locked and is
// about to execve, with no capability at all and no way to regain one: the
// worker is root of its user namespace only to build its root. It needs
// CAP_SETPCAP, so it comes after every step that needs a capability.
//
//	securebits  NOROOT, NO_SETUID_FIXUP, no KEEP_CAPS, NO_CAP_AMBIENT_RAISE, all locked
//	bounding    every capability dropped (execve can grant nothing back)
//	ambient     cleared
//	capset      effective, permitted and inheritable empty
func DropCapabilities() error {
	if err := unix.Prctl(unix.PR_SET_SECUREBITS, securebits, 0, 0, 0); err != nil {
		return fmt.Errorf("confine: securebits: %w", err)
	}
	for c := 0; ; c++ {
		err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0)
		if errors.Is(err, unix.EINVAL) {
			break // past the kernel's last capability
		}
		if err != nil {
			return fmt.Errorf("confine: drop capability %d from the bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("confine: clear ambient capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("confine: clear capabilities: %w", err)
	}
	return nil
}
