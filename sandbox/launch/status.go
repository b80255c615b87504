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
	l.mu.Lock()
	if l.layers == nil {
		l.layers = layers
	}
	l.mu.Unlock()
	// The probe ran the built-in profile; say what each profile gets.
	b, x := policy.BuiltinPolicy().Limits, policy.ExternalPolicy().Limits
	for i := range layers {
		ly := &layers[i]
		switch ly.Name {
		case sandbox.LayerRlimits:
			ly.Detail = fmt.Sprintf("per process, built-in app / external program: %d/%d s CPU, %d/%d GiB address space, %d/%d MiB a file, %d/%d files, %d/%d tasks",
				b.CPUSeconds, x.CPUSeconds, b.AddressSpace>>30, x.AddressSpace>>30, b.FileSize>>20, x.FileSize>>20, b.OpenFiles, x.OpenFiles, b.Processes, x.Processes)
		case sandbox.LayerAppFolder:
			ly.Detail = fmt.Sprintf("%s a tmpfs of %d/%d MiB and %d/%d files, copied back to the host after each call; /tmp %d/%d MiB (built-in/external)",
				sandbox.DataPath, b.DataBytes>>20, x.DataBytes>>20, b.DataInodes, x.DataInodes, b.TmpBytes>>20, x.TmpBytes>>20)
		case sandbox.LayerMemory:
			if ly.Enforced {
				ly.Detail += fmt.Sprintf("; %d/%d MiB per worker (built-in/external), all its processes and tmpfs together", b.Memory>>20, x.Memory>>20)
			}
		case sandbox.LayerPids:
			if ly.Enforced {
				ly.Detail += fmt.Sprintf("; %d/%d tasks per worker", b.Processes, x.Processes)
			}
		case sandbox.LayerCPU:
			if ly.Enforced {
				ly.Detail += fmt.Sprintf("; %d%% of a core, and %d/%d s of CPU time per worker, forks included", b.CPUPercent, b.CPUSeconds, x.CPUSeconds)
			}
		case sandbox.LayerSeccomp:
			ly.Detail = "an allowlist on every thread (profiles builtin and external): no namespace creation, no execveat, no executable memfd, only unix/inet/inet6 sockets of listed types and protocols"
		}
	}
	slices.SortStableFunc(layers, func(a, b sandbox.Layer) int {
		return slices.Index(sandbox.LayerOrder, a.Name) - slices.Index(sandbox.LayerOrder, b.Name)
	})
	return layers
}
