package launch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/wire"
)

// The probe app runs inside a real worker and tries what the test asks:
// each action reports "ok" or the error the kernel gave.
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
	res := probeResult{OK: true}
	var err error
	switch a.Action {
	case "read":
		var b []byte
		b, err = os.ReadFile(a.Arg)
		res.Out = string(b[:min(len(b), 64)])
	case "write":
		err = os.WriteFile(a.Arg, []byte("x"), 0o600)
	case "env":
		res.Out = strings.Join(os.Environ(), "\n")
	case "connect":
		var c net.Conn
		c, err = net.DialTimeout("tcp", a.Arg, 2*time.Second)
		if c != nil {
			c.Close()
		}
	case "udp":
		_, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	case "ptrace":
		err = unix.PtraceAttach(1)
	case "mount":
		err = unix.Mount("none", ".", "tmpfs", 0, "")
	case "unshare":
		err = unix.Unshare(unix.CLONE_NEWUSER)
	case "bpf":
		_, _, e := unix.Syscall(unix.SYS_BPF, 0, 0, 0)
		err = errnoErr(e)
	case "io_uring_setup":
		_, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, 1, 0, 0)
		err = errnoErr(e)
	case "fork":
		n := 0
		for ; n < a.N && err == nil; n++ {
			pid, _, e := unix.RawSyscall(unix.SYS_FORK, 0, 0, 0)
			if e == 0 && pid == 0 {
				// The child leaves at once; unreaped, it still counts
				// against the process limit the test is after.
				unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
			}
			err = errnoErr(e)
		}
		res.Out = fmt.Sprint(n - 1)
	case "exec":
		err = syscall.Exec("/bin/true", []string{"true"}, nil)
	case "alloc":
		var keep [][]byte
		for i := 0; i < a.N; i++ {
			// RLIMIT_AS counts address space, so untouched pages count too.
			keep = append(keep, make([]byte, 64<<20))
		}
		res.Out = fmt.Sprint(len(keep))
	case "output":
		res.Out = strings.Repeat("x", a.N)
	case "sleep":
		time.Sleep(time.Hour)
	case "spin":
		for {
		}
	case "proxy":
		// A command finds the forwarder in $HTTPS_PROXY; a built-in app,
		// whose environment is empty, at its fixed address.
		px := os.Getenv("HTTPS_PROXY")
		if px == "" {
			px = fmt.Sprintf("http://127.0.0.1:%d", ProxyPort)
		}
		res.Out, err = connectViaProxy(px, a.Arg)
	case "whoami":
		res.Out = fmt.Sprintf("uid=%d pid=%d", os.Getuid(), os.Getpid())
	default:
		return nil, &sandbox.ToolError{Message: "unknown action " + a.Action}
	}
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
