package confine

import (
	"errors"
	"fmt"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// Root is what a worker's minimal root holds: nothing of the host but what
// is listed here, so host paths, host sockets and other apps' files do not
// exist inside.
//
//	/                 tmpfs, read-only once built (nosuid, nodev, noexec)
//	/usr, /lib, …     System: the host's, read-only (symbolic links copied)
//	/proc             a fresh procfs of the worker's own pid namespace
//	/dev              Devices (bound), fd/stdin/stdout/stderr links
//	/run/app          the app's folder: a size- and inode-limited tmpfs
//	/tmp              a size- and inode-limited tmpfs
//	Grants            an app's own read-only paths (its install folder, the
//	                  program `sandbox run` was given), at their host path
type Root struct {
	System  []string
	Devices []string
	Grants  []Grant
	// Data is where the app's folder is mounted (sandbox.DataPath).
	Data                  string
	DataBytes, DataInodes uint64
	TmpBytes              uint64
}

// Grant is one app-specific read-only host path, shown at its host path.
// FD, when not negative, is a detached copy of its mount the hub made
// (open_tree) and handed over: a hub running as root can give a path the
// sandbox's user could not reach itself. Otherwise the worker binds the
// host path, with its own rights.
type Grant struct {
	Path string `json:"path"`
	FD   int    `json:"fd"`
}

// Built is what Build made.
type Built struct {
	// Data is the app's folder, open (O_RDONLY|O_DIRECTORY) for the hub.
	Data int
	// Proc is why /proc could not be mounted (the host hides parts of its
	// own procfs, and the kernel then refuses a fresh one in a user
	// namespace); nil when it was. Without it the root has no /proc.
	Proc error
	// ReadOnly are the host paths the root holds (system and grants), and
	// Devices its device nodes, for Landlock's rules.
	ReadOnly, Devices []string
}

// oldRoot is where the host's root stays while the new one is built.
const oldRoot = "/.oldroot"

// Build makes the minimal root and pivots into it, in stage 1, as root of
// the worker's own user and mount namespaces (before Landlock, which
// forbids mounts, and before capabilities are dropped). Mounts are made
// from descriptors (open_tree, move_mount), never by following a path the
// host could have changed: host paths are resolved under the old root as if
// it were "/".
func Build(r Root) (Built, error) {
	b := Built{Data: -1}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return b, fmt.Errorf("confine: make mounts private: %w", err)
	}
	base, err := scratch()
	if err != nil {
		return b, err
	}
	if err := unix.Mount("tmpfs", base, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755,size=1m,nr_inodes=4096"); err != nil {
		return b, fmt.Errorf("confine: root tmpfs: %w", err)
	}
	if err := unix.Chdir(base); err != nil {
		return b, fmt.Errorf("confine: enter new root: %w", err)
	}
	if err := unix.Mkdir(oldRoot[1:], 0o700); err != nil {
		return b, fmt.Errorf("confine: old root: %w", err)
	}
	if err := unix.PivotRoot(".", oldRoot[1:]); err != nil {
		return b, fmt.Errorf("confine: pivot_root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return b, fmt.Errorf("confine: enter new root: %w", err)
	}
	old, err := unix.Open(oldRoot, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return b, fmt.Errorf("confine: old root: %w", err)
	}
	defer unix.Close(old)

	// procfs first: the kernel lets a user namespace mount one only while
	// a fully visible one (the host's, under the old root) is there.
	if err := os.Mkdir("/proc", 0o555); err != nil {
		return b, fmt.Errorf("confine: /proc: %w", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		b.Proc = fmt.Errorf("mount a private procfs: %w", err)
	}
	if err := devices(old, r.Devices); err != nil {
		return b, err
	}
	b.Devices = r.Devices
	if b.Data, err = ownTmpfs(r.Data, 0o700, r.DataBytes, r.DataInodes, true); err != nil {
		return b, err
	}
	if _, err := ownTmpfs("/tmp", 0o700, r.TmpBytes, r.DataInodes, false); err != nil {
		return b, err
	}
	for _, p := range r.System {
		ok, err := bindHost(old, p, -1, false)
		if err != nil {
			return b, err
		}
		if ok {
			b.ReadOnly = append(b.ReadOnly, p)
		}
	}
	for _, g := range r.Grants {
		ok, err := bindHost(old, g.Path, g.FD, true)
		if err != nil {
			return b, err
		}
		if !ok {
			return b, fmt.Errorf("confine: %s does not exist on the host", g.Path)
		}
		b.ReadOnly = append(b.ReadOnly, g.Path)
	}
	if err := unix.Unmount(oldRoot, unix.MNT_DETACH); err != nil {
		return b, fmt.Errorf("confine: detach the host's root: %w", err)
	}
	if err := unix.Rmdir(oldRoot); err != nil {
		return b, fmt.Errorf("confine: old root: %w", err)
	}
	if err := unix.MountSetattr(-1, "/", 0, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
		return b, fmt.Errorf("confine: make the root read-only: %w", err)
	}
	if err := unix.Chdir(r.Data); err != nil {
		return b, fmt.Errorf("confine: enter %s: %w", r.Data, err)
	}
	return b, nil
}

// scratch is an existing folder of the host to mount the new root on (the
// mount is private to the worker, and pivot_root moves it away).
func scratch() (string, error) {
	for _, d := range []string{"/tmp", "/run", "/mnt", "/var/tmp"} {
		var st unix.Stat_t
		if unix.Lstat(d, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return d, nil
		}
	}
	return "", errors.New("confine: no folder to build the new root on")
}

// ownTmpfs mounts a limited tmpfs of the sandbox's own at dir, and returns
// it open when asked.
func ownTmpfs(dir string, mode uint32, size, inodes uint64, open bool) (int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return -1, fmt.Errorf("confine: %s: %w", dir, err)
	}
	opts := fmt.Sprintf("mode=%o,size=%d,nr_inodes=%d", mode, size, inodes)
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opts); err != nil {
		return -1, fmt.Errorf("confine: tmpfs on %s: %w", dir, err)
	}
	if !open {
		return -1, nil
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("confine: open %s: %w", dir, err)
	}
	return fd, nil
}

// devices gives /dev its nodes (bound from the host's, the only mounts
// here that allow device access) and the usual links into /proc.
func devices(old int, nodes []string) error {
	if err := os.Mkdir("/dev", 0o755); err != nil {
		return fmt.Errorf("confine: /dev: %w", err)
	}
	for _, n := range nodes {
		fd, err := resolve(old, n, false)
		if err != nil {
			return fmt.Errorf("confine: device %s: %w", n, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
			unix.Close(fd)
			return fmt.Errorf("confine: device %s: not a character device on the host", n)
		}
		err = attach(fd, n, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC, false)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("confine: device %s: %w", n, err)
		}
	}
	links := map[string]string{"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0", "/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2"}
	for name, to := range links {
		if err := os.Symlink(to, name); err != nil {
			return fmt.Errorf("confine: %s: %w", name, err)
		}
	}
	return nil
}

// bindHost shows the host path p, read-only, at the same place in the new
// root: from the detached mount fd when given, else from the host's tree.
// A symbolic link is copied as a link, or with follow, what it points to is
// shown at its place. It reports false when p does not exist on the host,
// and true without a mount when p is already inside something the root
// holds (a grant under /usr).
func bindHost(old int, p string, fd int, follow bool) (bool, error) {
	detached := fd >= 0
	var st unix.Stat_t
	if unix.Lstat(p, &st) == nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return true, nil
	}
	if fd < 0 {
		var err error
		fd, err = resolve(old, p, !follow)
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("confine: %s: %w", p, err)
		}
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, &st); err != nil {
		return false, fmt.Errorf("confine: %s: %w", p, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		to, err := readlinkFD(fd)
		if err != nil {
			return false, fmt.Errorf("confine: %s: %w", p, err)
		}
		if err := os.MkdirAll(path.Dir(p), 0o755); err != nil {
			return false, fmt.Errorf("confine: %s: %w", p, err)
		}
		return true, os.Symlink(to, p)
	}
	// The hub set the flags of a mount it made; the worker may not.
	if err := attach(fd, p, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV, detached); err != nil {
		return false, fmt.Errorf("confine: %s: %w", p, err)
	}
	return true, nil
}

// resolve opens the host path p under the old root (as if it were "/": an
// absolute link stays inside it), O_PATH; with link, a final symbolic link
// is opened itself.
func resolve(old int, p string, link bool) (int, error) {
	flags := uint64(unix.O_PATH | unix.O_CLOEXEC)
	if link {
		flags |= unix.O_NOFOLLOW
	}
	return unix.Openat2(old, p[1:], &unix.OpenHow{Flags: flags, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
}

func readlinkFD(fd int) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// attach copies the mount tree at fd, sets attrs on all of it, and mounts
// it at dst, which it creates (a folder or an empty file, as the source
// is). A detached tree (one the hub made) is mounted as it is.
func attach(fd int, dst string, attrs uint64, detached bool) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	tree := fd
	if !detached {
		var err error
		tree, err = unix.OpenTree(fd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE|unix.AT_EMPTY_PATH)
		if err != nil {
			return fmt.Errorf("copy its mount: %w", err)
		}
		defer unix.Close(tree)
		if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: attrs}); err != nil {
			return fmt.Errorf("mount flags: %w", err)
		}
	}
	if err := os.MkdirAll(path.Dir(dst), 0o755); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if err := os.Mkdir(dst, 0o755); err != nil {
			return err
		}
	} else if err := os.WriteFile(dst, nil, 0o644); err != nil {
		return err
	}
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, dst, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("mount at %s: %w", dst, err)
	}
	return nil
}
