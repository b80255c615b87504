package plan

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/isolategpt/isolategpt/specs"
	"github.com/isolategpt/isolategpt/specs/schema"
)

// Catalog is the set of installed apps a plan may use, built from their
// pinned manifests.
type Catalog struct {
	apps map[string]*specs.Manifest
	ids  []string
	view []AppEntry // rendered once: manifests are immutable
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
	c.view = c.render()
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
// descriptions are app-authored text and never appear here (DESIGN.md P3).
type AppEntry struct {
	App       string          `json:"app"`
	Kind      string          `json:"kind"`
	Functions []FunctionEntry `json:"functions,omitempty"`
}

// FunctionEntry is one function in the planner's view.
type FunctionEntry struct {
	Name   string         `json:"name"`
	Effect string         `json:"effect"`
	Input  map[string]any `json:"input"`
	Output map[string]any `json:"output"`
}

// PlannerView is the catalog as the planner sees it, sorted by app id.
// Callers must not modify it.
func (c *Catalog) PlannerView() []AppEntry { return c.view }

func (c *Catalog) render() []AppEntry {
	out := make([]AppEntry, 0, len(c.ids))
	for _, id := range c.ids {
		m := c.apps[id]
		e := AppEntry{App: m.ID, Kind: m.Kind}
		for _, f := range m.Functions {
			e.Functions = append(e.Functions, FunctionEntry{
				Name:   f.Name,
				Effect: f.Effect,
				Input:  f.Input.Public(),
				Output: f.Output.Public(),
			})
		}
		out = append(out, e)
	}
	return out
}

// Descriptions is the app-authored text of every app ("app") and function
// ("app.function"). It never reaches the planner; the evaluation's
// ablation of planner isolation hands it over to show what that stops.
func (c *Catalog) Descriptions() map[string]string {
	out := map[string]string{}
	for _, id := range c.ids {
		m := c.apps[id]
		if t := strings.TrimSpace(m.Description + "\n" + m.Instructions); t != "" {
			out[id] = t
		}
		for _, f := range m.Functions {
			// The input schema in full: parameter descriptions are prose too.
			in, _ := json.Marshal(f.Input)
			out[id+"."+f.Name] = strings.TrimSpace(f.Description + " " + string(in))
		}
	}
	return out
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
