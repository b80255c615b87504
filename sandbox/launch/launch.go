// Package launch is the parent side of the sandbox: it starts each app in a
// worker process (`isolategpt worker`, the same binary re-executed) in new
// user, mount, pid, ipc, uts and network namespaces with a clean
// environment, hands it its configuration and its data folder, waits for
// its set-up report, speaks MCP with it over stdio, and enforces per-call
// limits by killing the worker.
//
//	hub (locked OS thread)                  worker
//	  socketpair, open data folder O_PATH
//	  clone(NEWUSER|NEWNS|NEWPID|NEWIPC|NEWUTS|NEWNET), Pdeathsig
//	  ──config line (fd 3)────────────────▶ stage 1: rlimits, landlock,
//	                                         no_new_privs, re-exec
//	                                         stage 2: seccomp
//	  ◀──status line (fd 3)──────────────── {"ready": true} or the error
//	  ──initialize / tools/call (fd 0)────▶
//	  ◀──results (fd 1)────────────────────
package launch

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/egress"
	"github.com/isolategpt/isolategpt/sandbox/policy"
	"github.com/isolategpt/isolategpt/sandbox/wire"
	"github.com/isolategpt/isolategpt/sandbox/worker"
)

// Defaults.
const (
	DefaultCallTimeout     = 30 * time.Second
	DefaultStartTimeout    = 10 * time.Second
	DefaultMaxMessageBytes = 1 << 20
	maxStderr              = 16 << 10
	workerMaxMessageBytes  = 64 << 20
	// nobody is the host uid and gid the sandbox's root maps to when the
	// hub runs as root.
	nobody = 65534
)

// Namespaces every worker gets.
const Namespaces = unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWNET

// Launcher starts sandboxed workers. The zero value is ready to use.
type Launcher struct {
	// Exe is the worker binary; empty means this binary (/proc/self/exe).
	Exe string
	// Policy picks an app's profile; nil means the strict built-in one for
	// built-in apps and the external-program one for MCP servers.
	Policy func(app sandbox.App) policy.Policy
	// CallTimeout is the wall-clock limit of one call.
	CallTimeout time.Duration
	// StartTimeout bounds the start and the handshake.
	StartTimeout time.Duration
	// MaxMessageBytes caps one message from the worker (its output).
	MaxMessageBytes int
	// Egress sees every connection an app's egress proxy allows or
	// refuses (the engine writes them to the audit log).
	Egress func(sandbox.App, egress.Event)
	// Resolver and AllowAddr override the egress proxy's name resolution
	// and address check (tests only).
	Resolver  egress.Resolver
	AllowAddr func(netip.Addr) bool
	Ports     []int
	Logger    *slog.Logger
}

func (l *Launcher) defaults() (exe string, callTimeout, startTimeout time.Duration, maxMsg int) {
	exe, callTimeout, startTimeout, maxMsg = l.Exe, l.CallTimeout, l.StartTimeout, l.MaxMessageBytes
	if exe == "" {
		exe = "/proc/self/exe"
	}
	if callTimeout <= 0 {
		callTimeout = DefaultCallTimeout
	}
	if startTimeout <= 0 {
		startTimeout = DefaultStartTimeout
	}
	if maxMsg <= 0 {
		maxMsg = DefaultMaxMessageBytes
	}
	return
}

// Launch starts a worker for app with dataDir as its only writable folder.
func (l *Launcher) Launch(ctx context.Context, a sandbox.App, dataDir string) (sandbox.Conn, error) {
	app := a.ID
	_, callTimeout, startTimeout, maxMsg := l.defaults()
	if a.CallTimeout > 0 {
		callTimeout = a.CallTimeout
	}
	// The worker's own cap only protects the worker; the hub's decoder
	// enforces the output limit, since a hostile worker would not honour one.
	cfg, err := l.appConfig(a)
	if err != nil {
		return nil, fmt.Errorf("launch %s: %w", app, err)
	}
	stopProxy := func() {}
	if len(a.Domains) > 0 {
		var audit func(egress.Event)
		if l.Egress != nil {
			audit = func(e egress.Event) { l.Egress(a, e) }
		}
		if stopProxy, err = l.serveProxy(proxySpec{Name: app, DataDir: dataDir, Domains: a.Domains, Resolver: l.Resolver, AllowAddr: l.AllowAddr, Ports: l.Ports, Egress: audit}); err != nil {
			return nil, fmt.Errorf("launch %s: %w", app, err)
		}
		cfg.ProxyPort, cfg.ProxySocket = ProxyPort, proxySocket
		if cfg.Command != nil {
			cfg.Env = append(cfg.Env, proxyEnv()...)
		}
	}
	c, err := l.launch(ctx, cfg, dataDir, callTimeout, startTimeout, wire.Options{MaxMessageBytes: maxMsg, NoRoots: a.NoRoots})
	if err != nil {
		stopProxy()
		return nil, err
	}
	c.stop = stopProxy
	return c, nil
}

// appConfig is the worker's configuration for an app: its kind decides
// what the worker runs and under which profile.
func (l *Launcher) appConfig(a sandbox.App) (worker.Config, error) {
	cfg := worker.Config{App: a.ID, MaxMessageBytes: workerMaxMessageBytes}
	switch a.Kind {
	case sandbox.KindBuiltin, "":
		if len(a.Command) > 0 || len(a.Env) > 0 || len(a.ReadOnly) > 0 {
			return cfg, errors.New("a built-in app runs no command")
		}
		cfg.Policy = policy.BuiltinPolicy()
		if len(a.Domains) > 0 {
			cfg.Policy = cfg.Policy.WithEgress()
		}
	case sandbox.KindMCP:
		if len(a.Command) == 0 || a.Command[0] == "" {
			return cfg, errors.New("an MCP app needs a command")
		}
		cfg.Policy = policy.ExternalPolicy()
		cfg.Policy.ReadOnly = append(cfg.Policy.ReadOnly, a.ReadOnly...)
		cfg.Command = a.Command
		cfg.Env = append(baseEnv(), a.Env...)
	default:
		return cfg, fmt.Errorf("unknown app kind %q", a.Kind)
	}
	if l.Policy != nil {
		cfg.Policy = l.Policy(a)
	}
	return cfg, cfg.Policy.Check()
}

// launch spawns a worker with cfg and completes the MCP handshake.
func (l *Launcher) launch(ctx context.Context, cfg worker.Config, dataDir string, callTimeout, startTimeout time.Duration, opts wire.Options) (*conn, error) {
	maxMsg := opts.MaxMessageBytes
	app := cfg.App
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("launch %s: %w", app, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("launch %s: %w", app, err)
	}
	p, status, err := l.spawn(app, dataDir, cfg, inR, outW, nil)
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, err
	}
	status.Close()
	if l.Logger != nil {
		opts.OnSkip = func(err error) { l.Logger.Info("skipped a line that is not a message", "app", app, "err", err) }
	}
	client := wire.NewClient(outR, inW, opts)
	ictx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	init, err := wire.Initialize(ictx, client, "isolategpt", "0")
	if err != nil {
		client.Close()
		p.kill()
		return nil, fmt.Errorf("launch %s: initialize: %w%s", app, err, p.why())
	}
	return &conn{inner: wire.NewConn(client), p: p, callTimeout: callTimeout, maxMsg: maxMsg, stop: func() {}, memLimit: cfg.Policy.Limits.AddressSpace, init: init}, nil
}

// spawn starts a worker with the given stdio (nil stderr means captured),
// sends it cfg and waits for its ready report. It returns the status socket,
// still open for the run mode's final report.
func (l *Launcher) spawn(app, dataDir string, cfg worker.Config, stdin io.Reader, stdout, stderr io.Writer) (*proc, *statusConn, error) {
	exe, _, startTimeout, _ := l.defaults()
	uid, gid := hostIDs()
	dir, err := dataFolder(dataDir, uid, gid)
	if err != nil {
		return nil, nil, fmt.Errorf("launch %s: %w", app, err)
	}
	defer dir.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("launch %s: status socket: %w", app, err)
	}
	sf, childStatus := os.NewFile(uintptr(fds[0]), "status"), os.NewFile(uintptr(fds[1]), "status-child")
	defer childStatus.Close()
	// The reader is bounded: a worker's status lines are small.
	status := &statusConn{f: sf, r: bufio.NewReaderSize(io.LimitReader(sf, 64<<10), 4096)}

	p := &proc{app: app, stderr: &capped{max: maxStderr}, exited: make(chan struct{})}
	var errOut io.Writer = p.stderr
	if stderr != nil {
		errOut = stderr
	}
	p.cmd = &exec.Cmd{
		Path: exe,
		Args: []string{"isolategpt", worker.Stage1},
		Env:  []string{}, // no API keys, no hub secrets
		// No Dir: the child starts in the launching thread's working
		// folder, the app's (see proc.start).
		Stdin:      stdin,
		Stdout:     stdout,
		Stderr:     errOut,
		ExtraFiles: []*os.File{childStatus, dir}, // fd 3, fd 4
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags:  Namespaces,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: gid, Size: 1}},
			// Without Credential the child would stay host root behind
			// its mapping.
			Credential: &syscall.Credential{Uid: 0, Gid: 0},
			Pdeathsig:  syscall.SIGKILL,
			Setsid:     true,
		},
	}
	if err := p.start(dir); err != nil {
		status.Close()
		return nil, nil, fmt.Errorf("launch %s: start worker: %w", app, err)
	}
	b, _ := json.Marshal(cfg)
	st, err := handshake(status, append(b, '\n'), startTimeout)
	if err == nil && !st.Ready {
		err = errors.New(st.Error)
	}
	if err != nil {
		status.Close()
		p.kill()
		return nil, nil, fmt.Errorf("launch %s: worker set-up: %w%s", app, err, p.why())
	}
	_ = status.f.SetDeadline(time.Time{})
	return p, status, nil
}

// statusConn is the hub's end of a worker's status socket: one line in
// (the configuration), one or two lines out (ready, and the run mode's end).
type statusConn struct {
	f *os.File
	r *bufio.Reader
}

func (s *statusConn) Close() error { return s.f.Close() }

// readLine reads one JSON line into v.
func (s *statusConn) readLine(v any) error {
	line, err := s.r.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("no status report: %w", err)
	}
	if err := json.Unmarshal(line, v); err != nil {
		return fmt.Errorf("bad status report: %w", err)
	}
	return nil
}

func handshake(status *statusConn, cfg []byte, timeout time.Duration) (worker.Status, error) {
	var st worker.Status
	_ = status.f.SetDeadline(time.Now().Add(timeout))
	if _, err := status.f.Write(cfg); err != nil {
		return st, fmt.Errorf("send configuration: %w", err)
	}
	err := status.readLine(&st)
	return st, err
}

// SandboxIDs is who an app is on the host: the owner its data folder is
// given to, and the owner files that trusted code puts there for the app
// must have (the launcher hands over the folder alone, never what is in it:
// a walk by root over a tree the app controls could be led astray).
func SandboxIDs() (uid, gid int) { return hostIDs() }

// hostIDs is who the sandbox's root is on the host: nobody when the hub is
// root, else the hub's own user (the only one it may map).
func hostIDs() (int, int) {
	if os.Getuid() == 0 {
		return nobody, nobody
	}
	return os.Getuid(), os.Getgid()
}

// dataFolder creates the app's folder, gives it to the sandbox's user, and
// opens it O_PATH without following a symlink.
func dataFolder(path string, uid, gid int) (*os.File, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("data folder %s: %w", path, err)
	}
	if os.Getuid() == 0 {
		// Only the folder itself: the worker can reach nothing above it.
		if err := unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("data folder %s: chown: %w", path, err)
		}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// conn enforces per-call limits on a worker's connection: a call past its
// wall-clock limit, or a reply past the size cap, kills the worker, and the
// error names the limit.
type conn struct {
	inner       sandbox.Conn
	p           *proc
	callTimeout time.Duration
	maxMsg      int
	// stop ends what lives only as long as the worker (its egress proxy).
	stop func()
	// memLimit is the worker's address-space limit, for error messages.
	memLimit uint64
	// init is the app's answer to initialize.
	init *wire.InitializeResult
}

// Server is what the app said of itself in its initialize reply (its
// name, version and instructions: the app's words).
func (c *conn) Server() wire.InitializeResult { return *c.init }

func (c *conn) ListTools(ctx context.Context) ([]sandbox.Tool, error) {
	tools, err := c.inner.ListTools(ctx)
	return tools, c.fail(ctx, err)
}

func (c *conn) CallTool(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error) {
	cctx, cancel := context.WithTimeout(ctx, c.callTimeout)
	defer cancel()
	out, err := c.inner.CallTool(cctx, name, args)
	if err != nil && cctx.Err() != nil {
		// A call given up on may still be running in the worker: kill it
		// rather than let it go on working, or hang, unwatched.
		c.p.kill()
		if ctx.Err() == nil {
			return nil, &sandbox.DeadError{Cause: sandbox.CauseTimeout, Msg: fmt.Sprintf("%s.%s passed its %s wall-clock limit; worker killed", c.p.app, name, c.callTimeout)}
		}
		return nil, &sandbox.DeadError{Cause: sandbox.CauseTimeout, Msg: fmt.Sprintf("%s.%s was given up on by the hub (%v); worker killed", c.p.app, name, ctx.Err())}
	}
	return out, c.fail(ctx, err)
}

// fail classifies an error: a tool error is the app's own answer; anything
// else with the worker gone, or a broken stream, means the worker is dead.
func (c *conn) fail(ctx context.Context, err error) error {
	var te *sandbox.ToolError
	if err == nil || errors.As(err, &te) {
		return err
	}
	if errors.Is(err, wire.ErrTooLarge) {
		c.p.kill()
		return &sandbox.DeadError{Cause: sandbox.CauseOutput, Msg: fmt.Sprintf("%s's output passed the %d-byte limit; worker killed", c.p.app, c.maxMsg)}
	}
	if errors.Is(err, wire.ErrBroken) || !c.p.alive() {
		c.p.kill()
		why := c.p.why()
		cause := c.p.cause()
		if cause == sandbox.CauseMemory {
			return &sandbox.DeadError{Cause: cause, Msg: fmt.Sprintf("%s passed its %d MiB memory (address-space) limit; worker died%s", c.p.app, c.memLimit>>20, why)}
		}
		return &sandbox.DeadError{Cause: cause, Msg: fmt.Sprintf("%s: %v%s", c.p.app, err, why)}
	}
	return err
}

// PID is the worker's process id on the host.
func (c *conn) PID() int { return c.p.cmd.Process.Pid }

func (c *conn) Close() error {
	err := c.inner.Close()
	c.p.kill()
	c.stop()
	if errors.Is(err, sandbox.ErrClosed) {
		return nil
	}
	return err
}
