package confine

import (
	"fmt"
	"path"

	"golang.org/x/sys/unix"
)

// ShowData gives the worker its data folder (the working folder it was
// started in) at target, a fixed path below a directory that exists on
// every host (/run), and enters it there. It runs in stage 1, as root of
// the worker's own user and mount namespaces, before Landlock (which
// forbids mounts).
//
// The host path of the data folder is no use inside: its parents (a 0700
// home, the hub's 0700 data folder) are closed to the sandbox's user, so
// programs that resolve their folder by absolute path (Node.js's realpath,
// the MCP servers' configured paths) would fail. At target the path is
// short, traversable and the same for every app.
//
//	mount --make-rprivate /          nothing propagates back to the host
//	mount -t tmpfs tmpfs /run        hides the host's /run (docker.sock, …)
//	mkdir /run/app; mount --bind . /run/app (nosuid, nodev, noexec)
//	chdir /run/app
//
// The bind mount is of the working folder, which clone moved into this
// mount namespace; a descriptor inherited from the hub would belong to the
// hub's namespace, and the kernel refuses to bind it here.
func ShowData(target string) error {
	parent := path.Dir(target)
	if !path.IsAbs(target) || parent == "/" || path.Clean(target) != target {
		return fmt.Errorf("confine: data mount point %q must be a clean path two levels below /", target)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("confine: make mounts private: %w", err)
	}
	const hide = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := unix.Mount("tmpfs", parent, "tmpfs", hide, "mode=0755,size=64k,nr_inodes=16"); err != nil {
		return fmt.Errorf("confine: tmpfs on %s: %w", parent, err)
	}
	if err := unix.Mkdir(target, 0o700); err != nil {
		return fmt.Errorf("confine: data mount point: %w", err)
	}
	if err := unix.Mount(".", target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("confine: bind data folder: %w", err)
	}
	// A bind mount takes its flags from a remount; no program or set-uid
	// file the app writes into its folder may run from it.
	if err := unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_BIND|hide, ""); err != nil {
		return fmt.Errorf("confine: data folder flags: %w", err)
	}
	if err := unix.Chdir(target); err != nil {
		return fmt.Errorf("confine: enter data folder: %w", err)
	}
	return nil
}
