package launch

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/hubtest"
	"github.com/isolategpt/isolategpt/sandbox/policy"
)

// profile is one way an app runs in a worker: a built-in app (the strict
// profile), an MCP server, and a `sandbox run` command (both the external
// profile). try runs one probe action inside it.
type profile struct {
	name     string
	external bool
	try      func(t *testing.T, a probeArgs) probeResult
}

// profiles starts one worker of each long-lived kind on l (a `sandbox run`
// command gets a fresh worker per action).
func profiles(t *testing.T, l *Launcher) []profile {
	t.Helper()
	viaConn := func(c sandbox.Conn) func(t *testing.T, a probeArgs) probeResult {
		return func(t *testing.T, a probeArgs) probeResult {
			t.Helper()
			r, err := try(t, c, a.Action, a.Arg, a.N)
			if err != nil {
				t.Fatalf("%s %s: the worker failed: %v", a.Action, a.Arg, err)
			}
			return r
		}
	}
	builtin := start(t, l, t.TempDir())
	checkLayers(t, l)
	mcp := start(t, l, t.TempDir(), mcpProbe("GREETING=hello"))
	checkLayers(t, l)
	run := func(t *testing.T, a probeArgs) probeResult {
		t.Helper()
		o := runWith(t, l, RunSpec{Command: self(a.Action, a.Arg, strconv.Itoa(a.N))})
		if !o.parsed {
			t.Fatalf("%s %s: the probe did not run (exit %d, err %v, stdout %q, stderr %q)", a.Action, a.Arg, o.res.Exit, o.err, o.stdout, o.stderr)
		}
		return o.probe
	}
	return []profile{{"builtin", false, viaConn(builtin)}, {"mcp", true, viaConn(mcp)}, {"run", true, run}}
}

// hostFixtures are things of the host a worker must not reach.
type hostFixtures struct {
	secret, hubData, otherApp, groupOnly, userKey, socket string
	tcp                                                   string
	leaked                                                int
}

func fixtures(t *testing.T) hostFixtures {
	t.Helper()
	root := t.TempDir()
	hubtest.OpenUp(t, root)
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	var f hostFixtures
	write := func(p string, mode os.FileMode) string {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("host secret"), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Readable by everyone on the host: only the minimal root hides it.
	f.secret = write(filepath.Join(root, "world-readable"), 0o644)
	f.hubData = write(filepath.Join(root, "store", "secret"), 0o600)
	f.otherApp = write(filepath.Join(root, "apps", "alice", "other", "data"), 0o644)
	// The user's private key, which a worker once chmod-ed to 0666.
	f.userKey = write(filepath.Join(root, ".ssh", "id_ed25519"), 0o600)
	f.groupOnly = write(filepath.Join(root, "group-only"), 0o640)
	if os.Getuid() == 0 {
		if err := os.Chown(f.groupOnly, 0, hubtest.Group); err != nil {
			t.Fatal(err)
		}
	}
	// A user's 0600-style socket (tmux, ssh-agent).
	f.socket = filepath.Join(root, "agent.sock")
	ln, err := net.Listen("unix", f.socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tl.Close() })
	f.tcp = tl.Addr().String()
	// A descriptor the hub holds without close-on-exec, as if it had
	// inherited it: no worker may get it.
	if f.leaked, err = syscall.Open(f.hubData, syscall.O_RDONLY, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(f.leaked) })
	return f
}

// TestEscapes tries, from inside real workers of every profile, in both hub
// modes, what the escapes found against the sandbox did, and more of each
// class. Each must be refused; where the errno says which layer refused,
// it is checked.
func TestEscapes(t *testing.T) {
	hubModes(t, func(t *testing.T) {
		t.Setenv("OPENAI_API_KEY", "sk-must-not-leak")
		f := fixtures(t)
		l := newLauncher(t)
		const (
			enoent = syscall.ENOENT
			eperm  = syscall.EPERM
			enosys = syscall.ENOSYS
		)
		escapes := []struct {
			name   string
			a      probeArgs
			errnos []syscall.Errno // any of these; none: any refusal
		}{
			// The host's files do not exist inside.
			{"a world-readable host file", probeArgs{Action: "read", Arg: f.secret}, []syscall.Errno{enoent}},
			{"the hub's data", probeArgs{Action: "read", Arg: f.hubData}, []syscall.Errno{enoent}},
			{"another app's folder", probeArgs{Action: "read", Arg: f.otherApp}, []syscall.Errno{enoent}},
			{"a file of the hub user's group", probeArgs{Action: "read", Arg: f.groupOnly}, []syscall.Errno{enoent}},
			{"/etc/shadow", probeArgs{Action: "read", Arg: "/etc/shadow"}, []syscall.Errno{enoent}},
			{"/etc/passwd", probeArgs{Action: "read", Arg: "/etc/passwd"}, []syscall.Errno{enoent}},
			{"/etc/gitconfig", probeArgs{Action: "read", Arg: "/etc/gitconfig"}, []syscall.Errno{enoent}},
			{"/root", probeArgs{Action: "ls", Arg: "/root"}, []syscall.Errno{enoent}},
			{"/sys", probeArgs{Action: "ls", Arg: "/sys"}, []syscall.Errno{enoent}},
			{"the hub in /proc", probeArgs{Action: "read", Arg: "/proc/" + strconv.Itoa(os.Getpid()) + "/environ"}, []syscall.Errno{enoent}},
			{"chmod the user's key", probeArgs{Action: "chmod", Arg: f.userKey}, []syscall.Errno{enoent}},
			{"write outside", probeArgs{Action: "write", Arg: filepath.Join(filepath.Dir(f.secret), "planted")}, []syscall.Errno{enoent}},
			{"write a system folder", probeArgs{Action: "write", Arg: "/usr/lib/planted"}, []syscall.Errno{syscall.EROFS, syscall.EACCES, eperm}},
			{"the root is read-only", probeArgs{Action: "write", Arg: "/planted"}, []syscall.Errno{syscall.EROFS, syscall.EACCES}},
			// Host sockets: pathname, TCP on its loopback, raw.
			{"a pathname socket of the user", probeArgs{Action: "connect-unix", Arg: f.socket}, []syscall.Errno{enoent}},
			{"the docker socket", probeArgs{Action: "connect-unix", Arg: "/var/run/docker.sock"}, []syscall.Errno{enoent}},
			{"TCP to the host's loopback", probeArgs{Action: "connect", Arg: f.tcp}, nil},
			{"TCP straight to an IP", probeArgs{Action: "connect", Arg: "1.1.1.1:443"}, nil},
			// Descriptors: nothing to run a program from.
			{"execveat on every descriptor", probeArgs{Action: "execveat-fds"}, []syscall.Errno{eperm}},
			// No namespace, by any call.
			{"fork into a new user namespace", probeArgs{Action: "clone", Arg: fmt.Sprint(unix.CLONE_NEWUSER)}, []syscall.Errno{eperm}},
			{"fork into a new network namespace", probeArgs{Action: "clone", Arg: fmt.Sprint(unix.CLONE_NEWNET)}, []syscall.Errno{eperm}},
			{"a thread in a new user namespace", probeArgs{Action: "clone", Arg: fmt.Sprint(unix.CLONE_THREAD | unix.CLONE_NEWUSER)}, []syscall.Errno{eperm}},
			{"clone3 into a new user namespace", probeArgs{Action: "clone3", Arg: fmt.Sprint(unix.CLONE_NEWUSER)}, []syscall.Errno{enosys}},
			{"unshare", probeArgs{Action: "unshare"}, []syscall.Errno{eperm}},
			{"setns", probeArgs{Action: "setns"}, []syscall.Errno{eperm}},
			// No privilege.
			{"setgroups", probeArgs{Action: "setgroups"}, []syscall.Errno{eperm}},
			{"setuid", probeArgs{Action: "setuid", Arg: "0"}, []syscall.Errno{eperm}},
			{"bring an interface up", probeArgs{Action: "ifup"}, []syscall.Errno{eperm}},
			{"ptrace", probeArgs{Action: "ptrace"}, []syscall.Errno{eperm}},
			{"mount", probeArgs{Action: "mount"}, []syscall.Errno{eperm}},
			{"unmount a system folder", probeArgs{Action: "umount"}, []syscall.Errno{eperm}},
			{"chroot", probeArgs{Action: "chroot"}, []syscall.Errno{eperm}},
			{"bpf", probeArgs{Action: "bpf"}, []syscall.Errno{eperm}},
			{"io_uring_setup", probeArgs{Action: "io_uring_setup"}, []syscall.Errno{eperm}},
			// Sockets: families, types and protocols outside the list.
			{"netlink", probeArgs{Action: "socket", Arg: "16,3,0"}, []syscall.Errno{eperm}},
			{"packet", probeArgs{Action: "socket", Arg: "17,3,768"}, []syscall.Errno{eperm}},
			{"vsock", probeArgs{Action: "socket", Arg: "40,1,0"}, []syscall.Errno{eperm}},
			{"raw IP", probeArgs{Action: "socket", Arg: "2,3,1"}, []syscall.Errno{eperm}},
			{"MPTCP", probeArgs{Action: "socket", Arg: "2,1,262"}, []syscall.Errno{eperm}},
			{"UDP-Lite", probeArgs{Action: "socket", Arg: "2,2,136"}, []syscall.Errno{eperm}},
			{"ping socket", probeArgs{Action: "socket", Arg: "2,2,1"}, []syscall.Errno{eperm}},
			{"socketpair of netlink", probeArgs{Action: "socketpair", Arg: "16,3,0"}, []syscall.Errno{eperm}},
			{"socketpair of vsock", probeArgs{Action: "socketpair", Arg: "40,1,0"}, []syscall.Errno{eperm}},
			{"socketpair of packet", probeArgs{Action: "socketpair", Arg: "17,2,0"}, []syscall.Errno{eperm}},
			// Code from memory.
			{"memfd_create + exec", probeArgs{Action: "memfd-exec"}, []syscall.Errno{enosys}},
			{"a sealed memfd + exec", probeArgs{Action: "memfd-exec", Arg: "8"}, []syscall.Errno{syscall.EACCES, enosys, eperm}},
		}
		for _, p := range profiles(t, l) {
			t.Run(p.name, func(t *testing.T) {
				for _, e := range escapes {
					r := p.try(t, e.a)
					if r.OK || r.Err == "" {
						t.Errorf("%s: succeeded inside the sandbox (%q)", e.name, r.Out)
						continue
					}
					// The strict profile refuses most calls outright.
					if len(e.errnos) > 0 && !containsErrno(e.errnos, syscall.Errno(r.Errno)) && (p.external || r.Errno != int(eperm)) {
						t.Errorf("%s: refused with %q (errno %d), want one of %v", e.name, r.Err, r.Errno, e.errnos)
					}
				}
				// The host file the worker tried to chmod kept its mode.
				if st, err := os.Stat(f.userKey); err != nil || st.Mode().Perm() != 0o600 {
					t.Errorf("the user's key: %v, %v", st.Mode(), err)
				}
				if _, err := os.Stat(filepath.Join(filepath.Dir(f.secret), "planted")); err == nil {
					t.Error("a file was written outside the sandbox")
				}
			})
		}
	})
}

func containsErrno(list []syscall.Errno, e syscall.Errno) bool {
	for _, x := range list {
		if x == e {
			return true
		}
	}
	return false
}

// TestConfigIsNotInArgv: local users see a worker's argv (ps); its
// configuration (an MCP server's environment values) must not be there.
func TestConfigIsNotInArgv(t *testing.T) {
	hubModes(t, func(t *testing.T) {
		c := start(t, newLauncher(t), t.TempDir(), mcpProbe("TOKEN=s3cret-value"))
		pid := c.(sandbox.PIDer).PID()
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.ReplaceAll(string(b), "\x00", " "); got != "isolategpt worker-confined " {
			t.Errorf("the worker's argv is %q", got)
		}
		if env := mustTry(t, c, "env", "", 0).Out; !strings.Contains(env, "TOKEN=s3cret-value") {
			t.Errorf("the server did not get its environment: %q", env)
		}
	})
}

// TestWorkerView asserts what a worker sees of /, /proc, its descriptors,
// its credentials and its environment, in every profile and both modes.
func TestWorkerView(t *testing.T) {
	hubModes(t, func(t *testing.T) {
		t.Setenv("ANTHROPIC_API_KEY", "sk-ant-must-not-leak")
		f := fixtures(t)
		_ = f.leaked // held open, without close-on-exec, while the workers start
		l := newLauncher(t)
		for _, p := range profiles(t, l) {
			t.Run(p.name, func(t *testing.T) {
				pol := policy.BuiltinPolicy()
				if p.external {
					pol = policy.ExternalPolicy()
				}
				if got, want := p.try(t, probeArgs{Action: "ls", Arg: "/"}).Out, rootNames(pol); got != want {
					t.Errorf("/ holds %q, want %q", got, want)
				}
				if got := p.try(t, probeArgs{Action: "ls", Arg: "/run"}).Out; got != "app" {
					t.Errorf("/run holds %q, want only app", got)
				}
				if got := p.try(t, probeArgs{Action: "ls", Arg: "/dev"}).Out; got != "fd full null random stderr stdin stdout urandom zero" {
					t.Errorf("/dev holds %q", got)
				}
				var pids []string
				for _, e := range strings.Fields(p.try(t, probeArgs{Action: "ls", Arg: "/proc"}).Out) {
					if _, err := strconv.Atoi(e); err == nil {
						pids = append(pids, e)
					}
				}
				if len(pids) == 0 || len(pids) > 3 || pids[0] != "1" {
					t.Errorf("/proc shows processes %v: want the worker's own few, from 1", pids)
				}
				who := p.try(t, probeArgs{Action: "whoami"}).Out
				if !strings.HasPrefix(who, "uid=0 ") || !strings.HasSuffix(who, "cwd="+sandbox.DataPath) {
					t.Errorf("whoami: %s", who)
				}
				status := p.try(t, probeArgs{Action: "cat", Arg: "/proc/self/status"})
				if !status.OK {
					t.Fatalf("/proc/self/status: %s", status.Err)
				}
				checkStatus(t, status.Out)
				fds := p.try(t, probeArgs{Action: "fds"}).Out
				t.Logf("pids in /proc: %v; descriptors:\n%s", pids, fds)
				checkFds(t, fds)
				env := p.try(t, probeArgs{Action: "env"}).Out
				if strings.Contains(env, "sk-ant") || strings.Contains(env, "ANTHROPIC") {
					t.Errorf("the hub's environment leaked: %q", env)
				}
				if p.external {
					for _, kv := range []string{"HOME=/run/app", "TMPDIR=/tmp", "PATH="} {
						if !strings.Contains(env, kv) {
							t.Errorf("environment %q lacks %s", env, kv)
						}
					}
					for _, w := range []string{"/run/app/home-file", "/tmp/tmp-file"} {
						if r := p.try(t, probeArgs{Action: "write", Arg: w}); !r.OK {
							t.Errorf("HOME or TMPDIR is not writable: %s: %s", w, r.Err)
						}
					}
				} else if env != "" {
					t.Errorf("a built-in app's environment is %q, want empty", env)
				}
			})
		}
	})
}

// checkStatus checks /proc/self/status lines of a worker.
func checkStatus(t *testing.T, status string) {
	t.Helper()
	want := map[string]string{
		"CapInh": "0000000000000000", "CapPrm": "0000000000000000", "CapEff": "0000000000000000",
		"CapBnd": "0000000000000000", "CapAmb": "0000000000000000", "NoNewPrivs": "1", "Seccomp": "2",
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(status, "\n") {
		k, v, ok := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		if !ok {
			continue
		}
		if w, ok := want[k]; ok {
			seen[k] = true
			if v != w {
				t.Errorf("%s: %s, want %s", k, v, w)
			}
		}
		if k == "Groups" {
			seen[k] = true
			for _, g := range strings.Fields(v) {
				// Root's groups are dropped; an ordinary user's stay, but
				// are unmapped (65534) and reach nothing.
				if os.Getuid() == 0 || g != "65534" {
					t.Errorf("supplementary groups %q", v)
					break
				}
			}
		}
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("no %s line in /proc/self/status", k)
		}
	}
}

// rootNames is what / of a worker under pol holds: its own folders and
// the top of each system path the host has.
func rootNames(pol policy.Policy) string {
	names := map[string]bool{"dev": true, "proc": true, "run": true, "tmp": true}
	for _, p := range pol.ReadOnly {
		if _, err := os.Lstat(p); err == nil {
			names[strings.Split(p, "/")[1]] = true
		}
	}
	var out []string
	for n := range names {
		out = append(out, n)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// checkFds checks a worker's descriptors (the fds probe's lines): stdio,
// and the runtime's own, close-on-exec; nothing inherited.
func checkFds(t *testing.T, fds string) {
	t.Helper()
	for _, line := range strings.Split(fds, "\n") {
		fd, what, _ := strings.Cut(line, "=")
		n, _ := strconv.Atoi(fd)
		cloexec := strings.HasSuffix(what, " cloexec")
		switch {
		case n <= 2 && (strings.HasPrefix(what, "pipe:") || strings.HasPrefix(what, "/dev/null")):
		case n > 2 && cloexec && strings.HasPrefix(what, "/proc/"):
			// the folder being listed
		case n > 2 && cloexec && strings.HasPrefix(what, "anon_inode:"):
			// the Go runtime's own (epoll, eventfd)
		default:
			t.Errorf("fd %s is %s: nothing but stdio may be inherited", fd, what)
		}
	}
}
