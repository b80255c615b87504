package offline

import (
	"encoding/json"
	"sync"

	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/engine/planner"
)

// maxCatalogs bounds the cache: one catalog per catalog version and view,
// and a new version only when apps are installed.
const maxCatalogs = 8

// catalogCache holds decoded catalogs by their JSON, so that the ~11 KB
// catalog the planner sends with every query is decoded once per catalog
// version rather than once per query. The decoded entries are shared and
// only read.
type catalogCache struct {
	mu sync.Mutex
	m  map[string][]plan.AppEntry
}

// wireRequest is planner.Request with the catalog left encoded.
type wireRequest struct {
	Query   string          `json:"query"`
	Memory  []string        `json:"memory"`
	Catalog json.RawMessage `json:"catalog"`
}

// plannerRequest reads a planner request, or reports that text is not one
// (then it is a turn of an agent loop).
func (m *Model) plannerRequest(text string) (planner.Request, bool) {
	var w wireRequest
	if json.Unmarshal([]byte(text), &w) != nil || len(w.Catalog) == 0 || string(w.Catalog) == "null" {
		return planner.Request{}, false
	}
	catalog, ok := m.catalogs.get(w.Catalog)
	if !ok {
		return planner.Request{}, false
	}
	return planner.Request{Query: w.Query, Memory: w.Memory, Catalog: catalog}, true
}

func (c *catalogCache) get(raw json.RawMessage) ([]plan.AppEntry, bool) {
	c.mu.Lock()
	cached, ok := c.m[string(raw)]
	c.mu.Unlock()
	if ok {
		return cached, true
	}
	var entries []plan.AppEntry
	if json.Unmarshal(raw, &entries) != nil || entries == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCatalogs {
		c.m = map[string][]plan.AppEntry{}
	}
	c.m[string(raw)] = entries
	return entries, true
}
