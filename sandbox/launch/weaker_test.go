package launch

import (
	"errors"
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/cgroup"
)

// TestWeakerSandboxNeedsConsent: where the host cannot give a layer, no
// worker starts unless the user opted into a weaker sandbox; with the
// opt-in it starts, and the layer is reported missing with the reason.
func TestWeakerSandboxNeedsConsent(t *testing.T) {
	hubModes(t, func(t *testing.T) {
		none := cgroup.Fake(t.TempDir())
		tests := []struct {
			name    string
			l       func(allow bool) *Launcher
			missing []string
		}{
			{"no cgroups", func(allow bool) *Launcher {
				return &Launcher{AllowWeaker: allow, Cgroups: cgroup.None("this test's host gives none")}
			}, []string{sandbox.LayerMemory, sandbox.LayerPids, sandbox.LayerCPU}},
			{"Landlock below the floor", func(allow bool) *Launcher {
				return &Launcher{AllowWeaker: allow, LandlockFloor: 99, Cgroups: none}
			}, []string{sandbox.LayerLandlock}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c, err := tt.l(false).Launch(t.Context(), probeApp, t.TempDir())
				if err == nil {
					c.Close()
					t.Fatal("a worker started without a layer and without the user's consent")
				}
				for _, m := range tt.missing {
					if !strings.Contains(err.Error(), m) || !strings.Contains(err.Error(), "--allow-weaker-sandbox") {
						t.Errorf("error %q: want it to name %s and the opt-in", err, m)
					}
				}
				if errors.Is(err, sandbox.ErrDead) {
					t.Errorf("a refused start is not a dead worker: %v", err)
				}
				l := tt.l(true)
				c = start(t, l, t.TempDir())
				got := map[string]sandbox.Layer{}
				for _, ly := range l.Layers() {
					got[ly.Name] = ly
				}
				for _, m := range tt.missing {
					if ly := got[m]; ly.Enforced || ly.Detail == "" {
						t.Errorf("layer %s: %+v, want it reported missing with the reason", m, ly)
					}
				}
				// What is left still holds.
				if r := mustTry(t, c, "clone", "0x10000000", 0); r.OK {
					t.Error("a weaker sandbox let the worker make a user namespace")
				}
				if r := mustTry(t, c, "ls", "/", 0); strings.Contains(r.Out, "home") || strings.Contains(r.Out, "root") {
					t.Errorf("a weaker sandbox shows the host: / holds %q", r.Out)
				}
			})
		}
	})
}

// TestStatus: every layer is reported, in order, with what it holds or
// why it is missing; on a host that gives them all, all are enforced.
func TestStatus(t *testing.T) {
	hubModes(t, func(t *testing.T) {
		layers := (&Launcher{}).Status(t.Context())
		var names []string
		for _, ly := range layers {
			names = append(names, ly.Name)
			t.Logf("%-24s %-5v %s", ly.Name, ly.Enforced, ly.Detail)
			if ly.Detail == "" {
				t.Errorf("layer %s has no detail", ly.Name)
			}
			if !ly.Enforced && !(strings.HasPrefix(ly.Name, "cgroup ") && !haveCgroups()) {
				t.Errorf("layer %s missing on this host: %s", ly.Name, ly.Detail)
			}
		}
		if strings.Join(names, ",") != strings.Join(sandbox.LayerOrder, ",") {
			t.Errorf("layers %v, want %v", names, sandbox.LayerOrder)
		}
	})
}
