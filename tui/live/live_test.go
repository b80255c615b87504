package live

import (
	"strings"
	"testing"
	"time"

	"github.com/isolategpt/isolategpt/actors/msg"
)

// TestProgressIsShownQuoted: an MCP server's progress report appears in
// the live view for a spoke of this session, its message quoted and
// marked as the app's, with no control characters reaching the screen.
func TestProgressIsShownQuoted(t *testing.T) {
	m := New("s1", func() time.Time { return time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC) })
	m.Observe(&msg.SpokeStarted{SessionID: "s1", App: "everything", Spoke: "sp1"})
	m.Observe(&msg.ToolProgress{App: "everything", Function: "trigger_long_running_operation", Spoke: "sp1", Progress: 1, Total: 4, Message: "step\x1b[31m 1"})
	m.Observe(&msg.ToolProgress{App: "other", Function: "f", Spoke: "elsewhere", Progress: 9})
	view := m.View(120, 20)
	if !strings.Contains(view, "everything.trigger_long_running_operation progress 1/4 (app says") {
		t.Errorf("no progress line:\n%s", view)
	}
	if strings.Contains(view, "\x1b[31m") || strings.Contains(view, "other.f") {
		t.Errorf("escape or another session's progress shown:\n%s", view)
	}
}
