package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/confine"
	"github.com/isolategpt/isolategpt/sandbox/egress"
	"github.com/isolategpt/isolategpt/sandbox/wire"
)

// stage2 loads seccomp, reports, and serves the app or runs the command.
func stage2(status *os.File) int {
	cfg, err := takeConfig()
	if err != nil {
		return fail(status, err)
	}
	// The app's programs get stdio only.
	if err := confine.CloseOnExec(StatusFD, EgressFD); err != nil {
		return fail(status, err)
	}
	if err := confine.Seccomp(cfg.Policy); err != nil {
		return fail(status, err)
	}
	cfg.Layers = append(cfg.Layers, sandbox.Layer{Name: sandbox.LayerSeccomp, Enforced: true, Detail: "allowlist of profile " + cfg.Policy.Name + " on every thread; no namespaces, no execveat, no executable memfd, listed socket families, types and protocols only"})
	// Confined: the hub fills the app folder now, and says start.
	if err := send(status, Status{Phase: PhaseConfined}); err != nil {
		return 1
	}
	if b, err := readPacket(status); err != nil || string(b) != Start {
		return fail(status, fmt.Errorf("worker: waited for start, got %q (%v)", b, err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if cfg.ProxyPort != 0 {
		if err := forward(ctx, cfg.ProxyPort); err != nil {
			return fail(status, err)
		}
	}
	if len(cfg.Command) > 0 {
		return runCommand(cfg, status)
	}
	handler, err := appHandler(cfg.App)
	if err != nil {
		return fail(status, err)
	}
	if err := send(status, Status{Phase: PhaseReady, Layers: cfg.Layers}); err != nil {
		return 1
	}
	status.Close()
	err = wire.Serve(ctx, os.Stdin, os.Stdout, handler, wire.Options{MaxMessageBytes: cfg.MaxMessageBytes})
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintf(os.Stderr, "worker %s: %v\n", cfg.App, err)
		return 1
	}
	return 0
}

// forward serves 127.0.0.1:port, handing each connection to the hub's
// egress proxy over the inherited control socket.
func forward(ctx context.Context, port uint16) error {
	f := os.NewFile(EgressFD, "egress")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("worker: egress control socket: %w", err)
	}
	ctrl, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return errors.New("worker: egress control socket is not a unix socket")
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	if err != nil {
		return fmt.Errorf("worker: egress forwarder: %w", err)
	}
	go func() { _ = egress.Forward(ctx, ln, egress.PassDialer(ctrl)) }()
	return nil
}

// runCommand runs the configured command with the worker's stdio and
// reports how it ended. The worker is PID 1 of its namespace and stays to
// run the forwarder and reap the command.
func runCommand(cfg Config, status *os.File) int {
	for _, kv := range cfg.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == "PATH" {
			_ = os.Setenv("PATH", v) // for the lookup of Command[0] only
		}
	}
	cmd := exec.Command(cfg.Command[0], cfg.Command[1:]...)
	cmd.Env = cfg.Env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return fail(status, fmt.Errorf("worker: start %s: %w", cfg.Command[0], err))
	}
	if err := send(status, Status{Phase: PhaseReady, Layers: cfg.Layers}); err != nil {
		_ = cmd.Process.Kill()
		return 1
	}
	err := cmd.Wait()
	st := Status{Phase: PhaseExit}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		st.Exit = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			st.Signal = unix.SignalName(ws.Signal())
			st.Exit = 128 + int(ws.Signal())
		}
	default:
		st.Exit, st.Error = 127, err.Error()
	}
	_ = send(status, st)
	return st.Exit
}
