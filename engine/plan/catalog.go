package plan

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/specs"
	"github.com/isolategpt/isolategpt/specs/schema"
)

// Catalog is the set of installed apps a plan may use, built from their
// pinned manifests.
type Catalog struct {
	apps map[string]*specs.Manifest
	ids  []string
	// Rendered once (manifests are immutable): identifiers only; as
	// before the catalog_identifiers defence; with the apps' prose.
	view, loose, full []AppEntry
	// The same three views encoded as JSON once, for the planner's request
	// (re-encoding the ~11 KB view on every plan was a third of its cost).
	viewJSON, looseJSON, fullJSON json.RawMessage
}

// NewCatalog indexes manifests by app id.
func NewCatalog(ms []*specs.Manifest) (*Catalog, error) {
	c := &Catalog{apps: make(map[string]*specs.Manifest, len(ms))}
	for _, m := range ms {
		if _, dup := c.apps[m.ID]; dup {
			return nil, fmt.Errorf("catalog: app %q installed twice", m.ID)
		}
		c.apps[m.ID] = m
		c.ids = append(c.ids, m.ID)
	}
	sort.Strings(c.ids)
	c.view, c.loose, c.full = c.render(identifiersOnly), c.render(public), c.render(withProse)
	var err error
	for _, v := range []struct {
		dst *json.RawMessage
		src []AppEntry
	}{{&c.viewJSON, c.view}, {&c.looseJSON, c.loose}, {&c.fullJSON, c.full}} {
		if *v.dst, err = json.Marshal(v.src); err != nil {
			return nil, fmt.Errorf("catalog: encode view: %w", err)
		}
	}
	return c, nil
}

// App returns the manifest of an installed app.
func (c *Catalog) App(id string) (*specs.Manifest, bool) {
	m, ok := c.apps[id]
	return m, ok
}

// Function returns one function of an installed app.
func (c *Catalog) Function(app, fn string) (*specs.Function, bool) {
	m, ok := c.apps[app]
	if !ok {
		return nil, false
	}
	return m.Function(fn)
}

// IDs lists the installed app ids, sorted.
func (c *Catalog) IDs() []string { return append([]string(nil), c.ids...) }

// AppEntry is what the planner is told about one app: identifiers and typed
// schemas only. App descriptions, function descriptions and schema
// descriptions are app-authored text and never appear here (DESIGN.md P3);
// Description is filled only when the evaluation switches planner
// isolation off.
type AppEntry struct {
	App         string          `json:"app"`
	Kind        string          `json:"kind"`
	Description string          `json:"description,omitempty"`
	Functions   []FunctionEntry `json:"functions,omitempty"`
}

// FunctionEntry is one function in the planner's view.
type FunctionEntry struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Effect      string         `json:"effect"`
	Input       map[string]any `json:"input"`
	Output      map[string]any `json:"output"`
}

// PlannerView is the catalog as the planner sees it, sorted by app id:
// View with every defence on. Callers must not modify it.
func (c *Catalog) PlannerView() []AppEntry { return c.view }

// View is the catalog as the planner and every app's assistant (its list
// of other apps' functions) see it. Its strings are identifiers, types,
// the formats the hub knows and numbers; an enum that lists any other
// string is left out (the value is still checked when the plan runs). The
// evaluation alone switches either defence off: without
// catalog_identifiers enums keep any string the manifest allows (64
// characters, spaces included); without planner_isolation the apps'
// descriptions, titles and defaults come too.
func (c *Catalog) View(d defence.Set) []AppEntry {
	if !d.On(defence.PlannerIsolation) {
		return c.full
	}
	if !d.On(defence.CatalogIdentifiers) {
		return c.loose
	}
	return c.view
}

// ViewJSON is View encoded as JSON, computed once per catalog (a catalog
// is immutable: installing an app builds a new one). Callers must not
// modify it.
func (c *Catalog) ViewJSON(d defence.Set) json.RawMessage {
	if !d.On(defence.PlannerIsolation) {
		return c.fullJSON
	}
	if !d.On(defence.CatalogIdentifiers) {
		return c.looseJSON
	}
	return c.viewJSON
}

type rendering int

const (
	identifiersOnly rendering = iota
	public
	withProse
)

func (c *Catalog) render(how rendering) []AppEntry {
	out := make([]AppEntry, 0, len(c.ids))
	for _, id := range c.ids {
		m := c.apps[id]
		e := AppEntry{App: m.ID, Kind: m.Kind}
		if how == withProse {
			// A prompt app's instructions are its prose too.
			e.Description = strings.TrimSpace(m.Description + "\n" + m.Instructions)
		}
		for _, f := range m.Functions {
			fe := FunctionEntry{Name: f.Name, Effect: f.Effect, Input: f.Input.Public(), Output: f.Output.Public()}
			switch how {
			case identifiersOnly:
				identifiers(fe.Input)
				identifiers(fe.Output)
			case withProse:
				fe.Description = f.Description
				fe.Input, fe.Output = prose(f.Input), prose(f.Output)
			}
			e.Functions = append(e.Functions, fe)
		}
		out = append(out, e)
	}
	return out
}

// identifiers removes, through a public schema, every enum that lists a
// string which is not an identifier of the planner's charset and length.
func identifiers(s map[string]any) {
	if enum, ok := s["enum"].([]any); ok {
		for _, v := range enum {
			if str, isStr := v.(string); isStr && !schema.ValidName(str) {
				delete(s, "enum")
				break
			}
		}
	}
	if props, ok := s["properties"].(map[string]any); ok {
		for _, p := range props {
			if ps, ok := p.(map[string]any); ok {
				identifiers(ps)
			}
		}
	}
	if items, ok := s["items"].(map[string]any); ok {
		identifiers(items)
	}
}

// prose is a schema with its descriptions, titles and defaults.
func prose(s *schema.Schema) map[string]any {
	b, err := json.Marshal(s)
	if err != nil {
		return s.Public()
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return s.Public()
	}
	return m
}

// Output schemas of the hub's own step kinds.
var (
	agentOutput = mustCompile(`{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}`)
	opOutput    = mustCompile(`{"type":"object","properties":{"app":{"type":"string"},"step":{"type":"string"},"value":{"type":"number"}},"required":["app","step","value"]}`)
)

// AgentOutput is the schema of an agent step's result.
func AgentOutput() *schema.Schema { return agentOutput }

// OpOutput is the schema of an operator step's result.
func OpOutput() *schema.Schema { return opOutput }

func mustCompile(s string) *schema.Schema {
	sc, err := schema.Compile([]byte(s))
	if err != nil {
		panic(fmt.Sprintf("plan: built-in schema: %v", err))
	}
	return sc
}
