// Package apps is the registry of installed apps over the store: the
// built-in apps the binary ships, plus the apps a user installed from a
// manifest file after seeing it whole and consenting; each installed
// manifest is pinned by its hash, and an MCP app's tools/list by the hash
// of what its server reported at its first start (DESIGN.md P7).
//
//	apps install FILE ──Load──▶ Candidate ──(user reads it, says yes)──▶ Install
//	engine start ──Installed──▶ manifests whose stored bytes still match their pin
//	first start of an MCP app ──CheckTools──▶ pinned now │ same │ changed ─▶ ask, Repin
package apps

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/isolategpt/isolategpt/engine/store"
	"github.com/isolategpt/isolategpt/specs"
)

// Errors.
var (
	// ErrNotInstalled marks an app id with no installed app.
	ErrNotInstalled = errors.New("app not installed")
	// ErrBuiltin marks an operation refused because the app is built in.
	ErrBuiltin = errors.New("built-in app")
	// ErrExists marks an install over an installed app without replace.
	ErrExists = errors.New("app already installed")
	// ErrPin marks a stored manifest or tools/list that no longer matches
	// its pin.
	ErrPin = errors.New("pin mismatch")
)

// App is one app as the registry knows it.
type App struct {
	Manifest *specs.Manifest
	Builtin  bool
	// Source is the manifest file it was installed from and Dir the folder
	// its files are in; empty for built-in apps.
	Source      string
	Dir         string
	InstalledAt time.Time
	// ToolsHash pins an MCP app's tools/list; empty until its first start.
	ToolsHash string
}

// Registry is the installed-app registry. It is safe for concurrent use.
type Registry struct {
	st       *store.Store
	builtins []*specs.Manifest
	mu       sync.Mutex // serialises pin updates
}

// New returns the registry over st; builtins are the apps the binary ships
// (specs.Builtin, or a subset).
func New(st *store.Store, builtins []*specs.Manifest) *Registry {
	return &Registry{st: st, builtins: slices.Clone(builtins)}
}

func (r *Registry) builtin(id string) (*specs.Manifest, bool) {
	for _, m := range r.builtins {
		if m.ID == id {
			return m, true
		}
	}
	return nil, false
}

// isBuiltinID reports whether id names an app the binary ships, whether or
// not this registry was given it: an installed app never takes such a name.
func isBuiltinID(id string) bool {
	_, err := specs.BuiltinByID(id)
	return err == nil
}

// builtinName reports whether id is taken by a built-in app: one of this
// registry's (the engine's, which may stand in for the binary's) or one
// the binary ships. The store keeps a record of a built-in's pin too.
func (r *Registry) builtinName(id string) bool {
	_, ok := r.builtin(id)
	return ok || isBuiltinID(id)
}

// List returns the built-in apps and then the installed ones, each group
// sorted by id. An installed app whose stored manifest no longer matches
// its pin is left out and reported in the error (errors.Is ErrPin), with
// the others still returned.
func (r *Registry) List() ([]App, error) {
	out := make([]App, 0, len(r.builtins))
	for _, m := range r.builtins {
		out = append(out, App{Manifest: m, Builtin: true})
	}
	recs, err := r.st.Manifests()
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	var errs []error
	for _, rec := range recs {
		if r.builtinName(rec.App) {
			continue // the record the engine keeps of a built-in's pin
		}
		a, err := fromRecord(rec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, a)
	}
	return out, errors.Join(errs...)
}

// Get returns one app, built in or installed.
func (r *Registry) Get(id string) (App, error) {
	if m, ok := r.builtin(id); ok {
		return App{Manifest: m, Builtin: true}, nil
	}
	rec, err := r.record(id)
	if err != nil {
		return App{}, err
	}
	return fromRecord(rec)
}

func (r *Registry) record(id string) (store.ManifestRecord, error) {
	if r.builtinName(id) {
		return store.ManifestRecord{}, fmt.Errorf("app %q: %w", id, ErrBuiltin)
	}
	rec, err := r.st.Manifest(id)
	if errors.Is(err, store.ErrNotFound) {
		return rec, fmt.Errorf("app %q: %w", id, ErrNotInstalled)
	}
	if err != nil {
		return rec, fmt.Errorf("app %q: %w", id, err)
	}
	return rec, nil
}

// fromRecord re-parses a stored manifest and checks it against its pin:
// the store is trusted, but a manifest that does not hash to what the user
// approved is not run.
func fromRecord(rec store.ManifestRecord) (App, error) {
	m, err := specs.Parse(rec.Raw)
	if err != nil {
		return App{}, fmt.Errorf("app %s: stored manifest: %w: %w", rec.App, err, ErrPin)
	}
	if m.ID != rec.App || m.Hash() != rec.Hash {
		return App{}, fmt.Errorf("app %s: stored manifest does not match the pin the user approved: %w", rec.App, ErrPin)
	}
	return App{Manifest: m, Source: rec.Source, Dir: rec.Dir, InstalledAt: rec.InstalledAt, ToolsHash: rec.ToolsHash}, nil
}

// Installed returns the manifests of the apps installed from files, for
// the catalog, sorted by id; apps whose pin no longer matches are left out
// and reported in the error.
func (r *Registry) Installed() ([]*specs.Manifest, error) {
	all, err := r.List()
	var out []*specs.Manifest
	for _, a := range all {
		if !a.Builtin {
			out = append(out, a.Manifest)
		}
	}
	return out, err
}

// Install records an app the user has seen and approved. An app that is
// built in, or an app of kind builtin (its code would have to be in the
// binary), is refused; so is an app already installed unless replace is
// set. Replacing keeps the tools/list pin when the app's folder and
// command are unchanged, so a server that changed its tools together with
// its manifest is still asked about.
func (r *Registry) Install(c *Candidate, replace bool) error {
	m := c.Manifest
	if r.builtinName(m.ID) {
		return fmt.Errorf("install %s: the name is taken by a %w; an installed app cannot replace or shadow it", m.ID, ErrBuiltin)
	}
	if m.Kind == specs.KindBuiltin {
		return fmt.Errorf("install %s: kind %q is for apps compiled into isolategpt; install an %q or %q app", m.ID, specs.KindBuiltin, specs.KindMCP, specs.KindPrompt)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := store.ManifestRecord{App: m.ID, Hash: m.Hash(), Raw: m.Raw(), InstalledAt: time.Now().UTC(), Source: c.Source, Dir: c.Dir}
	if c.Tools != nil {
		canon, err := CanonicalTools(c.Tools)
		if err != nil {
			return fmt.Errorf("install %s: %w", m.ID, err)
		}
		rec.ToolsHash, rec.Tools = hashOf(canon), canon
	}
	old, err := r.st.Manifest(m.ID)
	switch {
	case err == nil && !replace:
		return fmt.Errorf("install %s: %w (remove it first, or replace it)", m.ID, ErrExists)
	case err == nil:
		if prev, perr := specs.Parse(old.Raw); perr == nil && old.Dir == c.Dir && sameLaunch(prev, m) && c.Tools == nil {
			rec.ToolsHash, rec.Tools = old.ToolsHash, old.Tools
		}
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("install %s: %w", m.ID, err)
	}
	if err := r.st.PutManifest(rec); err != nil {
		return fmt.Errorf("install %s: %w", m.ID, err)
	}
	return nil
}

func sameLaunch(a, b *specs.Manifest) bool {
	if a.MCP == nil || b.MCP == nil {
		return false
	}
	return a.MCP.Command == b.MCP.Command && slices.Equal(a.MCP.Args, b.MCP.Args)
}

// Remove uninstalls an app. Built-in apps cannot be removed. The app's
// data folders and spoke memory are left alone.
func (r *Registry) Remove(id string) error {
	if _, err := r.record(id); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.st.RemoveManifest(id); err != nil {
		return fmt.Errorf("remove %s: %w", id, err)
	}
	return nil
}

// InstallDir is the folder an installed app's files are in; "" for a
// built-in app.
func (r *Registry) InstallDir(app string) (string, error) {
	if _, ok := r.builtin(app); ok {
		return "", nil
	}
	a, err := r.Get(app)
	if err != nil {
		return "", err
	}
	return a.Dir, nil
}
