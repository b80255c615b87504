package launch

import (
	"errors"
	"net"
	"net/netip"
	"os"
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
	c := start(t, &Launcher{}, t.TempDir(), mcpProbe("GREETING=hello"))
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
		{Action: "read", Arg: "/etc/shadow"},
		{Action: "read", Arg: "/proc/1/environ"},
		{Action: "connect", Arg: "1.1.1.1:443"},
		{Action: "ptrace"},
		{Action: "unshare"},
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
	l := &Launcher{
		Resolver:  fakeResolver{"api.example.com": {loop}, "evil.net": {loop}},
		AllowAddr: func(a netip.Addr) bool { return a == loop },
		Ports:     []int{port},
		Egress: func(a sandbox.App, e egress.Event) {
			mu.Lock()
			defer mu.Unlock()
			if a.User != "alice" {
				t.Errorf("egress of %q attributed to user %q", a.ID, a.User)
			}
			events = append(events, e)
		},
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

func TestDataFolderIsAtDataPath(t *testing.T) {
	// A file in the host's /run that the worker must not see.
	secret, err := os.CreateTemp("/run", "isolategpt-test-")
	if err != nil {
		t.Skipf("cannot write the host's /run here: %v", err)
	}
	secret.Close()
	defer os.Remove(secret.Name())
	script := `pwd; echo hello > "` + sandbox.DataPath + `/note"; cat "$(pwd)/note"
cp /bin/true ./prog && ./prog && echo "ran a program from its folder"
test -e "` + secret.Name() + `" && echo "sees the host's /run"
exit 0`
	o := runIn(t, RunSpec{Command: []string{"/bin/sh", "-c", script}})
	if o.err != nil {
		t.Fatalf("%v (stderr %q)", o.err, o.stderr)
	}
	want := sandbox.DataPath + "\nhello\n"
	if o.stdout != want {
		t.Errorf("stdout %q, want %q (stderr %q)", o.stdout, want, o.stderr)
	}
	if !strings.Contains(o.stderr, "./prog: Permission denied") {
		t.Errorf("stderr %q: want the program in the data folder refused", o.stderr)
	}
}
