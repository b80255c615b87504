package launch

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/egress"
	"github.com/isolategpt/isolategpt/sandbox/policy"
)

// TestWorkerLimitsAreAggregate: a worker's CPU time and memory are limited
// for all its processes together. Forking resets RLIMIT_CPU and each child
// has its own address space, so without the cgroup both attacks pass.
func TestWorkerLimitsAreAggregate(t *testing.T) {
	hubModes(t, func(t *testing.T) {
		if !haveCgroups() {
			t.Skip("this host gives this hub no cgroups (an ordinary user on cgroup v1): the aggregate limits are not enforced, and no worker starts without --allow-weaker-sandbox (TestWeakerSandboxNeedsConsent)")
		}
		tests := []struct {
			name  string
			limit func(*policy.Limits)
			cmd   []string
			cause string
		}{
			// Four children spinning: with RLIMIT_CPU alone each dies at 3 s,
			// 12 s of CPU in all against a limit of 2.
			{"forking to reset the CPU limit", func(l *policy.Limits) { l.CPUSeconds = 2 }, self("spin-children", "", "4"), sandbox.CauseCPU},
			// Four children of 96 MiB each against 256 MiB: each is far
			// inside its own address-space limit.
			{"memory across children", func(l *policy.Limits) { l.Memory = 256 << 20 }, self("hog-children", "96", "4"), sandbox.CauseMemory},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				pol := policy.ExternalPolicy()
				tt.limit(&pol.Limits)
				start := time.Now()
				o := runWith(t, newLauncher(t), RunSpec{Policy: pol, Command: tt.cmd})
				took := time.Since(start)
				t.Logf("after %s: %+v, %v", took.Round(time.Millisecond), o.res, o.err)
				if o.res.Limit != tt.cause || o.err == nil {
					t.Fatalf("the worker was not killed for its %s limit: result %+v, err %v, stderr %q", tt.cause, o.res, o.err, o.stderr)
				}
				if took > 20*time.Second {
					t.Errorf("took %s to stop", took)
				}
			})
		}
	})
}

// TestAppFolderLimits: the app's folder and /tmp are tmpfs of bounded size
// and files; what the app writes never reaches the host past them, and a
// host folder already over them is refused at start.
func TestAppFolderLimits(t *testing.T) {
	hubModes(t, func(t *testing.T) {
		small := func(sandbox.App) policy.Policy {
			p := policy.BuiltinPolicy()
			p.Limits.DataBytes, p.Limits.DataInodes, p.Limits.TmpBytes = 8<<20, 64, 4<<20
			return p
		}
		l := newLauncher(t)
		l.Policy = small
		host := t.TempDir()
		c := start(t, l, host)
		for _, tt := range []struct {
			action, dir string
			n           int
			max         int
		}{
			{"fill", sandbox.DataPath, 400, 8},
			{"inodes", sandbox.DataPath, 5000, 64},
			{"fill", "/tmp", 400, 4},
		} {
			r := mustTry(t, c, tt.action, tt.dir, tt.n)
			got, _ := strconv.Atoi(r.Out)
			if r.OK || syscall.Errno(r.Errno) != syscall.ENOSPC || got > tt.max {
				t.Errorf("%s %s: %d before %q (errno %d), want at most %d then ENOSPC", tt.action, tt.dir, got, r.Err, r.Errno, tt.max)
			}
		}
		c.Close()
		var size int64
		var files int
		filepath.Walk(host, func(_ string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				size += fi.Size()
				files++
			}
			return nil
		})
		if size > 8<<20 || files > 64 {
			t.Errorf("the host folder holds %d bytes in %d files after the worker ended", size, files)
		}
		// A folder that no longer fits is refused, saying why.
		big := t.TempDir()
		if err := os.WriteFile(filepath.Join(big, "big"), make([]byte, 9<<20), 0o600); err != nil {
			t.Fatal(err)
		}
		if c, err := l.Launch(t.Context(), probeApp, big); err == nil {
			c.Close()
			t.Error("a worker started on a folder larger than its limit")
		} else if !strings.Contains(err.Error(), "over its limits") {
			t.Errorf("error %q: want it to say the folder is over its limits", err)
		}
	})
}

// TestEgressAuditFlood: an app that hammers its proxy with refused
// attempts leaves a bounded number of audit events, the rest counted in
// summaries.
func TestEgressAuditFlood(t *testing.T) {
	hubModes(t, func(t *testing.T) {
		var mu sync.Mutex
		var events []egress.Event
		l := newLauncher(t)
		l.Resolver = fakeResolver{"api.example.com": {netip.MustParseAddr("127.0.0.1")}}
		l.Egress = func(_ sandbox.App, e egress.Event) { mu.Lock(); events = append(events, e); mu.Unlock() }
		app := sandbox.App{ID: "probe", Kind: sandbox.KindBuiltin, Domains: []string{"example.com"}}
		c := start(t, l, t.TempDir(), app)
		const n = 1000
		start := time.Now()
		r := mustTry(t, c, "proxy-flood", net.JoinHostPort("evil.net", "443"), n)
		if r.Out != strconv.Itoa(n) {
			t.Fatalf("%s of %d attempts refused", r.Out, n)
		}
		c.Close()
		mu.Lock()
		defer mu.Unlock()
		var single, suppressed int
		for _, e := range events {
			if e.Suppressed > 0 {
				suppressed += e.Suppressed
			} else {
				single++
			}
		}
		t.Logf("%d attempts in %s: %d audit events, %d more counted in summaries", n, time.Since(start).Round(time.Millisecond), len(events), suppressed)
		if len(events) > egress.DefaultAuditBurst+int(time.Since(start)/egress.DefaultAuditEvery)+int(time.Since(start)/time.Second)+3 {
			t.Errorf("%d audit events for %d attempts", len(events), n)
		}
		if single+suppressed != n {
			t.Errorf("%d events and %d suppressed, want all %d attempts accounted for", single, suppressed, n)
		}
	})
}
