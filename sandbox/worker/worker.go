// Package worker is the child side of the sandbox: `isolategpt worker`,
// started by sandbox/launch in fresh namespaces, confines itself in two
// stages (see sandbox/confine), reports readiness or its set-up error to the
// hub before any app code runs, and then serves one app over JSON-RPC on
// stdin and stdout.
//
//	fd 0/1  JSON-RPC (MCP-shaped) with the hub
//	fd 2    diagnostics, captured (capped) by the hub
//	fd 3    status socket: config in (stage 1), "ready" or an error out (stage 2)
//	fd 4    the app's data folder, opened O_PATH by the hub
package worker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/confine"
	"github.com/isolategpt/isolategpt/sandbox/egress"
	"github.com/isolategpt/isolategpt/sandbox/policy"
	"github.com/isolategpt/isolategpt/sandbox/wire"
	"github.com/isolategpt/isolategpt/specs"
	"github.com/isolategpt/isolategpt/specs/builtin"
)

// The worker's subcommands.
const (
	Stage1 = "worker"
	Stage2 = "worker-confined"
)

// Inherited file descriptors.
const (
	StatusFD  = 3
	DataDirFD = 4
)

// MaxConfigBytes caps the configuration the hub sends.
const MaxConfigBytes = 64 << 10

// Config is what the hub tells a worker.
type Config struct {
	App    string        `json:"app"`
	Policy policy.Policy `json:"policy"`
	// MaxMessageBytes caps one JSON-RPC message either way.
	MaxMessageBytes int `json:"max_message_bytes"`
	// LandlockABI is filled in by stage 1 for stage 2's report: once
	// seccomp is on, the worker cannot ask the kernel any more.
	LandlockABI int `json:"landlock_abi,omitempty"`
	// Command, when set, is run (the `sandbox run` mode) instead of
	// serving an app, with exactly Env as its environment.
	Command []string `json:"command,omitempty"`
	Env     []string `json:"env,omitempty"`
	// ProxyPort, when set, gives the worker a network: lo comes up and a
	// forwarder on 127.0.0.1:ProxyPort relays to the hub's egress proxy at
	// ProxySocket (a socket in the data folder). Without it the worker has
	// no network at all.
	ProxyPort   uint16 `json:"proxy_port,omitempty"`
	ProxySocket string `json:"proxy_socket,omitempty"`
}

// RunStatus is the run mode's last report on the status socket.
type RunStatus struct {
	Exit   int    `json:"exit"`
	Signal string `json:"signal,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Status is the worker's one report on the status socket.
type Status struct {
	Ready bool   `json:"ready"`
	Error string `json:"error,omitempty"`
	// Landlock is the kernel's Landlock ABI version in force.
	Landlock int `json:"landlock"`
}

// Main runs a worker stage and returns its exit code. It never returns on
// a successful stage 1 (it re-executes itself).
func Main(args []string) int {
	status := os.NewFile(StatusFD, "status")
	if len(args) == 0 {
		return report(status, errors.New("worker: no stage"), 0)
	}
	switch args[0] {
	case Stage1:
		cfg, err := readConfig(status)
		if err != nil {
			return report(status, err, 0)
		}
		return report(status, stage1(cfg), 0)
	case Stage2:
		if len(args) != 2 {
			return report(status, errors.New("worker: stage 2 needs its configuration"), 0)
		}
		var cfg Config
		if err := json.Unmarshal([]byte(args[1]), &cfg); err != nil {
			return report(status, fmt.Errorf("worker: configuration: %w", err), 0)
		}
		return stage2(cfg, status)
	}
	return report(status, fmt.Errorf("worker: unknown stage %q", args[0]), 0)
}

func readConfig(status *os.File) (Config, error) {
	var cfg Config
	line, err := bufio.NewReaderSize(io.LimitReader(status, MaxConfigBytes), 4096).ReadBytes('\n')
	if err != nil {
		return cfg, fmt.Errorf("worker: read configuration: %w", err)
	}
	if err := json.Unmarshal(line, &cfg); err != nil {
		return cfg, fmt.Errorf("worker: configuration: %w", err)
	}
	return cfg, nil
}

// report writes the status line; with err nil it is the ready report.
func report(status *os.File, err error, landlock int) int {
	st := Status{Ready: err == nil, Landlock: landlock}
	if err != nil {
		st.Error = err.Error()
	}
	b, _ := json.Marshal(st)
	_, _ = status.Write(append(b, '\n'))
	if err != nil {
		return 1
	}
	return 0
}

// stage1 sets rlimits and Landlock on this one thread, then re-executes the
// binary so that every thread of the confined image inherits them.
func stage1(cfg Config) error {
	runtime.LockOSThread() // never unlocked: this thread becomes the new image
	if err := cfg.Policy.Check(); err != nil {
		return err
	}
	if err := confine.Rlimits(cfg.Policy.Limits); err != nil {
		return err
	}
	exe, err := unix.Open("/proc/self/exe", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("worker: open own binary: %w", err)
	}
	// The working folder is already the data folder: the hub's launching
	// thread entered it before clone (see sandbox/launch). Rules are taken
	// on descriptors before /run is covered.
	ro, err := openAll(cfg.Policy.ReadOnly)
	if err != nil {
		return err
	}
	rw, err := openAll(cfg.Policy.ReadWrite)
	if err != nil {
		return err
	}
	if err := confine.ShowData(sandbox.DataPath); err != nil {
		return err
	}
	paths := confine.Paths{Exec: exe, ReadOnly: ro, ReadWrite: append(rw, DataDirFD)}
	if cfg.ProxyPort != 0 {
		if err := confine.LoopbackUp(); err != nil {
			return err
		}
		paths.BindTCP = []uint16{cfg.ProxyPort}
		paths.ConnectTCP = []uint16{cfg.ProxyPort}
	}
	abi, err := confine.Landlock(paths)
	if err != nil {
		return err
	}
	cfg.LandlockABI = abi
	b, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("worker: encode configuration: %w", err)
	}
	err = unix.Exec("/proc/self/exe", []string{"isolategpt", Stage2, string(b)}, []string{})
	return fmt.Errorf("worker: re-exec: %w", err)
}

// openAll opens host paths O_PATH for Landlock rules, skipping missing ones.
func openAll(paths []string) ([]int, error) {
	var fds []int
	for _, path := range paths {
		fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("worker: open %s: %w", path, err)
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// stage2 loads seccomp, reports, and serves the app or runs the command.
func stage2(cfg Config, status *os.File) int {
	if err := confine.Seccomp(cfg.Policy); err != nil {
		return report(status, err, 0)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if cfg.ProxyPort != 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(cfg.ProxyPort))))
		if err != nil {
			return report(status, fmt.Errorf("worker: egress forwarder: %w", err), 0)
		}
		go func() { _ = egress.Forward(ctx, ln, cfg.ProxySocket) }()
	}
	if len(cfg.Command) > 0 {
		return runCommand(cfg, status)
	}
	handler, err := appHandler(cfg.App)
	if err != nil {
		return report(status, err, 0)
	}
	if code := report(status, nil, cfg.LandlockABI); code != 0 {
		return code
	}
	status.Close()
	unix.Close(DataDirFD)
	err = wire.Serve(ctx, os.Stdin, os.Stdout, handler, wire.Options{MaxMessageBytes: cfg.MaxMessageBytes})
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintf(os.Stderr, "worker %s: %v\n", cfg.App, err)
		return 1
	}
	return 0
}

// extra holds apps registered in-process, in practice by this module's
// tests (probe apps that try forbidden things from inside a sandbox). The
// isolategpt binary registers none; only code linked into the binary can.
var extra = map[string]func() (wire.Handler, error){}

// Register adds an app served by name. Call it before Main.
func Register(name string, h func() (wire.Handler, error)) { extra[name] = h }

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
		return report(status, fmt.Errorf("worker: start %s: %w", cfg.Command[0], err), cfg.LandlockABI)
	}
	if code := report(status, nil, cfg.LandlockABI); code != 0 {
		_ = cmd.Process.Kill()
		return code
	}
	err := cmd.Wait()
	st := RunStatus{}
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
	b, _ := json.Marshal(st)
	_, _ = status.Write(append(b, '\n'))
	return st.Exit
}

// appHandler serves a built-in app from the current folder (its own data
// folder: the working folder the hub started it in).
func appHandler(app string) (wire.Handler, error) {
	if h, ok := extra[app]; ok {
		return h()
	}
	m, err := specs.BuiltinByID(app)
	if err != nil {
		return nil, err
	}
	factory, ok := builtin.Lookup(app)
	if !ok {
		return nil, fmt.Errorf("worker: %s is not a runnable built-in app", app)
	}
	a, err := factory(".")
	if err != nil {
		return nil, fmt.Errorf("worker: start %s: %w", app, err)
	}
	var tools []sandbox.Tool
	for _, f := range m.Functions {
		in, _ := json.Marshal(f.Input)
		out, _ := json.Marshal(f.Output)
		tools = append(tools, sandbox.Tool{Name: f.Name, Description: f.Description, InputSchema: in, OutputSchema: out})
	}
	return wire.NewToolServer(tools, a.Call), nil
}

// Dispatch runs a worker stage when args name one (as when the hub
// re-executes this binary) and reports whether it did. main, and the tests
// of every package that starts sandboxed apps, call it first.
func Dispatch(args []string) (int, bool) {
	if len(args) == 0 || (args[0] != Stage1 && args[0] != Stage2) {
		return 0, false
	}
	return Main(args), true
}
