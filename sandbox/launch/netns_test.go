package launch

import (
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/policy"
)

// TestSharedNetworkNamespace: workers that cannot open a socket share the
// spawner's empty network namespace (a root hub's; an ordinary user's
// workers each get their own), and cannot reach each other through it:
// one cannot bind an abstract unix socket, so the other can neither find
// nor connect to it. With the defence off (the namespace shared with
// workers whose profile allows unix sockets), the second worker runs into
// the first one's socket name: the two share a namespace they can both
// see into.
func TestSharedNetworkNamespace(t *testing.T) {
	hubModes(t, func(t *testing.T) {
		for _, off := range []bool{false, true} {
			name := map[bool]string{false: "socket refused", true: "defence off"}[off]
			t.Run(name, func(t *testing.T) {
				l := newLauncher(t)
				if off {
					l.forceSharedNet = true
					l.Policy = func(sandbox.App) policy.Policy {
						p := policy.BuiltinPolicy()
						p.Name = "builtin+unix-sockets"
						p.Syscalls = append(slices.Clone(p.Syscalls), "socket", "bind", "listen")
						p.SocketFamilies = []string{"unix"}
						return p
					}
				}
				a, b := start(t, l, t.TempDir()), start(t, l, t.TempDir())
				na, nb := mustTry(t, a, "netns", "", 0).Out, mustTry(t, b, "netns", "", 0).Out
				self, _ := os.Readlink("/proc/self/ns/net")
				if na == self || nb == self {
					t.Fatalf("a worker is in the hub's network namespace %s (%s, %s)", self, na, nb)
				}
				if shared := na == nb; shared != (os.Getuid() == 0) {
					t.Errorf("network namespaces %s and %s: shared %v, want %v (only a root spawner has one to share)", na, nb, shared, os.Getuid() == 0)
				}
				const sock = "isolategpt-test-shared-netns"
				ra, _ := try(t, a, "abstract-bind", sock, 0)
				rb, _ := try(t, b, "abstract-bind", sock, 0)
				switch {
				case !off:
					if syscall.Errno(ra.Errno) != syscall.EPERM || syscall.Errno(rb.Errno) != syscall.EPERM {
						t.Errorf("abstract sockets: %+v, %+v; want EPERM for both (no socket at all)", ra, rb)
					}
				case os.Getuid() == 0:
					if !ra.OK || syscall.Errno(rb.Errno) != syscall.EADDRINUSE {
						t.Errorf("defence off: %+v, %+v; want the first bound and the second to meet it (EADDRINUSE)", ra, rb)
					}
				default:
					// Their own namespaces: each binds the name.
					if !ra.OK || !rb.OK {
						t.Errorf("own namespaces: %+v, %+v; want both bound", ra, rb)
					}
				}
			})
		}
	})
}
