package planner_test

import (
	"encoding/json"
	"testing"

	"github.com/isolategpt/isolategpt/engine/defence"
	"github.com/isolategpt/isolategpt/engine/planner"
)

// TestEncodeRequestMatchesMarshal checks that the request built around the
// catalog's cached JSON is byte for byte what encoding the whole request
// gives, for every view of the catalog, so that caching changes nothing a
// model sees.
func TestEncodeRequestMatchesMarshal(t *testing.T) {
	_, c := builtin(t)
	noIdents, err := defence.Off(defence.CatalogIdentifiers)
	if err != nil {
		t.Fatal(err)
	}
	noIsolation, err := defence.Off(defence.PlannerIsolation)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		d      defence.Set
		query  string
		memory []string
	}{
		{"all on", defence.Set{}, "fares from <A> & B \u2028", nil},
		{"no identifiers", noIdents, "q", []string{"earlier \"turn\""}},
		{"no isolation", noIsolation, "", []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := planner.EncodeRequest(tc.query, tc.memory, c.ViewJSON(tc.d))
			if err != nil {
				t.Fatal(err)
			}
			mem := tc.memory
			if mem == nil {
				mem = []string{}
			}
			want, err := json.Marshal(planner.Request{Query: tc.query, Memory: mem, Catalog: c.View(tc.d)})
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("cached encoding differs:\n got %.200s\nwant %.200s", got, want)
			}
		})
	}
}
