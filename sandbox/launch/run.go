package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/sandbox/egress"
	"github.com/isolategpt/isolategpt/sandbox/policy"
	"github.com/isolategpt/isolategpt/sandbox/worker"
)

// Inside a worker's own network namespace the egress forwarder listens on
// 127.0.0.1:ProxyPort; nothing else there can conflict with it.
const ProxyPort = 3128

// RunSpec is one command to run under a sandbox policy.
type RunSpec struct {
	Name string // shown in errors and audit events
	// DataDir is the host folder the command finds at sandbox.DataPath,
	// copied back when it ends; empty gives it an empty folder that dies
	// with it.
	DataDir string
	Policy  policy.Policy
	// Command is the program and its arguments. A program given by path
	// (with a "/") is shown read-only at its own path inside; a bare name
	// is looked up on the sandbox's PATH.
	Command []string
	// ReadOnly are more host paths the command may read (and run
	// programs from), at their own paths.
	ReadOnly []string
	// Env is added to the command's environment (PATH, HOME, TMPDIR and,
	// with Domains, the proxy variables are set by Run).
	Env []string
	// Domains are the eTLD+1 domains the command may reach through the
	// egress proxy; none means no network at all.
	Domains  []string
	Resolver egress.Resolver
	// AllowAddr overrides egress.PublicAddr (tests only).
	AllowAddr func(netip.Addr) bool
	// Ports are the ports the proxy allows; empty means 443 and 80.
	Ports []int
	// Egress sees the connections the proxy allows or refuses, rate
	// limited (see Launcher.Egress).
	Egress func(egress.Event)
	Stdin  *os.File
	Stdout io.Writer
	Stderr io.Writer
}

// RunResult is how a command ended.
type RunResult struct {
	Exit   int
	Signal string
	// Limit is the worker's limit that killed it (sandbox.CauseCPU,
	// sandbox.CauseMemory), if one did.
	Limit string
}

// Run runs a command in a worker and waits for it. The exit code is the
// command's (128+n for signal n).
func (l *Launcher) Run(ctx context.Context, spec RunSpec) (RunResult, error) {
	if len(spec.Command) == 0 {
		return RunResult{}, errors.New("run: no command")
	}
	if err := spec.Policy.Check(); err != nil {
		return RunResult{}, fmt.Errorf("run: %w", err)
	}
	cmd, grants, err := program(spec.Command, spec.ReadOnly)
	if err != nil {
		return RunResult{}, fmt.Errorf("run: %w", err)
	}
	cfg := worker.Config{App: spec.Name, Policy: spec.Policy, Command: cmd, Grants: grants, Env: append(baseEnv(), spec.Env...)}
	px, err := l.proxy(proxySpec{
		Name: spec.Name, Domains: spec.Domains, Resolver: spec.Resolver,
		AllowAddr: spec.AllowAddr, Ports: spec.Ports, Egress: spec.Egress,
	})
	if err != nil {
		return RunResult{}, fmt.Errorf("run: %w", err)
	}
	defer px.stop()
	if px != nil {
		// The in-worker forwarder needs its sockets, whatever the profile.
		cfg.Policy = cfg.Policy.WithEgress()
		cfg.Env = append(cfg.Env, proxyEnv()...)
		cfg.ProxyPort = ProxyPort
	}
	var stdin io.Reader
	if spec.Stdin != nil {
		stdin = spec.Stdin
	}
	p, status, err := l.spawn(spawnSpec{
		app: spec.Name, cfg: cfg, data: spec.DataDir, stdin: stdin, stdout: spec.Stdout, stderr: spec.Stderr,
		egress: px.workerEnd(), cpuSeconds: cfg.Policy.Limits.CPUSeconds, memoryCap: cfg.Policy.Limits.Memory,
	})
	px.started()
	if err != nil {
		return RunResult{}, err
	}
	defer status.Close()
	p.busy.Add(1) // a command is always in its call
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			p.kill()
		case <-done:
		}
	}()
	st, _, err := status.read(zeroTime, false)
	close(done)
	p.kill() // the worker exits after its report; make sure, and reap it
	why, limit := p.why(), p.limit()
	if cerr := p.cleanup(); cerr != nil && err == nil {
		err = cerr
	}
	if err == nil && st.Phase != worker.PhaseExit {
		err = phaseError(st, worker.PhaseExit)
	}
	if limit != "" {
		// The whole worker was killed, its report with it.
		return RunResult{Exit: 128 + 9, Signal: "SIGKILL", Limit: limit}, fmt.Errorf("run %s%s", spec.Command[0], why)
	}
	if err != nil {
		return RunResult{}, fmt.Errorf("run %s: %w%s", spec.Command[0], err, why)
	}
	if st.Error != "" {
		return RunResult{Exit: st.Exit}, fmt.Errorf("run %s: %s", spec.Command[0], st.Error)
	}
	return RunResult{Exit: st.Exit, Signal: st.Signal}, nil
}

// baseEnv is an external program's whole environment before its manifest's
// allowed variables: no API keys, no hub secrets. HOME is the app's own
// folder; TMPDIR its own /tmp.
func baseEnv() []string {
	return []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/run/app", "TMPDIR=/tmp"}
}

// proxyEnv points the usual proxy variables at the in-worker forwarder.
func proxyEnv() []string {
	proxy := fmt.Sprintf("http://127.0.0.1:%d", ProxyPort)
	return []string{"HTTP_PROXY=" + proxy, "HTTPS_PROXY=" + proxy, "http_proxy=" + proxy, "https_proxy=" + proxy, "ALL_PROXY=" + proxy}
}

// proxySpec is one worker's egress policy.
type proxySpec struct {
	Name      string
	Domains   []string
	Resolver  egress.Resolver
	AllowAddr func(netip.Addr) bool
	Ports     []int
	Egress    func(egress.Event)
}

// workerProxy is one worker's egress proxy, reached only through the
// control socket the worker inherits (no socket file anywhere). A nil
// *workerProxy is a worker without network.
type workerProxy struct {
	px      *egress.Proxy
	limiter *egress.Limiter
	worker  *os.File
}

// proxy starts a worker's egress proxy, or returns nil when it declares no
// domain.
func (l *Launcher) proxy(spec proxySpec) (*workerProxy, error) {
	if len(spec.Domains) == 0 {
		return nil, nil
	}
	w := &workerProxy{}
	audit := func(egress.Event) {}
	if spec.Egress != nil {
		w.limiter = egress.NewLimiter(spec.Egress, 0, 0)
		audit = w.limiter.Audit
	}
	px, err := egress.New(egress.Config{
		App: spec.Name, Domains: spec.Domains, Resolver: spec.Resolver,
		AllowAddr: spec.AllowAddr, Ports: spec.Ports, Audit: audit, Logger: l.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("egress proxy: %w", err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("egress control socket: %w", err)
	}
	hf := os.NewFile(uintptr(fds[0]), "egress")
	hc, err := net.FileConn(hf)
	hf.Close()
	if err != nil {
		unix.Close(fds[1])
		return nil, fmt.Errorf("egress control socket: %w", err)
	}
	w.px, w.worker = px, os.NewFile(uintptr(fds[1]), "egress-worker")
	go func() { _ = px.Serve(egress.PassListener(hc.(*net.UnixConn))) }()
	return w, nil
}

func (w *workerProxy) workerEnd() *os.File {
	if w == nil {
		return nil
	}
	return w.worker
}

// started drops the hub's copy of the worker's end: when the worker dies,
// the proxy sees its control socket close.
func (w *workerProxy) started() {
	if w != nil && w.worker != nil {
		w.worker.Close()
		w.worker = nil
	}
}

func (w *workerProxy) stop() {
	if w == nil {
		return
	}
	w.started()
	w.px.Close()
	if w.limiter != nil {
		w.limiter.Close()
	}
}
