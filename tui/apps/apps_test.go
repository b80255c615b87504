package apps

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/isolategpt/isolategpt/engine/plan"
	"github.com/isolategpt/isolategpt/engine/store"
	"github.com/isolategpt/isolategpt/specs"
)

func TestPinnedState(t *testing.T) {
	m, err := specs.BuiltinByID("metro_hail")
	if err != nil {
		t.Fatal(err)
	}
	c, err := plan.NewCatalog([]*specs.Manifest{m})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		installed []store.ManifestRecord
		want      string
	}{
		{"pinned", []store.ManifestRecord{{App: "metro_hail", Hash: m.Hash()}}, "pinned " + m.Hash()[:19]},
		{"changed since pinned", []store.ManifestRecord{{App: "metro_hail", Hash: "0000"}}, "CHANGED since it was pinned"},
		{"never recorded", nil, "not recorded in the store"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s Model
			s.Load(c, tc.installed, nil)
			if v := s.View(100, 30); !strings.Contains(v, tc.want) {
				t.Fatalf("view lacks %q:\n%s", tc.want, v)
			}
		})
	}
}

func TestRevokeKey(t *testing.T) {
	var s Model
	s.Load(&plan.Catalog{}, nil, []store.Grant{{Key: "exec:a.f"}, {Key: "exec:b.g"}})
	s, _ = s.Update(tea.KeyMsg{Type: tea.KeyDown})
	if _, key := s.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("x")}); key != "exec:b.g" {
		t.Fatalf("x revokes %q, want exec:b.g", key)
	}
	if _, key := s.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("y")}); key != "" {
		t.Fatalf("y revokes %q", key)
	}
}
