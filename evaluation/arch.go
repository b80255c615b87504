package evaluation

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/actors/frontend"
	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine"
	"github.com/isolategpt/isolategpt/engine/apps"
	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/engine/llm"
	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/engine/store"
	"github.com/isolategpt/isolategpt/engine/vanilla"
	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/specs"
)

// The architectures compared.
const (
	Isolated = "isolated"
	Vanilla  = "vanilla"
)

// Archs lists the architectures in table order.
var Archs = []string{Isolated, Vanilla}

// system is one architecture, running.
type system interface {
	open(ctx context.Context, user string, p frontend.Prompter) (session, error)
	close() error
}

type session interface {
	Ask(ctx context.Context, query string) (*msg.Answer, error)
	Close() error
}

// parts are what both architectures are built from: the same apps, the
// same launcher, the same model.
type parts struct {
	catalog  *plan.Catalog
	launcher sandbox.Launcher
	model    llms.Model
	info     llm.Info
	dataDir  string
	// vanillaMemory carries the baseline's memory across restarts.
	vanillaMemory vanilla.Memory
	// install are manifests of apps to install (kind mcp), as `isolategpt
	// apps install` would, unless already installed.
	install []json.RawMessage
	// defences are the isolated architecture's (all on but in tests).
	defences defence.Set
}

func start(arch string, p parts) (system, error) {
	switch arch {
	case Isolated:
		return startIsolated(p)
	case Vanilla:
		e, err := vanilla.New(vanilla.Config{
			Catalog: p.catalog, Launcher: p.launcher, Model: p.model, Info: p.info,
			AppsDir: filepath.Join(p.dataDir, "apps"), Memory: p.vanillaMemory,
		})
		if err != nil {
			return nil, err
		}
		return vanillaSystem{e}, nil
	}
	return nil, fmt.Errorf("unknown architecture %q (want %s or %s)", arch, Isolated, Vanilla)
}

type vanillaSystem struct{ e *vanilla.Engine }

func (v vanillaSystem) open(ctx context.Context, user string, _ frontend.Prompter) (session, error) {
	return v.e.OpenSession(ctx, user)
}

func (vanillaSystem) close() error { return nil }

// isolatedSystem is isolategpt itself (engine.New) over the scenario's
// catalog: its apps of kind builtin stand as the engine's built-in apps,
// and its MCP apps are installed (and pinned) in the store first, as
// `isolategpt apps install` would.
type isolatedSystem struct{ e *engine.Engine }

func startIsolated(p parts) (*isolatedSystem, error) {
	var builtins []*specs.Manifest
	for _, id := range p.catalog.IDs() {
		if m, _ := p.catalog.App(id); m.MCP == nil {
			builtins = append(builtins, m)
		}
	}
	if err := installApps(p, builtins); err != nil {
		return nil, fmt.Errorf("isolated: %w", err)
	}
	e, err := engine.New(engine.Config{
		DataDir: p.dataDir, Model: p.model, ModelInfo: p.info, Builtins: builtins,
		Launcher: p.launcher, InvokeTimeout: 2 * time.Minute, Defences: p.defences,
	})
	if err != nil {
		return nil, fmt.Errorf("isolated: %w", err)
	}
	return &isolatedSystem{e: e}, nil
}

// installApps installs the scenario's MCP apps from manifest files into
// the store of the data folder, each pinned by hash, unless an earlier
// session did; their servers' tools/list is pinned at their first start,
// as for any installed app.
func installApps(p parts, builtins []*specs.Manifest) error {
	if len(p.install) == 0 {
		return nil
	}
	st, err := store.Open(filepath.Join(p.dataDir, "store"), store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer st.Close()
	r := apps.New(st, builtins)
	for i, raw := range p.install {
		dir := filepath.Join(p.dataDir, "install", fmt.Sprint(i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		path := filepath.Join(dir, "manifest.json")
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			return err
		}
		c, err := apps.Load(path)
		if err != nil {
			return err
		}
		if _, err := r.Get(c.Manifest.ID); err == nil {
			continue // installed in an earlier session
		}
		if err := r.Install(c, false); err != nil {
			return err
		}
	}
	return nil
}

func (s *isolatedSystem) open(ctx context.Context, user string, p frontend.Prompter) (session, error) {
	return s.e.OpenSession(ctx, user, p)
}

func (s *isolatedSystem) close() error { return s.e.Close() }
