// Package engine wires isolategpt together: the data folder and its Badger
// store, the catalog of installed apps, the LLM, and the actor system with
// its root, permission manager and hub. Front ends (the CLI, batch mode, the
// TUI) open sessions on an Engine and ask queries in them.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tmc/langchaingo/llms"

	"github.com/isolategpt/isolategpt/actors/frontend"
	"github.com/isolategpt/isolategpt/actors/hub"
	"github.com/isolategpt/isolategpt/actors/mailbox"
	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/actors/permission"
	"github.com/isolategpt/isolategpt/actors/root"
	"github.com/isolategpt/isolategpt/engine/apps"
	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/engine/llm"
	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/engine/store"
	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/launch"
	"github.com/isolategpt/isolategpt/specs"
)

// Config configures an Engine. The zero value of every duration picks the
// component's default.
type Config struct {
	// DataDir holds the store and the apps' folders. Required unless
	// InMemory is set.
	DataDir  string
	InMemory bool
	// ReadOnly opens the store read-only (commands that only read): nothing
	// in it is written, and every query fails with store.ErrReadOnly.
	ReadOnly bool
	// MinFree is the free space below which the store refuses writes
	// (store.Options.MinFree: 0 is store.DefaultMinFree, negative is off).
	MinFree int64
	// FreeSpace measures it; nil is statfs (tests give a fake).
	FreeSpace func(dir string) (uint64, error)
	// LLM is the --llm value ("offline", "openai:MODEL", …).
	LLM string
	// Getenv reads the hub's environment: LLM keys and base URLs, and the
	// variables an installed MCP app's manifest allows (env_allow). Nil
	// means os.Getenv for the LLM and nothing for apps.
	Getenv func(string) string
	// Model, when set, is used instead of LLM (tests and benchmarks).
	Model     llms.Model
	ModelInfo llm.Info
	// Apps lists the installed apps; empty means every built-in app.
	Apps []string
	// Builtins, when set, are the built-in apps instead of specs.Builtin(),
	// Apps choosing among them (the evaluation's scenario apps).
	Builtins []*specs.Manifest
	// Launcher starts apps; nil means sandboxed workers (sandbox/launch).
	Launcher sandbox.Launcher
	// AllowWeakerSandbox lets sandboxed workers start where the host
	// cannot give every layer (--allow-weaker-sandbox); SandboxStatus
	// says which are missing.
	AllowWeakerSandbox bool
	Logger             *slog.Logger
	// Defences is which of the hub's defences are on; the zero value has
	// every one on. Only the evaluation's ablation switches any off.
	Defences defence.Set

	PromptTimeout time.Duration
	InvokeTimeout time.Duration
	QueryTimeout  time.Duration
	SpokeIdle     time.Duration
	// MaxWorkers and MaxWorkersPerUser cap the live pooled spokes, each
	// with at most one worker, in all and per user; past the caps steps
	// queue. Zero reads ISOLATEGPT_MAX_WORKERS and
	// ISOLATEGPT_MAX_WORKERS_PER_USER (through Getenv, else the process
	// environment), then the hub's defaults.
	MaxWorkers        int
	MaxWorkersPerUser int
	// MaxQueries caps the queries running at once; the others wait their
	// turn, first come first served, before planning. Zero reads
	// ISOLATEGPT_MAX_QUERIES, then the hub's default (half of MaxWorkers,
	// at least 16).
	MaxQueries int
	// MaxQueriesPerUser caps one user's running queries; zero is the
	// per-user worker cap, at least 16.
	MaxQueriesPerUser int
}

// UncappedOutputBytes is the launcher's output cap with defence.OutputCap
// switched off (the evaluation's ablation): as much as a worker sends.
const UncappedOutputBytes = 64 << 20

// Engine is a running isolategpt.
type Engine struct {
	cfg     Config
	system  *actor.ActorSystem
	store   *store.Store
	catalog *plan.Catalog
	apps    *apps.Registry
	info    llm.Info
	root    *actor.PID
	hub     *actor.PID
	perms   *actor.PID
	logger  *slog.Logger
	// launcher starts the apps' workers.
	launcher sandbox.Launcher
	// tempApps is the apps' folder of an in-memory engine, removed on Close.
	tempApps string
	// ownLauncher is the launcher the engine made (closed with it).
	ownLauncher *launch.Launcher
}

// PrewarmWorkers is how many workers per app configuration the engine's
// own launcher keeps started ahead (launch.Launcher.Prewarm).
const PrewarmWorkers = 1

// New opens the data folder and starts the actor system.
func New(cfg Config) (*Engine, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if !cfg.InMemory && cfg.DataDir == "" {
		return nil, errors.New("engine: no data folder given")
	}
	model, info := cfg.Model, cfg.ModelInfo
	if model == nil {
		var err error
		model, info, err = llm.New(llm.Config{Spec: cfg.LLM, Getenv: cfg.Getenv})
		if err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
	}
	model = llm.Metered(model)
	if !cfg.Defences.On(defence.CallLimit) {
		cfg.InvokeTimeout = cfg.QueryTimeout
		if cfg.InvokeTimeout <= 0 {
			cfg.InvokeTimeout = hub.DefaultQueryTimeout
		}
	}
	if err := workerCaps(&cfg); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	builtins, err := builtinApps(cfg.Builtins, cfg.Apps)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	so := store.Options{Logger: logger.With("component", "badger"), InMemory: cfg.InMemory, ReadOnly: cfg.ReadOnly, MinFree: cfg.MinFree, FreeSpace: cfg.FreeSpace}
	st, err := store.Open(filepath.Join(cfg.DataDir, "store"), so)
	if err == nil && st.PendingAtOpen() {
		// A crash left write steps to mark interrupted (or the audit chain
		// to start): the first open records them, even for a reader, so
		// that the reader shows them. The store's files were checked all
		// the same; nothing else is written.
		logger.Info("store opened for writing once: it has records to write at open")
		if err = st.Close(); err == nil {
			so.ReadOnly = false
			st, err = store.Open(filepath.Join(cfg.DataDir, "store"), so)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("engine: data folder %s: %w", cfg.DataDir, err)
	}
	// A read-only engine leaves the built-ins' records to the next one
	// that writes.
	if !cfg.ReadOnly {
		if err := recordManifests(st, builtins); err != nil {
			st.Close()
			return nil, fmt.Errorf("engine: %w", err)
		}
	}
	registry := apps.New(st, builtins)
	catalog, err := appCatalog(registry, builtins, logger)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("engine: %w", err)
	}
	appsDir := filepath.Join(cfg.DataDir, "apps")
	if cfg.InMemory {
		if appsDir, err = os.MkdirTemp("", "isolategpt-apps-"); err != nil {
			st.Close()
			return nil, fmt.Errorf("engine: apps folder: %w", err)
		}
	}
	e := &Engine{cfg: cfg, store: st, catalog: catalog, apps: registry, info: info, logger: logger}
	if cfg.InMemory {
		e.tempApps = appsDir
	}
	// Actors queue their records and go on (group commit, store/
	// auditwriter.go); a query flushes the queue before it answers, so
	// its records are on disk before anyone sees the answer.
	audit := func(r store.AuditRecord) {
		if _, err := st.AuditAsync(r); err != nil {
			logger.Error("audit", "kind", r.Kind, "query_id", r.QueryID, "err", err)
		}
	}
	launcher := cfg.Launcher
	if launcher == nil {
		// Every app in its own confined worker process, its egress audited.
		// A worker per app configuration waits, started ahead, once
		// the app was launched twice (sandbox/launch's pool: unbound
		// until a Launch gives it one user's folder); Close kills it.
		l := &launch.Launcher{Logger: logger.With("component", "sandbox"), Egress: egressAudit(audit), AllowWeaker: cfg.AllowWeakerSandbox, Prewarm: PrewarmWorkers}
		if !cfg.Defences.On(defence.OutputCap) {
			l.MaxMessageBytes = UncappedOutputBytes
		}
		launcher = l
		e.ownLauncher = l
	}
	e.launcher = launcher
	actorLogger := logger.With("component", "actor")
	e.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return actorLogger }))
	e.root, err = e.system.Root.SpawnNamed(root.Props(root.Deps{
		Permission: permission.Deps{Store: st, Sessions: permission.NewSessions(), PromptTimeout: cfg.PromptTimeout, Audit: audit, Logger: logger, Defences: cfg.Defences},
		Hub: hub.Deps{
			Catalog: catalog, Store: st, Launcher: launcher, Model: model, ModelInfo: info,
			AppsDir: appsDir, Installed: registry, Getenv: cfg.Getenv,
			SpokeIdle: cfg.SpokeIdle, MaxSpokes: cfg.MaxWorkers, MaxSpokesPerUser: cfg.MaxWorkersPerUser,
			MaxQueries: cfg.MaxQueries, MaxQueriesPerUser: cfg.MaxQueriesPerUser,
			InvokeTimeout: cfg.InvokeTimeout,
			QueryTimeout:  cfg.QueryTimeout, Audit: audit, Logger: logger,
			Defences: cfg.Defences,
		},
		Mailboxes: mailbox.New(),
	}), "isolategpt")
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("engine: start actors: %w", err)
	}
	res, err := e.system.Root.RequestFuture(e.root, &root.WhereRequest{}, 5*time.Second).Result()
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("engine: start actors: %w", err)
	}
	where := res.(*root.WhereReply)
	e.hub, e.perms = where.Hub, where.Permission
	return e, nil
}

// builtinApps returns the built-in apps named in ids, or all of them.
func builtinApps(all []*specs.Manifest, ids []string) ([]*specs.Manifest, error) {
	if all == nil {
		var err error
		if all, err = specs.Builtin(); err != nil {
			return nil, err
		}
	}
	if len(ids) == 0 {
		return all, nil
	}
	byID := map[string]*specs.Manifest{}
	for _, m := range all {
		byID[m.ID] = m
	}
	var ms []*specs.Manifest
	for _, id := range ids {
		m, ok := byID[id]
		if !ok {
			return nil, fmt.Errorf("unknown app %q", id)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// appCatalog is the built-in apps plus the apps installed from files. An
// installed app whose stored manifest no longer matches its pin is left
// out (and logged): it does not run until it is installed again.
func appCatalog(r *apps.Registry, builtins []*specs.Manifest, logger *slog.Logger) (*plan.Catalog, error) {
	installed, err := r.Installed()
	if err != nil && !errors.Is(err, apps.ErrPin) {
		return nil, err
	}
	if err != nil {
		logger.Error("installed apps left out", "err", err)
	}
	return plan.NewCatalog(append(slices.Clone(builtins), installed...))
}

// recordManifests stores each built-in manifest with its hash.
func recordManifests(st *store.Store, builtins []*specs.Manifest) error {
	for _, m := range builtins {
		id := m.ID
		old, err := st.Manifest(id)
		if err == nil && old.Hash == m.Hash() {
			continue
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("read manifest %s: %w", id, err)
		}
		if err := st.PutManifest(store.ManifestRecord{App: id, Hash: m.Hash(), Raw: m.Raw(), InstalledAt: time.Now().UTC()}); err != nil {
			return fmt.Errorf("record manifest %s: %w", id, err)
		}
	}
	return nil
}

// Close stops the actors and closes the store.
func (e *Engine) Close() error {
	if e.system != nil && e.root != nil {
		_ = e.system.Root.StopFuture(e.root).Wait()
	}
	if e.system != nil {
		e.system.Shutdown()
	}
	if e.ownLauncher != nil {
		_ = e.ownLauncher.Close()
	}
	if e.tempApps != "" {
		_ = os.RemoveAll(e.tempApps)
	}
	return e.store.Close()
}

// SandboxStatus is every layer of the apps' sandbox, enforced or not: as
// the last worker got them, or, before any, as a probe worker gets them.
// Nil when apps do not run in sandboxed workers.
func (e *Engine) SandboxStatus(ctx context.Context) []sandbox.Layer {
	l, ok := e.launcher.(interface {
		Layers() []sandbox.Layer
		Status(context.Context) []sandbox.Layer
	})
	if !ok {
		return nil
	}
	if ls := l.Layers(); ls != nil {
		return ls
	}
	return l.Status(ctx)
}

// Store is the engine's store (for the audit command and tests).
func (e *Engine) Store() *store.Store { return e.store }

// Interruptions are the write steps found started without an outcome when
// this engine opened its data folder: the process that ran them stopped
// before it could record what happened. Each is in the audit log as an
// "interrupted" step record, written once; none is run again by itself.
// Front ends show them so the user can check (was the mail sent?).
func (e *Engine) Interruptions() []store.AuditRecord { return e.store.Interruptions() }

// Catalog is the set of installed apps.
func (e *Engine) Catalog() *plan.Catalog { return e.catalog }

// Apps is the registry of installed apps and their pins.
func (e *Engine) Apps() *apps.Registry { return e.apps }

// ModelInfo says which model plans.
func (e *Engine) ModelInfo() llm.Info { return e.info }

// System is the actor system, for observers of its event stream.
func (e *Engine) System() *actor.ActorSystem { return e.system }

// Logger is the engine's logger (a file in the data folder for the CLI).
func (e *Engine) Logger() *slog.Logger { return e.logger }

// Status asks the hub what is alive: sessions, queries and spokes.
func (e *Engine) Status(ctx context.Context) (*msg.StatusReply, error) {
	res, err := e.request(ctx, e.hub, &msg.StatusRequest{})
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	r, ok := res.(*msg.StatusReply)
	if !ok {
		return nil, fmt.Errorf("status: hub answered with %T", res)
	}
	return r, nil
}

// Session is a user's session: its spokes and session grants live until Close.
type Session struct {
	e        *Engine
	id       string
	user     string
	frontEnd *actor.PID
}

// OpenSession starts a session for user. Prompts go to p; nil means there
// is no front end and every prompt is denied.
func (e *Engine) OpenSession(ctx context.Context, user string, p frontend.Prompter) (*Session, error) {
	s := &Session{e: e, user: user}
	if p != nil {
		s.frontEnd = e.system.Root.Spawn(frontend.Props(p, e.logger))
	}
	res, err := e.request(ctx, e.hub, &msg.OpenSessionRequest{User: user, FrontEnd: s.frontEnd})
	if err != nil {
		s.stopFrontEnd()
		return nil, fmt.Errorf("open session: %w", err)
	}
	r := res.(*msg.OpenSessionReply)
	if r.Err != "" {
		s.stopFrontEnd()
		return nil, fmt.Errorf("open session: %s", r.Err)
	}
	s.id = r.SessionID
	return s, nil
}

// ID is the session id.
func (s *Session) ID() string { return s.id }

// User is the session's user.
func (s *Session) User() string { return s.user }

// Ask runs one query and returns its answer. The error is set when the
// query could not be answered; the answer, when not nil, says why.
func (s *Session) Ask(ctx context.Context, query string) (*msg.Answer, error) {
	// Fail closed: no query runs whose audit records cannot be written
	// (a full disk, a read-only store).
	if err := s.e.store.Writable(); err != nil {
		return nil, fmt.Errorf("ask: %w", err)
	}
	res, err := s.e.request(ctx, s.e.hub, &msg.AskRequest{SessionID: s.id, Query: query})
	if err != nil {
		return nil, fmt.Errorf("ask: %w", err)
	}
	r := res.(*msg.AskReply)
	if r.Cause != nil {
		return r.Answer, r.Cause
	}
	if r.Err != "" {
		return r.Answer, errors.New(r.Err)
	}
	return r.Answer, nil
}

// Close ends the session: its spokes stop and its session grants end.
func (s *Session) Close() error {
	defer s.stopFrontEnd()
	res, err := s.e.request(context.Background(), s.e.hub, &msg.CloseSessionRequest{SessionID: s.id})
	if err != nil {
		return fmt.Errorf("close session: %w", err)
	}
	if r := res.(*msg.CloseSessionReply); r.Err != "" {
		return fmt.Errorf("close session: %s", r.Err)
	}
	return nil
}

func (s *Session) stopFrontEnd() {
	if s.frontEnd != nil {
		s.e.system.Root.Stop(s.frontEnd)
	}
}

// request sends a request and waits for the reply, bounded by ctx (or by
// the query timeout plus a margin when ctx has no deadline).
func (e *Engine) request(ctx context.Context, pid *actor.PID, m any) (any, error) {
	timeout := e.cfg.QueryTimeout
	if timeout <= 0 {
		timeout = hub.DefaultQueryTimeout
	}
	timeout += 30 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	f := e.system.Root.RequestFuture(pid, m, timeout)
	done := make(chan struct{})
	var res any
	var err error
	go func() {
		res, err = f.Result()
		close(done)
	}()
	select {
	case <-done:
		return res, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
