package launch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/wire"
)

// The probe runs inside a real worker and tries what the test asks, as an
// attacker inside would: each action reports "ok" or the error the kernel
// gave. The same code runs as a built-in app (the strict profile), as an
// MCP server and as a `sandbox run` command (the external profile).
type probeArgs struct {
	Action string `json:"action"`
	Arg    string `json:"arg"`
	N      int    `json:"n"`
}

type probeResult struct {
	OK    bool   `json:"ok"`
	Err   string `json:"err,omitempty"`
	Errno int    `json:"errno,omitempty"`
	Out   string `json:"out,omitempty"`
}

func probeHandler() (wire.Handler, error) {
	obj := json.RawMessage(`{"type":"object","additionalProperties":true}`)
	tools := []sandbox.Tool{{Name: "try", InputSchema: obj, OutputSchema: obj}}
	return wire.NewToolServer(tools, probeCall), nil
}

func probeCall(ctx context.Context, name string, raw json.RawMessage) (json.RawMessage, error) {
	var a probeArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, &sandbox.ToolError{Message: err.Error()}
	}
	act, ok := probeActions[a.Action]
	if !ok {
		return nil, &sandbox.ToolError{Message: "unknown action " + a.Action}
	}
	res := probeResult{OK: true}
	out, err := act(a)
	res.Out = out
	if err != nil {
		res.OK, res.Err = false, err.Error()
		var en syscall.Errno
		if errors.As(err, &en) {
			res.Errno = int(en)
		}
	}
	return json.Marshal(res)
}

func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// num parses a probe argument ("0x…" or decimal).
func num(s string) uintptr {
	n, _ := strconv.ParseUint(s, 0, 64)
	return uintptr(n)
}

// args splits a probe argument on commas.
func args(s string) []uintptr {
	var out []uintptr
	for _, f := range strings.Split(s, ",") {
		out = append(out, num(f))
	}
	for len(out) < 3 {
		out = append(out, 0)
	}
	return out
}

var probeActions map[string]func(probeArgs) (string, error)

func init() {
	probeActions = map[string]func(probeArgs) (string, error){
		"read": func(a probeArgs) (string, error) {
			b, err := os.ReadFile(a.Arg)
			return string(b[:min(len(b), 64)]), err
		},
		"cat": func(a probeArgs) (string, error) {
			b, err := os.ReadFile(a.Arg)
			return string(b), err
		},
		"write": func(a probeArgs) (string, error) { return "", os.WriteFile(a.Arg, []byte("x"), 0o600) },
		"stat":  func(a probeArgs) (string, error) { _, err := os.Lstat(a.Arg); return "", err },
		"ls": func(a probeArgs) (string, error) {
			ents, err := os.ReadDir(a.Arg)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			return strings.Join(names, " "), err
		},
		"env": func(probeArgs) (string, error) { return strings.Join(os.Environ(), "\n"), nil },
		"whoami": func(probeArgs) (string, error) {
			wd, _ := os.Readlink("/proc/self/cwd")
			return fmt.Sprintf("uid=%d pid=%d cwd=%s", os.Getuid(), os.Getpid(), wd), nil
		},
		// fds lists the open descriptors and what they are.
		"fds": func(probeArgs) (string, error) {
			ents, err := os.ReadDir("/proc/self/fd")
			var out []string
			for _, e := range ents {
				to, err := os.Readlink("/proc/self/fd/" + e.Name())
				if err != nil {
					continue // the listing's own, closed since
				}
				fd, _ := strconv.Atoi(e.Name())
				flags, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
				cloexec := ""
				if flags&unix.FD_CLOEXEC != 0 {
					cloexec = " cloexec"
				}
				out = append(out, e.Name()+"="+to+cloexec)
			}
			return strings.Join(out, "\n"), err
		},
		// execveat-fds tries to run a program relative to, or as, every
		// open descriptor: the hole of an inherited folder descriptor.
		"execveat-fds": func(probeArgs) (string, error) {
			ents, _ := os.ReadDir("/proc/self/fd")
			var errs []string
			for _, e := range ents {
				fd, _ := strconv.Atoi(e.Name())
				for _, p := range []string{"", "prog", "../../bin/true"} {
					err := execveat(fd, p)
					errs = append(errs, fmt.Sprintf("%d %q: %v", fd, p, err))
					if err == nil {
						return strings.Join(errs, "\n"), nil
					}
				}
			}
			return strings.Join(errs, "\n"), unix.EPERM
		},
		"connect": func(a probeArgs) (string, error) {
			c, err := net.DialTimeout("tcp", a.Arg, 2*time.Second)
			if c != nil {
				c.Close()
			}
			return "", err
		},
		"connect-unix": func(a probeArgs) (string, error) {
			c, err := net.DialTimeout("unix", a.Arg, 2*time.Second)
			if c != nil {
				c.Close()
			}
			return "", err
		},
		"chmod": func(a probeArgs) (string, error) { return "", os.Chmod(a.Arg, 0o666) },
		// netns is the worker's network namespace; abstract-bind binds an
		// abstract unix socket of that name and keeps it.
		"netns": func(probeArgs) (string, error) { return os.Readlink("/proc/self/ns/net") },
		"abstract-bind": func(a probeArgs) (string, error) {
			fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
			if err != nil {
				return "", err
			}
			if err := unix.Bind(fd, &unix.SockaddrUnix{Name: "@" + a.Arg}); err != nil {
				unix.Close(fd)
				return "", err
			}
			return "", nil // kept open for as long as the worker lives
		},
		"udp": func(probeArgs) (string, error) {
			_, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
			return "", err
		},
		// socket and socketpair take "family,type,protocol".
		"socket": func(a probeArgs) (string, error) {
			v := args(a.Arg)
			fd, _, e := unix.RawSyscall(unix.SYS_SOCKET, v[0], v[1], v[2])
			if e == 0 {
				unix.Close(int(fd))
			}
			return "", errnoErr(e)
		},
		"socketpair": func(a probeArgs) (string, error) {
			v := args(a.Arg)
			var fds [2]int32
			_, _, e := unix.RawSyscall6(unix.SYS_SOCKETPAIR, v[0], v[1], v[2], uintptr(unsafe.Pointer(&fds)), 0, 0)
			if e == 0 {
				unix.Close(int(fds[0]))
				unix.Close(int(fds[1]))
			}
			return "", errnoErr(e)
		},
		// clone makes a child with the given flags (hex); the child leaves
		// at once.
		"clone": func(a probeArgs) (string, error) {
			flags := num(a.Arg)
			if flags&unix.CLONE_THREAD != 0 {
				// A thread needs its own stack: give it one that only
				// exits.
				return "", cloneThread(flags)
			}
			pid, _, e := unix.RawSyscall6(unix.SYS_CLONE, flags|uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
			if e == 0 && pid == 0 {
				unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
			}
			if e == 0 {
				var ws unix.WaitStatus
				unix.Wait4(int(pid), &ws, 0, nil)
			}
			return "", errnoErr(e)
		},
		"clone3": func(a probeArgs) (string, error) {
			// struct clone_args: flags first, exit_signal at 32.
			var ca [88]byte
			*(*uint64)(unsafe.Pointer(&ca[0])) = uint64(num(a.Arg))
			*(*uint64)(unsafe.Pointer(&ca[32])) = uint64(unix.SIGCHLD)
			pid, _, e := unix.RawSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&ca)), unsafe.Sizeof(ca), 0)
			if e == 0 && pid == 0 {
				unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
			}
			return "", errnoErr(e)
		},
		"unshare": func(a probeArgs) (string, error) {
			f := num(a.Arg)
			if f == 0 {
				f = unix.CLONE_NEWUSER
			}
			return "", unix.Unshare(int(f))
		},
		"setns":  func(probeArgs) (string, error) { return "", unix.Setns(0, 0) },
		"ptrace": func(probeArgs) (string, error) { return "", unix.PtraceAttach(1) },
		"mount":  func(probeArgs) (string, error) { return "", unix.Mount("none", "/tmp", "tmpfs", 0, "") },
		"umount": func(probeArgs) (string, error) { return "", unix.Unmount("/usr", unix.MNT_DETACH) },
		"chroot": func(probeArgs) (string, error) { return "", unix.Chroot("/tmp") },
		"setgroups": func(probeArgs) (string, error) {
			_, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, 0, 0, 0)
			return "", errnoErr(e)
		},
		"setuid": func(a probeArgs) (string, error) {
			_, _, e := unix.RawSyscall(unix.SYS_SETUID, num(a.Arg), 0, 0)
			return "", errnoErr(e)
		},
		"bpf": func(probeArgs) (string, error) {
			_, _, e := unix.Syscall(unix.SYS_BPF, 0, 0, 0)
			return "", errnoErr(e)
		},
		"io_uring_setup": func(probeArgs) (string, error) {
			_, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, 1, 0, 0)
			return "", errnoErr(e)
		},
		// ifup tries to change an interface: CAP_NET_ADMIN of the
		// worker's own network namespace.
		"ifup": func(probeArgs) (string, error) {
			fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
			if err != nil {
				return "", err
			}
			defer unix.Close(fd)
			ifr, _ := unix.NewIfreq("lo")
			ifr.SetUint16(unix.IFF_UP)
			return "", unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
		},
		// memfd-exec writes a program into a memfd and runs it, through
		// /proc/self/fd and through execveat.
		"memfd-exec": func(a probeArgs) (string, error) {
			flags := unix.MFD_CLOEXEC | int(num(a.Arg))
			fd, err := unix.MemfdCreate("payload", flags)
			if err != nil {
				return "memfd_create", err
			}
			prog, _ := os.ReadFile("/proc/self/exe")
			unix.Write(fd, prog)
			cmd := exec.Command(fmt.Sprintf("/proc/self/fd/%d", fd), probeCommand, "whoami")
			cmd.ExtraFiles = nil
			if err := cmd.Run(); err == nil {
				return "ran from /proc/self/fd", nil
			} else if err := execveat(fd, ""); err == nil {
				return "ran by execveat", nil
			}
			return "", unix.EACCES
		},
		// fork makes n children that leave at once; unreaped, they still
		// count against the process limit the test is after.
		"fork": func(a probeArgs) (string, error) {
			n := 0
			var err error
			for ; n < a.N && err == nil; n++ {
				pid, _, e := unix.RawSyscall(unix.SYS_FORK, 0, 0, 0)
				if e == 0 && pid == 0 {
					unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
				}
				err = errnoErr(e)
			}
			return fmt.Sprint(n - 1), err
		},
		// spin-children runs n processes that each burn CPU, and waits:
		// the trick that resets RLIMIT_CPU.
		"spin-children": func(a probeArgs) (string, error) { return children(a.N, probeCommand, "spin") },
		// hog-children runs n processes that each keep arg MiB resident.
		"hog-children": func(a probeArgs) (string, error) {
			return children(a.N, probeCommand, "hog", a.Arg)
		},
		"hog": func(a probeArgs) (string, error) {
			b := make([]byte, int(num(a.Arg))<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			time.Sleep(time.Hour)
			return "", nil
		},
		// fill writes one file in the app's folder until the disk is full.
		"fill": func(a probeArgs) (string, error) {
			f, err := os.Create(filepath.Join(a.Arg, "fill"))
			if err != nil {
				return "", err
			}
			defer f.Close()
			buf := make([]byte, 1<<20)
			var n int64
			for n < int64(a.N)<<20 {
				w, err := f.Write(buf)
				n += int64(w)
				if err != nil {
					return fmt.Sprint(n >> 20), err
				}
			}
			return fmt.Sprint(n >> 20), nil
		},
		// inodes makes empty files until none can be made.
		"inodes": func(a probeArgs) (string, error) {
			for i := 0; i < a.N; i++ {
				f, err := os.Create(filepath.Join(a.Arg, "f"+strconv.Itoa(i)))
				if err != nil {
					return fmt.Sprint(i), err
				}
				f.Close()
			}
			return fmt.Sprint(a.N), nil
		},
		"alloc": func(a probeArgs) (string, error) {
			var keep [][]byte
			for i := 0; i < a.N; i++ {
				// RLIMIT_AS counts address space, so untouched pages count too.
				keep = append(keep, make([]byte, 64<<20))
			}
			return fmt.Sprint(len(keep)), nil
		},
		"output": func(a probeArgs) (string, error) { return strings.Repeat("x", a.N), nil },
		"sleep":  func(probeArgs) (string, error) { time.Sleep(time.Hour); return "", nil },
		"spin": func(probeArgs) (string, error) {
			for {
			}
		},
		"proxy": func(a probeArgs) (string, error) {
			// A command finds the forwarder in $HTTPS_PROXY; a built-in
			// app, whose environment is empty, at its fixed address.
			px := os.Getenv("HTTPS_PROXY")
			if px == "" {
				px = fmt.Sprintf("http://127.0.0.1:%d", ProxyPort)
			}
			return connectViaProxy(px, a.Arg)
		},
		// proxy-flood makes n CONNECT attempts through the proxy.
		"proxy-flood": func(a probeArgs) (string, error) {
			px := os.Getenv("HTTPS_PROXY")
			if px == "" {
				px = fmt.Sprintf("http://127.0.0.1:%d", ProxyPort)
			}
			refused := 0
			for i := 0; i < a.N; i++ {
				if _, err := connectViaProxy(px, a.Arg); err != nil {
					refused++
				}
			}
			return fmt.Sprint(refused), nil
		},
	}
}

// execveat runs "true" relative to (or as, with "") fd.
func execveat(fd int, name string) error {
	p, _ := syscall.BytePtrFromString(name)
	argv, _ := syscall.SlicePtrFromStrings([]string{"true"})
	env, _ := syscall.SlicePtrFromStrings(nil)
	flags := uintptr(0)
	if name == "" {
		flags = unix.AT_EMPTY_PATH
	}
	_, _, e := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&env[0])), flags, 0)
	return errnoErr(e)
}

// cloneThread asks for a raw thread with flags. A thread the kernel makes
// starts on a stack Go knows nothing of and crashes the worker: the test
// sees that as the escape having worked, which is what it would mean.
func cloneThread(flags uintptr) error {
	stack := make([]byte, 64<<10)
	sp := uintptr(unsafe.Pointer(&stack[len(stack)-64]))
	_, _, e := unix.RawSyscall6(unix.SYS_CLONE, flags|unix.CLONE_VM|unix.CLONE_SIGHAND, sp, 0, 0, 0, 0)
	return errnoErr(e)
}

// children runs n copies of this binary with args and waits for them all.
func children(n int, a ...string) (string, error) {
	var cmds []*exec.Cmd
	for i := 0; i < n; i++ {
		c := exec.Command("/proc/self/exe", a...)
		if err := c.Start(); err != nil {
			return fmt.Sprint(i), err
		}
		cmds = append(cmds, c)
	}
	for _, c := range cmds {
		c.Wait()
	}
	return fmt.Sprint(n), nil
}
