package evaluation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/actors/frontend"
	hubpkg "github.com/isolategpt/isolategpt/actors/hub"
	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/actors/permission"
	"github.com/isolategpt/isolategpt/actors/root"
	"github.com/isolategpt/isolategpt/engine/apps"
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

// isolatedSystem is isolategpt's actor system wired as engine.New wires it,
// but over a catalog that may hold scenario apps (engine.New installs only
// built-in ones): the store, the permission manager, the hub, its planner
// and spokes are the real ones.
type isolatedSystem struct {
	system *actor.ActorSystem
	root   *actor.PID
	hub    *actor.PID
	store  *store.Store
}

func startIsolated(p parts) (*isolatedSystem, error) {
	logger := slog.New(slog.DiscardHandler)
	st, err := store.Open(filepath.Join(p.dataDir, "store"), store.Options{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("isolated: %w", err)
	}
	audit := func(r store.AuditRecord) { _, _ = st.Audit(r) }
	s := &isolatedSystem{store: st}
	registry, err := installApps(st, p)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("isolated: %w", err)
	}
	s.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return logger }))
	s.root, err = s.system.Root.SpawnNamed(root.Props(root.Deps{
		Permission: permission.Deps{Store: st, Sessions: permission.NewSessions(), Audit: audit, Logger: logger},
		Hub: hubpkg.Deps{
			Catalog: p.catalog, Store: st, Launcher: p.launcher, Model: llm.Metered(p.model), ModelInfo: p.info,
			AppsDir: filepath.Join(p.dataDir, "apps"), Installed: registry, Audit: audit, Logger: logger,
			InvokeTimeout: 2 * time.Minute,
		},
	}), "isolategpt")
	if err != nil {
		s.close()
		return nil, fmt.Errorf("isolated: start actors: %w", err)
	}
	res, err := s.system.Root.RequestFuture(s.root, &root.WhereRequest{}, 5*time.Second).Result()
	if err != nil {
		s.close()
		return nil, fmt.Errorf("isolated: start actors: %w", err)
	}
	s.hub = res.(*root.WhereReply).Hub
	return s, nil
}

// installApps is the registry of installed apps (engine/apps) with the
// scenario's MCP apps installed from manifest files, each pinned by hash;
// their servers' tools/list is pinned at their first start, as for any
// installed app.
func installApps(st *store.Store, p parts) (*apps.Registry, error) {
	var builtins []*specs.Manifest
	for _, id := range p.catalog.IDs() {
		if m, err := specs.BuiltinByID(id); err == nil {
			builtins = append(builtins, m)
		}
	}
	r := apps.New(st, builtins)
	for i, raw := range p.install {
		dir := filepath.Join(p.dataDir, "install", fmt.Sprint(i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		path := filepath.Join(dir, "manifest.json")
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			return nil, err
		}
		c, err := apps.Load(path)
		if err != nil {
			return nil, err
		}
		if _, err := r.Get(c.Manifest.ID); err == nil {
			continue // installed in an earlier session
		}
		if err := r.Install(c, false); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (s *isolatedSystem) request(m any) (any, error) {
	return s.system.Root.RequestFuture(s.hub, m, 5*time.Minute).Result()
}

func (s *isolatedSystem) open(_ context.Context, user string, p frontend.Prompter) (session, error) {
	fe := s.system.Root.Spawn(frontend.Props(p, nil))
	res, err := s.request(&msg.OpenSessionRequest{User: user, FrontEnd: fe})
	if err != nil {
		s.system.Root.Stop(fe)
		return nil, fmt.Errorf("open session: %w", err)
	}
	r := res.(*msg.OpenSessionReply)
	if r.Err != "" {
		s.system.Root.Stop(fe)
		return nil, fmt.Errorf("open session: %s", r.Err)
	}
	return &isolatedSession{s: s, id: r.SessionID, fe: fe}, nil
}

func (s *isolatedSystem) close() error {
	if s.root != nil {
		_ = s.system.Root.StopFuture(s.root).Wait()
	}
	s.system.Shutdown()
	return s.store.Close()
}

type isolatedSession struct {
	s  *isolatedSystem
	id string
	fe *actor.PID
}

func (i *isolatedSession) Ask(_ context.Context, query string) (*msg.Answer, error) {
	res, err := i.s.request(&msg.AskRequest{SessionID: i.id, Query: query})
	if err != nil {
		return nil, fmt.Errorf("ask: %w", err)
	}
	r := res.(*msg.AskReply)
	if r.Err != "" {
		return r.Answer, errors.New(r.Err)
	}
	return r.Answer, nil
}

func (i *isolatedSession) Close() error {
	defer i.s.system.Root.Stop(i.fe)
	res, err := i.s.request(&msg.CloseSessionRequest{SessionID: i.id})
	if err != nil {
		return fmt.Errorf("close session: %w", err)
	}
	if r := res.(*msg.CloseSessionReply); r.Err != "" {
		return fmt.Errorf("close session: %s", r.Err)
	}
	return nil
}
