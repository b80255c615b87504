package spawner

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/isolategpt/isolategpt/sandbox/hubtest"
)

// testProbe is a stage of this test binary that confines itself as the
// spawner does (unless told "off") and tries what the spawner's profile
// refuses, printing one word per attempt: ok, or the error.
const testProbe = "spawner-test-probe"

// attempts are what the probe tries: calls only the seccomp filter
// refuses, and a signal only Landlock's scope refuses (to the test
// process, its parent: same user, or root with CAP_KILL).
func attempts() []string {
	out := []string{
		errWord(unix.Syscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)),
		errWord(unix.Syscall(unix.SYS_UNSHARE, 0, 0, 0)),
		errWord(unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, ^uintptr(0)-2, 0)), // KEY_SPEC_SESSION_KEYRING (-3)
	}
	out = append(out, errWord(unix.Syscall(unix.SYS_KILL, uintptr(os.Getppid()), 0, 0)))
	return out
}

func errWord(_, _ uintptr, errno unix.Errno) string {
	if errno == 0 {
		return "ok"
	}
	return unix.ErrnoName(errno)
}

func probeMain(off bool) int {
	runtime.LockOSThread()
	abi := 0
	if !off {
		if err := confineSelf(); err != nil {
			fmt.Println("error", err)
			return 1
		}
		v, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
		if errno == 0 {
			abi = int(v)
		}
	}
	fmt.Println(abi, strings.Join(attempts(), ","))
	return 0
}

// workerAttempts is what a test worker started by a spawner gets for the
// same calls (it never confines itself: what it meets is inherited).
func workerAttempts() string { return strings.Join(attempts()[:3], ",") }

// TestSpawnerProfile: the spawner refuses itself the calls of its
// denylist and, with Landlock scopes, signals to any process but its
// workers; its workers inherit the filter before their own set-up. With
// the confinement off, every attempt goes through.
func TestSpawnerProfile(t *testing.T) {
	hubtest.Modes(t, func(t *testing.T) {
		for _, off := range []bool{false, true} {
			name := map[bool]string{false: "confined", true: "defence off"}[off]
			t.Run(name, func(t *testing.T) {
				args := []string{testProbe}
				if off {
					args = append(args, "off")
				}
				out, err := exec.Command("/proc/self/exe", args...).Output()
				if err != nil {
					t.Fatalf("probe: %v: %s", err, out)
				}
				var abi int
				var got string
				if _, err := fmt.Sscan(string(out), &abi, &got); err != nil {
					t.Fatalf("probe said %q", out)
				}
				words := strings.Split(got, ",")
				if len(words) != 4 {
					t.Fatalf("probe said %q", out)
				}
				want := []string{"EPERM", "EPERM", "EPERM", "EPERM"}
				if abi < landlockScopeABI {
					want[3] = "ok" // no scopes on this kernel
					if !off {
						t.Logf("Landlock ABI %d: no signal scope here", abi)
					}
				}
				if off {
					want = []string{"ok", "ok", "ok", "ok"}
				}
				for i := range want {
					if words[i] != want[i] {
						t.Errorf("%s attempt %d: %s, want %s (all: %s)", name, i, words[i], want[i], got)
					}
				}

				// A worker of the spawner meets the same filter.
				s, err := Start(Options{NoConfine: off})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				r, w, _ := os.Pipe()
				defer r.Close()
				wk := spawn(t, s, "forbidden", w)
				w.Close()
				b, _ := io.ReadAll(r)
				waitDone(t, wk)
				wantW := strings.Join(want[:3], ",")
				if strings.TrimSpace(string(b)) != wantW {
					t.Errorf("%s: the worker's attempts: %q, want %q", name, b, wantW)
				}
			})
		}
	})
}
