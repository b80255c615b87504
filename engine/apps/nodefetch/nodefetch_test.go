package nodefetch

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isolategpt/isolategpt/sandbox/egress"
	"github.com/isolategpt/isolategpt/sandbox/launch"
	"github.com/isolategpt/isolategpt/sandbox/policy"
	"github.com/isolategpt/isolategpt/sandbox/worker"
)

// TestMain lets this test binary serve as the sandbox worker.
func TestMain(m *testing.M) {
	if code, ok := worker.Dispatch(os.Args[1:]); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

type resolver map[string][]netip.Addr

func (r resolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("no such host %s", host)
}

const fetchScript = `fetch(process.argv[1]).then(r => r.text()).then(t => console.log("OK " + t), e => console.log("ERR " + (e.cause ? e.cause.message : e.message)))`

// TestFetchGoesThroughTheEgressProxy runs node in the sandbox, with the
// real egress proxy, against an HTTPS server standing for a declared
// domain: with the preload Node's fetch reaches it through the proxy,
// which audits the tunnel; without it fetch cannot leave the sandbox;
// and with it an undeclared domain is still refused by the proxy.
func TestFetchGoesThroughTheEgressProxy(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: " + err.Error())
	}
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello from "+r.Host)
	}))
	defer up.Close()
	_, portStr, _ := net.SplitHostPort(up.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	dir := t.TempDir()
	if err := Install(dir); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	loop := netip.MustParseAddr("127.0.0.1")
	run := func(preload bool, url string) (string, []egress.Event) {
		t.Helper()
		cmd := []string{"node"}
		if preload {
			cmd = append(cmd, "--require", filepath.Join(dir, RelPath))
		}
		cmd = append(cmd, "-e", fetchScript, url)
		pol := policy.ExternalPolicy()
		pol.ReadOnly = append(pol.ReadOnly, dir)
		var out, errOut bytes.Buffer
		var mu sync.Mutex
		var events []egress.Event
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		_, err := (&launch.Launcher{}).Run(ctx, launch.RunSpec{
			Name: "fetch", DataDir: t.TempDir(), Policy: pol, Command: cmd,
			// The test's server has a self-signed certificate.
			Env:      []string{"NODE_TLS_REJECT_UNAUTHORIZED=0"},
			Domains:  []string{"example.com"},
			Resolver: resolver{"api.example.com": {loop}, "evil.net": {loop}},
			// Upstreams here can only be on loopback.
			AllowAddr: func(a netip.Addr) bool { return a == loop },
			Ports:     []int{port},
			Egress:    func(e egress.Event) { mu.Lock(); events = append(events, e); mu.Unlock() },
			Stdout:    &out, Stderr: &errOut,
		})
		if err != nil && strings.Contains(err.Error(), "landlock is not available") {
			t.Skip("kernel has no Landlock: " + err.Error())
		}
		if err != nil {
			t.Fatalf("run: %v (stderr %q)", err, errOut.String())
		}
		mu.Lock()
		defer mu.Unlock()
		return strings.TrimSpace(out.String()), events
	}
	declared := fmt.Sprintf("https://api.example.com:%d/", port)
	got, events := run(true, declared)
	if got != fmt.Sprintf("OK hello from api.example.com:%d", port) {
		t.Fatalf("with the preload: %q", got)
	}
	if len(events) == 0 || !events[0].Allowed {
		t.Errorf("the proxy did not audit the tunnel: %+v", events)
	}
	if got, _ := run(false, declared); !strings.HasPrefix(got, "ERR") {
		t.Errorf("without the preload fetch left the sandbox some other way: %q", got)
	}
	got, events = run(true, fmt.Sprintf("https://evil.net:%d/", port))
	if !strings.HasPrefix(got, "ERR") || len(events) == 0 || events[0].Allowed {
		t.Errorf("undeclared domain: %q, events %+v", got, events)
	}
}

func TestInstallIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	for range 2 {
		if err := Install(dir); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, RelPath))
	if err != nil || !bytes.Equal(b, Preload) {
		t.Fatalf("preload: %v", err)
	}
	info, _ := os.Stat(filepath.Join(dir, RelPath))
	if info.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", info.Mode())
	}
}
