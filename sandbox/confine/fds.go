package confine

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// CloseOnExecFrom marks every descriptor from first up close-on-exec: the
// ones the hub inherited and passed on without meaning to, whatever their
// number. They stay open (the Go runtime's own are among them) until the
// next execve, where they vanish.
func CloseOnExecFrom(first int) error {
	err := unix.CloseRange(uint(first), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	// Kernels before 5.11: one by one.
	ents, rerr := os.ReadDir("/proc/self/fd")
	if rerr != nil {
		return fmt.Errorf("confine: close-on-exec: %w (and /proc/self/fd: %v)", err, rerr)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < first {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil && err != unix.EBADF {
			return fmt.Errorf("confine: close-on-exec fd %d: %w", fd, err)
		}
	}
	return nil
}

// CloseOnExec marks the given descriptors close-on-exec.
func CloseOnExec(fds ...int) error {
	for _, fd := range fds {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil && err != unix.EBADF {
			return fmt.Errorf("confine: close-on-exec fd %d: %w", fd, err)
		}
	}
	return nil
}
