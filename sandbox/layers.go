package sandbox

import (
	"fmt"
	"strings"
)

// Layer is one layer of a worker's sandbox, and whether the host gives it.
type Layer struct {
	Name     string `json:"name"`
	Enforced bool   `json:"enforced"`
	// Detail says what the layer holds, or why the host cannot give it.
	Detail string `json:"detail,omitempty"`
}

// The layers, in the order they are reported.
const (
	LayerNamespaces   = "namespaces"
	LayerRoot         = "minimal root"
	LayerProc         = "private /proc"
	LayerDescriptors  = "inherited descriptors"
	LayerCapabilities = "capabilities"
	LayerGroups       = "supplementary groups"
	LayerLandlock     = "landlock"
	LayerSeccomp      = "seccomp"
	LayerRlimits      = "rlimits"
	LayerMemory       = "cgroup memory"
	LayerPids         = "cgroup pids"
	LayerCPU          = "cgroup cpu"
	LayerAppFolder    = "app folder limits"
)

// LayerOrder lists every layer name in report order.
var LayerOrder = []string{
	LayerNamespaces, LayerRoot, LayerProc, LayerDescriptors, LayerCapabilities, LayerGroups,
	LayerLandlock, LayerSeccomp, LayerRlimits, LayerMemory, LayerPids, LayerCPU, LayerAppFolder,
}

// Missing returns the layers not enforced.
func Missing(ls []Layer) []Layer {
	var out []Layer
	for _, l := range ls {
		if !l.Enforced {
			out = append(out, l)
		}
	}
	return out
}

// WeakerError refuses to start a worker whose sandbox would lack layers
// the host cannot give, when the user has not opted into a weaker sandbox.
type WeakerError struct {
	Missing []Layer
}

func (e *WeakerError) Error() string {
	var b strings.Builder
	b.WriteString("the host cannot give every layer of the sandbox: ")
	for i, l := range e.Missing {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s (%s)", l.Name, l.Detail)
	}
	b.WriteString(". No app starts without them unless you opt into a weaker sandbox (--allow-weaker-sandbox, or ISOLATEGPT_ALLOW_WEAKER_SANDBOX=1); `isolategpt sandbox status` shows every layer")
	return b.String()
}
