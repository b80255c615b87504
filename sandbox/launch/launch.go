// Package launch is the parent side of the sandbox: it starts each app in a
// worker process (`isolategpt worker`, the same binary re-executed) in new
// user, mount, pid, ipc, uts and network namespaces and a cgroup of its own,
// with a clean environment; hands it its configuration and fills its app
// folder; waits for its set-up report; speaks MCP with it over stdio;
// enforces per-call limits by killing the worker; and copies its app folder
// back to the host after each call.
//
//	hub                                     spawner, then worker
//	  cgroup, status socketpair (SEQPACKET)
//	  ──spawn (descriptors)──────────────▶ clone(NEWUSER|NEWNS|NEWPID|NEWIPC|
//	                                        NEWUTS[|NEWNET]), Pdeathsig, exec
//	  add the worker to its cgroup
//	  ──config (fd 3)────────────────────▶ stage 1: rlimits, minimal root
//	  ◀──built + app folder tmpfs (fd)──── (pivot_root, /proc, /dev, tmpfs)
//	  ──go───────────────────────────────▶ Landlock, capabilities, re-exec
//	                                        stage 2: seccomp
//	  ◀──confined──────────────────────── (a prestarted worker waits here)
//	  fill the tmpfs from the host folder
//	  ──start────────────────────────────▶ the app starts
//	  ◀──ready (its layers) or the error──
//	  ──initialize / tools/call (fd 0)───▶
//	  ◀──results (fd 1)───────────────────
//	  commit the tmpfs to the host folder, after each call and at the end
package launch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/cgroup"
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
	// Egress sees the connections an app's egress proxy allows or
	// refuses (the engine writes them to the audit log), at most
	// egress.DefaultAuditBurst at once and then a few a second; the rest
	// arrive counted in summary events.
	Egress func(sandbox.App, egress.Event)
	// Resolver and AllowAddr override the egress proxy's name resolution
	// and address check (tests only).
	Resolver  egress.Resolver
	AllowAddr func(netip.Addr) bool
	Ports     []int
	Logger    *slog.Logger
	// AllowWeaker starts workers even where the host cannot give a layer
	// (cgroups, a private /proc, Landlock at its floor): the user's
	// explicit choice (--allow-weaker-sandbox). Layers reports what is
	// missing.
	AllowWeaker bool
	// LandlockFloor overrides confine.LandlockFloor (tests).
	LandlockFloor int
	// NoSharedNet gives every worker a network namespace of its own,
	// even one that cannot open a socket (see mayShareNet; tests and
	// measurements).
	NoSharedNet bool
	// forceSharedNet shares the network namespace even with a worker that
	// may open sockets (tests: the attack mayShareNet stops).
	forceSharedNet bool
	// Cgroups is the host's cgroups; nil means cgroup.Detect().
	Cgroups *cgroup.Host
	// Prewarm is how many workers of each app configuration to keep
	// started ahead, up to their confinement (nothing of the app runs in
	// them before a Launch gives them a folder), once the configuration
	// is wanted (Warm, or its second Launch); 0 starts every worker at
	// its Launch. Close kills the idle ones.
	Prewarm int

	mu     sync.Mutex
	layers []sandbox.Layer
	pool   pool
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

// Layers are the layers of the last worker this launcher started, enforced
// or not; nil before the first.
func (l *Launcher) Layers() []sandbox.Layer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.layers
}

func (l *Launcher) setLayers(ls []sandbox.Layer) {
	l.mu.Lock()
	l.layers = ls
	l.mu.Unlock()
	if m := sandbox.Missing(ls); len(m) > 0 && l.Logger != nil {
		l.Logger.Warn("sandbox weaker than it should be (allowed by the user)", "missing", fmt.Sprint(m))
	}
}

// Launch starts a worker for app; dataDir is the app's folder on the host,
// the only state it keeps (made if missing).
func (l *Launcher) Launch(ctx context.Context, a sandbox.App, dataDir string) (sandbox.Conn, error) {
	app := a.ID
	mark := phaseMarker()
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
	if dataDir == "" {
		return nil, fmt.Errorf("launch %s: no data folder", app)
	}
	if err := checkDataFolder(dataDir); err != nil {
		return nil, fmt.Errorf("launch %s: %w", app, err)
	}
	opts := wire.Options{MaxMessageBytes: maxMsg, NoRoots: a.NoRoots}
	if w := l.takeWarm(a, cfg); w != nil {
		c, err := l.launch(ctx, w, dataDir, callTimeout, startTimeout, opts)
		if err == nil {
			return c, nil
		}
		// A warm worker that died while it waited: start one cold.
		if l.Logger != nil {
			l.Logger.Info("a prestarted worker failed; starting another", "app", app, "err", err)
		}
	}
	mark("configuration, checks")
	w, err := l.prepare(a, cfg)
	if err != nil {
		return nil, err
	}
	return l.launch(ctx, w, dataDir, callTimeout, startTimeout, opts)
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
		if len(a.Domains) > 0 {
			cfg.Policy = cfg.Policy.WithEgress()
		}
		for _, r := range a.ReadOnly {
			if !filepath.IsAbs(r) {
				return cfg, fmt.Errorf("read-only path %q must be absolute", r)
			}
		}
		cmd, grants, err := program(a.Command, a.ReadOnly)
		if err != nil {
			return cfg, err
		}
		cfg.Command, cfg.Grants = cmd, grants
		cfg.Env = append(baseEnv(), a.Env...)
	default:
		return cfg, fmt.Errorf("unknown app kind %q", a.Kind)
	}
	if l.Policy != nil {
		cfg.Policy = l.Policy(a)
	}
	return cfg, cfg.Policy.Check()
}

// warm is a worker confined up to its app's start, with its egress proxy
// and the hub's ends of its stdin and stdout: all that is left is its app
// folder, its start and the MCP hand-shake.
type warm struct {
	b       *built
	px      *workerProxy
	in, out *os.File // the hub's: the worker's stdin to write, its stdout to read
}

func (w *warm) abandon() {
	w.in.Close()
	w.out.Close()
	w.b.abandon()
	w.px.stop()
}

// prepare starts a worker for app up to its confinement.
func (l *Launcher) prepare(a sandbox.App, cfg worker.Config) (*warm, error) {
	app := a.ID
	mark := phaseMarker()
	var audit func(egress.Event)
	if l.Egress != nil {
		audit = func(e egress.Event) { l.Egress(a, e) }
	}
	px, err := l.proxy(proxySpec{Name: app, Domains: a.Domains, Resolver: l.Resolver, AllowAddr: l.AllowAddr, Ports: l.Ports, Egress: audit})
	if err != nil {
		return nil, fmt.Errorf("launch %s: %w", app, err)
	}
	if px != nil {
		cfg.ProxyPort = ProxyPort
		if cfg.Command != nil {
			cfg.Env = append(cfg.Env, proxyEnv()...)
		}
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		px.stop()
		return nil, fmt.Errorf("launch %s: %w", app, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		px.stop()
		return nil, fmt.Errorf("launch %s: %w", app, err)
	}
	cfg.Persist = true
	mark("egress proxy, stdio pipes")
	b, err := l.build(spawnSpec{
		app: app, cfg: cfg, stdin: inR, stdout: outW, egress: px.workerEnd(),
		cpuSeconds: cfg.Policy.Limits.CPUSeconds, memoryCap: cfg.Policy.Limits.Memory,
	})
	inR.Close()
	outW.Close()
	px.started()
	if err != nil {
		inW.Close()
		outR.Close()
		px.stop()
		return nil, err
	}
	return &warm{b: b, px: px, in: inW, out: outR}, nil
}

// launch completes a prepared worker with the app folder dataDir and the
// MCP hand-shake.
func (l *Launcher) launch(ctx context.Context, w *warm, dataDir string, callTimeout, startTimeout time.Duration, opts wire.Options) (*conn, error) {
	maxMsg := opts.MaxMessageBytes
	app := w.b.p.app
	memLimit := w.b.p.memLimit
	inW, outR, px := w.in, w.out, w.px
	p, status, err := l.complete(w.b, dataDir)
	if err != nil {
		inW.Close()
		outR.Close()
		px.stop()
		return nil, err
	}
	status.Close()
	if l.Logger != nil {
		opts.OnSkip = func(err error) { l.Logger.Info("skipped a line that is not a message", "app", app, "err", err) }
	}
	client := wire.NewClient(outR, inW, opts)
	ictx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	mark := phaseMarker()
	init, err := wire.Initialize(ictx, client, "isolategpt", "0")
	mark("initialize hand-shake")
	if err != nil {
		client.Close()
		p.kill()
		p.cleanup()
		px.stop()
		return nil, fmt.Errorf("launch %s: initialize: %w%s", app, err, p.why())
	}
	return &conn{inner: wire.NewConn(client), p: p, callTimeout: callTimeout, maxMsg: maxMsg, px: px, memLimit: memLimit, init: init}, nil
}

// SandboxIDs is who an app is on the host: the sandbox's root, and the
// owner of the files in its app folder's tmpfs.
func SandboxIDs() (uid, gid int) { return hostIDs() }

// hostIDs is who the sandbox's root is on the host: nobody when the hub is
// root, else the hub's own user (the only one it may map).
func hostIDs() (int, int) {
	if os.Getuid() == 0 {
		return nobody, nobody
	}
	return os.Getuid(), os.Getgid()
}

// conn enforces per-call limits on a worker's connection: a call past its
// wall-clock limit, or a reply past the size cap, kills the worker, and the
// error names the limit. After each call the app's folder is saved.
type conn struct {
	inner       sandbox.Conn
	p           *proc
	callTimeout time.Duration
	maxMsg      int
	px          *workerProxy
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
	c.p.busy.Add(1)
	out, err := c.inner.CallTool(cctx, name, args)
	c.p.busy.Add(-1)
	if err != nil && cctx.Err() != nil {
		// A call given up on may still be running in the worker: kill it
		// rather than let it go on working, or hang, unwatched.
		c.p.kill()
		c.p.cleanup()
		if ctx.Err() == nil {
			return nil, &sandbox.DeadError{Cause: sandbox.CauseTimeout, Msg: fmt.Sprintf("%s.%s passed its %s wall-clock limit; worker killed", c.p.app, name, c.callTimeout)}
		}
		return nil, &sandbox.DeadError{Cause: sandbox.CauseTimeout, Msg: fmt.Sprintf("%s.%s was given up on by the hub (%v); worker killed", c.p.app, name, ctx.Err())}
	}
	if err := c.fail(ctx, err); err != nil {
		return nil, err
	}
	// What the call wrote is on the host before its result is.
	if err := c.p.commit(); err != nil {
		return nil, err
	}
	return out, nil
}

// fail classifies an error: a tool error is the app's own answer; anything
// else with the worker gone, or a broken stream, means the worker is dead.
func (c *conn) fail(ctx context.Context, err error) error {
	var te *sandbox.ToolError
	if err == nil || errors.As(err, &te) {
		if err != nil {
			if cerr := c.p.commit(); cerr != nil {
				return cerr
			}
		}
		return err
	}
	if errors.Is(err, wire.ErrTooLarge) {
		c.p.kill()
		c.p.cleanup()
		return &sandbox.DeadError{Cause: sandbox.CauseOutput, Msg: fmt.Sprintf("%s's output passed the %d-byte limit; worker killed", c.p.app, c.maxMsg)}
	}
	if errors.Is(err, wire.ErrBroken) || !c.p.alive() {
		c.p.kill()
		why := c.p.why()
		cause := c.p.cause()
		c.p.cleanup()
		if cause == sandbox.CauseMemory && c.p.limit() == "" {
			return &sandbox.DeadError{Cause: cause, Msg: fmt.Sprintf("%s passed its %d MiB memory (address-space) limit; worker died%s", c.p.app, c.memLimit>>20, why)}
		}
		return &sandbox.DeadError{Cause: cause, Msg: fmt.Sprintf("%s: %v%s", c.p.app, err, why)}
	}
	return err
}

// PID is the worker's process id on the host.
func (c *conn) PID() int { return c.p.w.PID() }

func (c *conn) Close() error {
	err := c.inner.Close()
	c.p.kill()
	cerr := c.p.cleanup()
	c.px.stop()
	if errors.Is(err, sandbox.ErrClosed) {
		err = nil
	}
	return errors.Join(err, cerr)
}
