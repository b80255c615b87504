package worker

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/confine"
)

// stage1 builds the worker's minimal root, confines this one thread with
// Landlock, drops every capability, and re-executes the binary so that
// every thread of the confined image inherits all of it. It is self
// contained: what it needs comes in on its descriptors, so whatever starts
// it (the hub today, a spawner later) only has to clone it into its
// namespaces and cgroup and hand it StatusFD.
func stage1(status *os.File) int {
	runtime.LockOSThread() // never unlocked: this thread becomes the new image
	// First of all: descriptors the hub did not mean to pass (it may
	// itself have inherited some) must not reach the app.
	if err := confine.CloseOnExecFrom(ConfigFD); err != nil {
		return fail(status, err)
	}
	b, err := readPacket(status)
	if err != nil {
		return fail(status, fmt.Errorf("worker: read configuration: %w", err))
	}
	cfg, err := decode(b)
	if err != nil {
		return fail(status, err)
	}
	return fail(status, setup(cfg, status))
}

// weaker records a layer the host cannot give, or fails without the
// user's consent to a weaker sandbox.
func weaker(cfg *Config, name string, err error) error {
	if !cfg.AllowWeaker {
		return fmt.Errorf("worker: %s: %w (the host cannot give this layer of the sandbox; --allow-weaker-sandbox starts apps without it)", name, err)
	}
	cfg.Layers = append(cfg.Layers, sandbox.Layer{Name: name, Detail: err.Error()})
	return nil
}

func enforced(cfg *Config, name, detail string) {
	cfg.Layers = append(cfg.Layers, sandbox.Layer{Name: name, Enforced: true, Detail: detail})
}

// setup returns only on error.
func setup(cfg Config, status *os.File) error {
	if err := cfg.Policy.Check(); err != nil {
		return err
	}
	l := cfg.Policy.Limits
	if err := confine.Rlimits(l); err != nil {
		return err
	}
	enforced(&cfg, sandbox.LayerRlimits, fmt.Sprintf("per process: %d s CPU, %d MiB address space, %d MiB a file, %d files, %d tasks", l.CPUSeconds, l.AddressSpace>>20, l.FileSize>>20, l.OpenFiles, l.Processes))
	exe, err := unix.Open("/proc/self/exe", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("worker: open own binary: %w", err)
	}
	built, err := confine.Build(confine.Root{
		System: cfg.Policy.ReadOnly, Devices: cfg.Policy.Devices, Grants: cfg.Grants,
		Data: sandbox.DataPath, DataBytes: l.DataBytes, DataInodes: l.DataInodes, TmpBytes: l.TmpBytes,
	})
	if err != nil {
		return err
	}
	enforced(&cfg, sandbox.LayerRoot, "pivot_root into a tmpfs holding only the system folders, grants, /dev and the app's own folders")
	enforced(&cfg, sandbox.LayerAppFolder, fmt.Sprintf("%s: tmpfs of %d MiB and %d files; /tmp: %d MiB", sandbox.DataPath, l.DataBytes>>20, l.DataInodes, l.TmpBytes>>20))
	if built.Proc != nil {
		if err := weaker(&cfg, sandbox.LayerProc, built.Proc); err != nil {
			return err
		}
	} else {
		enforced(&cfg, sandbox.LayerProc, "a fresh procfs of the worker's own pid namespace")
	}
	if err := handshake(status, built.Data, cfg.Persist); err != nil {
		return err
	}
	if cfg.ProxyPort != 0 {
		if err := confine.LoopbackUp(); err != nil {
			return err
		}
	}
	if err := landlock(&cfg, built, exe); err != nil {
		return err
	}
	if err := confine.DropCapabilities(); err != nil {
		return err
	}
	enforced(&cfg, sandbox.LayerCapabilities, "none: bounding, ambient, permitted, effective and inheritable sets empty; securebits NOROOT, NO_SETUID_FIXUP, NO_CAP_AMBIENT_RAISE locked")
	enforced(&cfg, sandbox.LayerDescriptors, "stdio only (and the sandbox's own status and egress sockets, close-on-exec for the app's programs)")
	if err := handOver(cfg); err != nil {
		return err
	}
	return execveat(exe, []string{"isolategpt", Stage2})
}

// handshake tells the hub the root is built, handing it the app folder's
// tmpfs when it persists, and waits for its go.
func handshake(status *os.File, data int, persist bool) error {
	defer unix.Close(data)
	var rights []byte
	if persist {
		rights = unix.UnixRights(data)
	}
	b := []byte(`{"phase":"` + PhaseBuilt + `"}`)
	if err := unix.Sendmsg(StatusFD, b, rights, nil, 0); err != nil {
		return fmt.Errorf("worker: report the built root: %w", err)
	}
	reply, err := readPacket(status)
	if err != nil {
		return fmt.Errorf("worker: wait for the hub: %w", err)
	}
	if string(reply) != Go {
		return fmt.Errorf("worker: the hub said %q", reply)
	}
	return nil
}

// landlock restricts this thread to the minimal root's own paths.
func landlock(cfg *Config, built confine.Built, exe int) error {
	open := func(p string) (int, error) {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, fmt.Errorf("worker: open %s for Landlock: %w", p, err)
		}
		return fd, nil
	}
	paths := confine.Paths{Exec: exe, Proc: -1}
	var err error
	if paths.Root, err = open("/"); err != nil {
		return err
	}
	for _, p := range built.ReadOnly {
		fd, err := open(p)
		if errors.Is(err, unix.ENOENT) {
			continue // a dangling link the host had
		}
		if err != nil {
			return err
		}
		paths.ReadOnly = append(paths.ReadOnly, fd)
	}
	for _, p := range built.Devices {
		fd, err := open(p)
		if err != nil {
			return err
		}
		paths.Devices = append(paths.Devices, fd)
	}
	if built.Proc == nil {
		if paths.Proc, err = open("/proc"); err != nil {
			return err
		}
	}
	for _, p := range []string{sandbox.DataPath, "/tmp"} {
		fd, err := open(p)
		if err != nil {
			return err
		}
		paths.ReadWrite = append(paths.ReadWrite, fd)
	}
	if cfg.ProxyPort != 0 {
		paths.BindTCP = []uint16{cfg.ProxyPort}
		paths.ConnectTCP = []uint16{cfg.ProxyPort}
	}
	floor := cfg.LandlockFloor
	if floor == 0 {
		floor = confine.LandlockFloor
	}
	abi, err := confine.Landlock(paths, floor)
	switch {
	case err == nil:
		enforced(cfg, sandbox.LayerLandlock, fmt.Sprintf("ABI %d (the sandbox needs %d or later)", abi, floor))
		return nil
	case !errors.Is(err, confine.ErrNoLandlock):
		return err
	}
	if err := weaker(cfg, sandbox.LayerLandlock, err); err != nil {
		return err
	}
	if abi >= 1 {
		// What this kernel has is still better than nothing.
		if _, err := confine.Landlock(paths, 1); err != nil {
			return err
		}
		return nil
	}
	return confine.NoNewPrivs()
}

// execveat runs the binary open at fd: there may be no /proc to find it by.
func execveat(fd int, argv []string) error {
	path, err := syscall.BytePtrFromString("")
	if err != nil {
		return err
	}
	args, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return err
	}
	env, err := syscall.SlicePtrFromStrings(nil)
	if err != nil {
		return err
	}
	_, _, errno := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(path)),
		uintptr(unsafe.Pointer(&args[0])), uintptr(unsafe.Pointer(&env[0])), unix.AT_EMPTY_PATH, 0)
	return fmt.Errorf("worker: re-exec: %w", errno)
}
