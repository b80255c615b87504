package launch

import (
	"context"
	"fmt"
	"slices"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/policy"
	"github.com/isolategpt/isolategpt/sandbox/worker"
)

// Status starts a probe worker the way every app's starts, but allowing a
// weaker sandbox so that it reports what is missing instead of failing, and
// returns every layer in report order, enforced or not. A host that cannot
// start a worker at all reports the namespaces missing, with the error.
func (l *Launcher) Status(ctx context.Context) []sandbox.Layer {
	probe := &Launcher{Exe: l.Exe, StartTimeout: l.StartTimeout, AllowWeaker: true, LandlockFloor: l.LandlockFloor, Cgroups: l.Cgroups}
	cfg := worker.Config{App: worker.StatusApp, Policy: policy.BuiltinPolicy(), MaxMessageBytes: workerMaxMessageBytes}
	p, status, err := probe.spawn(spawnSpec{app: worker.StatusApp, cfg: cfg})
	if err != nil {
		return []sandbox.Layer{{Name: sandbox.LayerNamespaces, Detail: fmt.Sprintf("no worker could start: %v", err)}}
	}
	status.Close()
	p.kill()
	p.cleanup()
	layers := probe.Layers()
	slices.SortStableFunc(layers, func(a, b sandbox.Layer) int {
		return slices.Index(sandbox.LayerOrder, a.Name) - slices.Index(sandbox.LayerOrder, b.Name)
	})
	return layers
}
