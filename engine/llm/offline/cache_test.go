package offline

import (
	"testing"
)

// TestCatalogDecodedOnce checks that one catalog version is decoded once
// and then shared, that a different catalog is decoded afresh, and that a
// request without a catalog is not taken for a planner request.
func TestCatalogDecodedOnce(t *testing.T) {
	m := New()
	a := `{"query":"q","memory":[],"catalog":[{"app":"a","kind":"tool","functions":[{"name":"f","effect":"read","input":{},"output":{}}]}]}`
	b := `{"query":"q","memory":[],"catalog":[{"app":"b","kind":"tool"}]}`
	r1, ok := m.plannerRequest(a)
	if !ok || len(r1.Catalog) != 1 || r1.Catalog[0].App != "a" {
		t.Fatalf("first request: %+v %v", r1, ok)
	}
	r2, _ := m.plannerRequest(a)
	if &r1.Catalog[0] != &r2.Catalog[0] {
		t.Fatal("the same catalog was decoded twice")
	}
	r3, ok := m.plannerRequest(b)
	if !ok || r3.Catalog[0].App != "b" {
		t.Fatalf("another catalog: %+v %v", r3, ok)
	}
	for _, text := range []string{`{"query":"q","catalog":null}`, `{"query":"q"}`, `not json`, `{"catalog":{"x":1}}`} {
		if _, ok := m.plannerRequest(text); ok {
			t.Errorf("%s taken for a planner request", text)
		}
	}
	for i := 0; i < 3*maxCatalogs; i++ {
		m.plannerRequest(`{"query":"q","catalog":[{"app":"x` + string(rune('a'+i)) + `","kind":"tool"}]}`)
	}
	if n := len(m.catalogs.m); n > maxCatalogs {
		t.Fatalf("cache holds %d catalogs, bound %d", n, maxCatalogs)
	}
}
