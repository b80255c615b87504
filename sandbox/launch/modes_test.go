package launch

import (
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/cgroup"
	"github.com/isolategpt/isolategpt/sandbox/hubtest"
)

// hubModes runs f with the hub as root and as an ordinary user.
func hubModes(t *testing.T, f func(t *testing.T)) { t.Helper(); hubtest.Modes(t, f) }

// newLauncher is the launcher a test uses. Where the host cannot give this
// hub cgroups (an ordinary user on a cgroup v1 host) it allows a weaker
// sandbox, and says so; every other layer must still be there, which
// checkLayers asserts.
func newLauncher(t *testing.T) *Launcher {
	t.Helper()
	l := &Launcher{}
	if m := cgroup.Detect().Missing(); len(m) > 0 {
		t.Logf("cgroups this hub cannot have here, allowed for this test: %+v", m)
		l.AllowWeaker = true
	}
	return l
}

// checkLayers fails unless every layer of the last worker is enforced but
// the cgroups the host cannot give this hub.
func checkLayers(t *testing.T, l *Launcher) {
	t.Helper()
	ls := l.Layers()
	if len(ls) == 0 {
		t.Fatal("the launcher reports no layers")
	}
	seen := map[string]bool{}
	for _, ly := range ls {
		seen[ly.Name] = true
		if ly.Enforced {
			continue
		}
		if cg := strings.HasPrefix(ly.Name, "cgroup "); !cg || !l.AllowWeaker {
			t.Errorf("layer %s missing: %s", ly.Name, ly.Detail)
		}
	}
	for _, n := range sandbox.LayerOrder {
		if !seen[n] {
			t.Errorf("layer %s not reported", n)
		}
	}
}

// haveCgroups reports whether this hub gets cgroups here.
func haveCgroups() bool { return len(cgroup.Detect().Missing()) == 0 }
