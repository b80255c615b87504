package launch

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/egress"
)

// mcpProbe is this test binary run as an external MCP server (the
// unconfined benchmark stage serves the probe app on its stdio).
func mcpProbe(env ...string) sandbox.App {
	return sandbox.App{ID: "probe_mcp", Kind: sandbox.KindMCP, Command: []string{"/proc/self/exe", unconfinedStage}, Env: env}
}

func TestMCPAppRunsConfined(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-must-not-leak")
	c := start(t, newLauncher(t), t.TempDir(), mcpProbe("GREETING=hello"))
	tools, err := c.ListTools(t.Context())
	if err != nil || len(tools) != 1 || tools[0].Name != "try" {
		t.Fatalf("tools/list = %v, %v", tools, err)
	}
	if pid := c.(sandbox.PIDer).PID(); pid <= 0 {
		t.Errorf("PID() = %d", pid)
	}
	env := mustTry(t, c, "env", "", 0)
	if !strings.Contains(env.Out, "GREETING=hello") || strings.Contains(env.Out, "sk-must-not-leak") || strings.Contains(env.Out, "OPENAI") {
		t.Errorf("the server's environment is %q: want its manifest's variables and nothing of the hub's", env.Out)
	}
	for _, a := range []probeArgs{
		{Action: "proxy", Arg: "example.com:443"}, // no domain, no network
	} {
		if r := mustTry(t, c, a.Action, a.Arg, 0); r.OK || r.Err == "" {
			t.Errorf("%s %s succeeded inside the sandbox: %+v", a.Action, a.Arg, r)
		}
	}
}

func TestAppWithDomainsReachesOnlyThem(t *testing.T) {
	up, port := echoUpstream(t)
	loop := netip.MustParseAddr("127.0.0.1")
	var mu sync.Mutex
	var events []egress.Event
	l := newLauncher(t)
	l.Resolver = fakeResolver{"api.example.com": {loop}, "evil.net": {loop}}
	l.AllowAddr = func(a netip.Addr) bool { return a == loop }
	l.Ports = []int{port}
	l.Egress = func(a sandbox.App, e egress.Event) {
		mu.Lock()
		defer mu.Unlock()
		if a.User != "alice" {
			t.Errorf("egress of %q attributed to user %q", a.ID, a.User)
		}
		events = append(events, e)
	}
	target := func(h string) string { return net.JoinHostPort(h, strconv.Itoa(port)) }
	for _, app := range []sandbox.App{
		{ID: "probe", Kind: sandbox.KindBuiltin, Domains: []string{"example.com"}, User: "alice"},
		{ID: "probe_mcp", Kind: sandbox.KindMCP, Command: mcpProbe().Command, Domains: []string{"example.com"}, User: "alice"},
	} {
		t.Run(app.Kind, func(t *testing.T) {
			mu.Lock()
			events = nil
			mu.Unlock()
			c := start(t, l, t.TempDir(), app)
			if r := mustTry(t, c, "proxy", target("api.example.com"), 0); !r.OK || !strings.Contains(r.Out, "ping") {
				t.Errorf("declared domain: %+v", r)
			}
			for _, a := range []probeArgs{
				{Action: "proxy", Arg: target("evil.net")},
				{Action: "connect", Arg: up.Addr().String()}, // around the proxy
			} {
				if r := mustTry(t, c, a.Action, a.Arg, 0); r.OK || r.Err == "" {
					t.Errorf("%s %s succeeded: %+v", a.Action, a.Arg, r)
				}
			}
			c.Close() // ends the tunnels, so their closing events are in
			mu.Lock()
			defer mu.Unlock()
			var opened, refused bool
			for _, e := range events {
				if e.App != app.ID {
					t.Errorf("event of app %q, want %q", e.App, app.ID)
				}
				opened = opened || (e.Allowed && e.Host == "api.example.com")
				refused = refused || (!e.Allowed && strings.Contains(e.Reason, "not a declared domain"))
			}
			if !opened || !refused {
				t.Errorf("egress events %+v: want the tunnel to api.example.com and the refusal of evil.net", events)
			}
		})
	}
}

func TestLaunchRefusesBadApps(t *testing.T) {
	tests := []struct {
		name string
		app  sandbox.App
		want string
	}{
		{"unknown kind", sandbox.App{ID: "probe", Kind: "docker"}, "unknown app kind"},
		{"built-in with a command", sandbox.App{ID: "probe", Kind: sandbox.KindBuiltin, Command: []string{"/bin/sh"}}, "runs no command"},
		{"MCP without a command", sandbox.App{ID: "x", Kind: sandbox.KindMCP}, "needs a command"},
		{"MCP with a relative read-only path", sandbox.App{ID: "x", Kind: sandbox.KindMCP, Command: []string{"node"}, ReadOnly: []string{"../hub"}}, "must be absolute"},
		{"a domain that is not registrable", sandbox.App{ID: "probe", Kind: sandbox.KindBuiltin, Domains: []string{"com"}}, "egress proxy"},
		{"an MCP command that does not exist", sandbox.App{ID: "x", Kind: sandbox.KindMCP, Command: []string{"/no/such/server"}}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := (&Launcher{}).Launch(t.Context(), tt.app, t.TempDir())
			if err == nil {
				c.Close()
				t.Fatal("launched")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to mention %q", err, tt.want)
			}
			if errors.Is(err, sandbox.ErrDead) {
				t.Errorf("a refused launch is not a dead worker: %v", err)
			}
		})
	}
}

// TestAppFolder: the app finds its host folder's files at sandbox.DataPath,
// what a call writes is on the host when the call returns (and what it
// removes is gone), nothing it writes there can run, and the host's own
// /run is not there.
func TestAppFolder(t *testing.T) {
	hubModes(t, func(t *testing.T) {
		host := filepath.Join(t.TempDir(), "apps", "alice", "probe")
		if err := os.MkdirAll(filepath.Join(host, "sub"), 0o700); err != nil {
			t.Fatal(err)
		}
		for name, text := range map[string]string{"kept.txt": "from the host", "sub/gone.txt": "to be removed"} {
			if err := os.WriteFile(filepath.Join(host, name), []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		c := start(t, newLauncher(t), host)
		if r := mustTry(t, c, "read", sandbox.DataPath+"/kept.txt", 0); r.Out != "from the host" {
			t.Errorf("the host's file inside: %+v", r)
		}
		if r := mustTry(t, c, "write", sandbox.DataPath+"/mine", 0); !r.OK {
			t.Fatalf("the app cannot write its own folder: %s", r.Err)
		}
		if b, err := os.ReadFile(filepath.Join(host, "mine")); err != nil || string(b) != "x" {
			t.Errorf("the app's write is not on the host after its call: %q, %v", b, err)
		}
		// The built-in profile may not unlink; an MCP server may.
		c2 := start(t, newLauncher(t), host, mcpProbe())
		if r := mustTry(t, c2, "read", sandbox.DataPath+"/mine", 0); r.Out != "x" {
			t.Errorf("a second worker does not see the first one's write: %+v", r)
		}
		script := `rm sub/gone.txt; cp /bin/true ./prog && ./prog && echo "ran a program from its folder"; test -e /run/user && echo "sees the host's /run"; exit 0`
		o := runWith(t, newLauncher(t), RunSpec{DataDir: host, Command: []string{"/bin/sh", "-c", script}})
		if o.err != nil {
			t.Fatalf("%v (stderr %q)", o.err, o.stderr)
		}
		if o.stdout != "" || !strings.Contains(o.stderr, "./prog: Permission denied") {
			t.Errorf("stdout %q, stderr %q: want the program in the app's folder refused, and no host /run", o.stdout, o.stderr)
		}
		if _, err := os.Stat(filepath.Join(host, "sub", "gone.txt")); !os.IsNotExist(err) {
			t.Errorf("a file the command removed is still on the host: %v", err)
		}
		if _, err := os.Stat(filepath.Join(host, "prog")); err != nil {
			t.Errorf("the command's copy is not on the host: %v", err)
		}
	})
}
