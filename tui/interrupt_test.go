package tui

import (
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/isolategpt/isolategpt/engine/store"
)

// A write step left started by a process that died is named in the header
// of its user's TUI, and of no one else's.
func TestHeaderNamesInterruptedWrites(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"alice", "bob", "bob"} {
		if _, err := st.AuditIntent(store.AuditRecord{User: user, QueryID: "q-cut", Kind: "step", App: "mail", Function: "send"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, dir)
	m, err := New(t.Context(), Env{Engine: e, Session: openSession(t, e, NewPrompter())})
	if err != nil {
		t.Fatal(err)
	}
	m.Update(tea.WindowSizeMsg{Width: 200, Height: 30})
	header := strings.SplitN(m.View(), "\n", 2)[0]
	if !strings.Contains(header, "1 write step(s) interrupted, outcome unknown") {
		t.Fatalf("header does not name alice's interrupted write: %q", header)
	}
}
