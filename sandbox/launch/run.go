package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/sandbox/egress"
	"github.com/isolategpt/isolategpt/sandbox/policy"
	"github.com/isolategpt/isolategpt/sandbox/worker"
)

// Inside a worker's own network namespace the egress forwarder listens on
// 127.0.0.1:ProxyPort; nothing else there can conflict with it.
const (
	ProxyPort   = 3128
	proxySocket = ".egress.sock"
)

// RunSpec is one command to run under a sandbox policy.
type RunSpec struct {
	Name    string // shown in errors and audit events
	DataDir string
	Policy  policy.Policy
	Command []string
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
	// Egress sees every connection the proxy allows or refuses.
	Egress func(egress.Event)
	Stdin  *os.File
	Stdout io.Writer
	Stderr io.Writer
}

// RunResult is how a command ended.
type RunResult struct {
	Exit   int
	Signal string
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
	env := append(baseEnv(), spec.Env...)
	cfg := worker.Config{App: spec.Name, Policy: spec.Policy, Command: spec.Command}
	if len(spec.Domains) > 0 {
		// The in-worker forwarder needs its sockets, whatever the profile.
		cfg.Policy = cfg.Policy.WithEgress()
		stop, err := l.serveProxy(proxySpec{
			Name: spec.Name, DataDir: spec.DataDir, Domains: spec.Domains, Resolver: spec.Resolver,
			AllowAddr: spec.AllowAddr, Ports: spec.Ports, Egress: spec.Egress,
		})
		if err != nil {
			return RunResult{}, fmt.Errorf("run: %w", err)
		}
		defer stop()
		env = append(env, proxyEnv()...)
		cfg.ProxyPort, cfg.ProxySocket = ProxyPort, proxySocket
	}
	cfg.Env = env
	var stdin io.Reader
	if spec.Stdin != nil {
		stdin = spec.Stdin
	}
	p, status, err := l.spawn(spec.Name, spec.DataDir, cfg, stdin, spec.Stdout, spec.Stderr)
	if err != nil {
		return RunResult{}, err
	}
	defer status.Close()
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			p.kill()
		case <-done:
		}
	}()
	var st worker.RunStatus
	err = status.readLine(&st)
	close(done)
	p.kill() // the worker exits after its report; make sure, and reap it
	if err != nil {
		return RunResult{}, fmt.Errorf("run %s: %w%s", spec.Command[0], err, p.why())
	}
	if st.Error != "" {
		return RunResult{Exit: st.Exit}, fmt.Errorf("run %s: %s", spec.Command[0], st.Error)
	}
	return RunResult{Exit: st.Exit, Signal: st.Signal}, nil
}

// baseEnv is an external program's whole environment before its manifest's
// allowed variables: no API keys, no hub secrets.
func baseEnv() []string {
	return []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=.", "TMPDIR=."}
}

// proxyEnv points the usual proxy variables at the in-worker forwarder.
func proxyEnv() []string {
	proxy := fmt.Sprintf("http://127.0.0.1:%d", ProxyPort)
	return []string{"HTTP_PROXY=" + proxy, "HTTPS_PROXY=" + proxy, "http_proxy=" + proxy, "https_proxy=" + proxy, "ALL_PROXY=" + proxy}
}

// proxySpec is one worker's egress policy.
type proxySpec struct {
	Name, DataDir string
	Domains       []string
	Resolver      egress.Resolver
	AllowAddr     func(netip.Addr) bool
	Ports         []int
	Egress        func(egress.Event)
}

// serveProxy starts a worker's egress proxy on a socket in its data folder,
// where only the worker's user can reach it. It lives until the returned
// function is called.
func (l *Launcher) serveProxy(spec proxySpec) (func(), error) {
	px, err := egress.New(egress.Config{
		App: spec.Name, Domains: spec.Domains, Resolver: spec.Resolver,
		AllowAddr: spec.AllowAddr, Ports: spec.Ports, Audit: spec.Egress, Logger: l.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("egress proxy: %w", err)
	}
	if err := os.MkdirAll(spec.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	path := filepath.Join(spec.DataDir, proxySocket)
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("egress socket: %w", err)
	}
	uid, gid := hostIDs()
	if os.Getuid() == 0 {
		if err := unix.Lchown(path, uid, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("egress socket: %w", err)
		}
	}
	go func() { _ = px.Serve(ln) }()
	return func() { px.Close(); _ = os.Remove(path) }, nil
}
