// Package worker is the child side of the sandbox: `isolategpt worker`,
// started by sandbox/launch in fresh namespaces, confines itself in two
// stages (see sandbox/confine), reports readiness or its set-up error to the
// hub before any app code runs, and then serves one app over JSON-RPC on
// stdin and stdout, or runs one command.
//
//	fd 0/1  JSON-RPC (MCP-shaped) with the hub, or the command's stdio
//	fd 2    diagnostics, captured (capped) by the hub
//	fd 3    status socket (SOCK_SEQPACKET, one message a packet)
//	fd 4    the egress proxy's control socket (only with egress)
//	fd 5    stage 2: its configuration, in a sealed memfd stage 1 wrote
//	fd 6…   stage 1: the hub's detached mounts of read-only grants
//
// Nothing else: whatever else the worker inherited is close-on-exec from
// the first instruction of stage 1, and gone in stage 2; the configuration
// never appears in argv.
//
// The set-up hand-shake on the status socket:
//
//	hub                                 worker
//	  config ─────────────────────────▶ stage 1: rlimits, minimal root
//	         ◀────────────── built (+ the app folder's tmpfs, SCM_RIGHTS)
//	  go ─────────────────────────────▶ loopback, Landlock, capabilities,
//	                                    re-exec; stage 2: seccomp
//	         ◀───────────────────────── confined
//	  fill the tmpfs from the host
//	  start ──────────────────────────▶ the app or the command starts
//	         ◀───────────────────────── ready (layers) or failed (why)
//	         ◀───────────────────────── exit (run mode: how the command ended)
//
// Nothing of the app runs before start, and nothing of a user is in the
// worker before it is confined: a worker waiting at confined is bound to
// no one (the hub's prestarted pool, sandbox/launch).
package worker

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/confine"
	"github.com/isolategpt/isolategpt/sandbox/policy"
	"github.com/isolategpt/isolategpt/sandbox/spawner"
)

// The worker's subcommands.
const (
	Stage1 = "worker"
	Stage2 = "worker-confined"
)

// Inherited file descriptors.
const (
	StatusFD = 3
	EgressFD = 4
	ConfigFD = 5
	GrantFD  = 6 // the first grant's; the rest follow
)

// MaxConfigBytes caps the configuration the hub sends.
const MaxConfigBytes = 64 << 10

// Config is what the hub tells a worker.
type Config struct {
	App    string        `json:"app"`
	Policy policy.Policy `json:"policy"`
	// MaxMessageBytes caps one JSON-RPC message either way.
	MaxMessageBytes int `json:"max_message_bytes"`
	// Command, when set, is run (an MCP server, or the `sandbox run`
	// mode) instead of serving a built-in app, with exactly Env as its
	// environment.
	Command []string `json:"command,omitempty"`
	Env     []string `json:"env,omitempty"`
	// Grants are the app's own read-only host paths.
	Grants []confine.Grant `json:"grants,omitempty"`
	// ProxyPort, when set, gives the worker a network: lo comes up and a
	// forwarder on 127.0.0.1:ProxyPort hands each connection to the hub's
	// egress proxy over EgressFD. Without it the worker has no network.
	ProxyPort uint16 `json:"proxy_port,omitempty"`
	// Persist hands the app folder's tmpfs to the hub, which fills it
	// from the host and copies it back; without it the folder starts
	// empty and is lost with the worker.
	Persist bool `json:"persist,omitempty"`
	// AllowWeaker starts the worker even where the host cannot give a
	// layer that may be missing (a private /proc, Landlock at its floor),
	// reporting the layer missing instead of failing.
	AllowWeaker bool `json:"allow_weaker,omitempty"`
	// LandlockFloor overrides confine.LandlockFloor (tests).
	LandlockFloor int `json:"landlock_floor,omitempty"`
	// Layers is filled in by stage 1 for stage 2's report.
	Layers []sandbox.Layer `json:"layers,omitempty"`
}

// Phases of the status messages.
const (
	PhaseBuilt    = "built"
	PhaseConfined = "confined"
	PhaseReady    = "ready"
	PhaseFailed   = "failed"
	PhaseExit     = "exit"
)

// Go is the hub's answer to PhaseBuilt, Start its answer to PhaseConfined.
const (
	Go    = "go"
	Start = "start"
)

// Status is one message of the worker on the status socket.
type Status struct {
	Phase string `json:"phase"`
	Error string `json:"error,omitempty"`
	// Layers (ready) are the child side's layers, enforced or not.
	Layers []sandbox.Layer `json:"layers,omitempty"`
	// Exit and Signal (exit) are how the command ended: the exit code,
	// 128+n for signal n.
	Exit   int    `json:"exit,omitempty"`
	Signal string `json:"signal,omitempty"`
}

// Main runs a worker stage and returns its exit code. It never returns on
// a successful stage 1 (it re-executes itself).
func Main(args []string) int {
	status := os.NewFile(StatusFD, "status")
	if len(args) == 0 {
		return fail(status, errors.New("worker: no stage"))
	}
	switch args[0] {
	case Stage1:
		return stage1(status)
	case Stage2:
		return stage2(status)
	}
	return fail(status, fmt.Errorf("worker: unknown stage %q", args[0]))
}

// send writes one status message.
func send(status *os.File, st Status) error {
	b, _ := json.Marshal(st)
	_, err := status.Write(b)
	return err
}

// fail reports a set-up error and returns the exit code.
func fail(status *os.File, err error) int {
	_ = send(status, Status{Phase: PhaseFailed, Error: err.Error()})
	return 1
}

// readPacket reads one message of at most MaxConfigBytes.
func readPacket(f *os.File) ([]byte, error) {
	buf := make([]byte, MaxConfigBytes+1)
	n, err := f.Read(buf)
	if err != nil {
		return nil, err
	}
	if n > MaxConfigBytes {
		return nil, fmt.Errorf("message over %d bytes", MaxConfigBytes)
	}
	return buf[:n], nil
}

// decode reads a configuration; it came from the hub (trusted), but a
// broken one must fail clearly.
func decode(b []byte) (Config, error) {
	var cfg Config
	if err := json.Unmarshal(b, &cfg); err != nil {
		return cfg, fmt.Errorf("worker: configuration: %w", err)
	}
	return cfg, nil
}

// handOver writes the configuration into a sealed memfd at ConfigFD for
// stage 2: never in argv, where every local user could read it.
func handOver(cfg Config) error {
	b, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("worker: encode configuration: %w", err)
	}
	fd, err := unix.MemfdCreate("isolategpt-config", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return fmt.Errorf("worker: configuration for stage 2: %w", err)
	}
	defer unix.Close(fd)
	f := os.NewFile(uintptr(fd), "config")
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("worker: configuration for stage 2: %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE); err != nil {
		return fmt.Errorf("worker: seal configuration: %w", err)
	}
	if err := unix.Dup3(fd, ConfigFD, 0); err != nil {
		return fmt.Errorf("worker: configuration for stage 2: %w", err)
	}
	_, err = unix.Seek(ConfigFD, 0, 0)
	return err
}

// takeConfig reads stage 2's configuration and closes its descriptor.
func takeConfig() (Config, error) {
	f := os.NewFile(ConfigFD, "config")
	defer f.Close()
	b := make([]byte, 0, 4096)
	buf := make([]byte, 32<<10)
	for {
		n, err := f.Read(buf)
		b = append(b, buf[:n]...)
		if len(b) > 4*MaxConfigBytes {
			return Config{}, errors.New("worker: configuration too large")
		}
		if err != nil || n == 0 {
			break
		}
	}
	return decode(b)
}

// Dispatch runs a worker stage when args name one (as when the hub
// re-executes this binary) and reports whether it did. main, and the tests
// of every package that starts sandboxed apps, call it first.
func Dispatch(args []string) (int, bool) {
	if len(args) > 0 && args[0] == spawner.Stage {
		// The spawner starts only this binary's first stage.
		return spawner.Main(args[1:], []string{"isolategpt", Stage1}), true
	}
	if len(args) == 0 || (args[0] != Stage1 && args[0] != Stage2) {
		return 0, false
	}
	return Main(args), true
}
