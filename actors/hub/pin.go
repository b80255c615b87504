package hub

import (
	"fmt"
	"strings"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/store"
	"github.com/isolategpt/isolategpt/specs"
)

// toolsChanged asks the user whether an MCP app whose server reports
// other tools than the pinned ones may run with the new ones. The spoke
// that found the change has stopped the worker; the prompt is the hub's:
// which app, what changed (tool names quoted), and what each answer does.
// It is never settled by a stored grant: a Pin prompt's key names the
// exact tools, and "always" is not offered.
func (h *hub) toolsChanged(ctx actor.Context, m *msg.ToolsChangedRequest) {
	from, why := h.busySpoke(ctx, m.QueryID)
	if why != "" {
		ctx.Respond(&msg.ToolsChangedReply{CallID: m.CallID, QueryID: m.QueryID, Reason: why})
		return
	}
	changes := strings.Join(m.Changes, "; ")
	warning := fmt.Sprintf("The MCP server of %s now reports different tools than the ones pinned when it first ran (%s). "+
		"It has been stopped. Allow to pin the new tools and run it; deny to keep it stopped.", from.app, changes)
	if len(m.Missing) > 0 {
		warning += fmt.Sprintf(" Functions of its manifest it no longer offers: %s.", strings.Join(m.Missing, ", "))
	}
	p := msg.Prompt{
		Kind: msg.Pin, App: from.app, Pin: m.Hash, Warning: warning,
		Data: []msg.DataItem{{Name: "tools_hash", Value: m.Hash, Origin: from.app + " (tools/list)"}},
	}
	h.permit(ctx, from.session, m.QueryID, p, func(allowed bool, reason string) {
		outcome := "denied"
		if allowed {
			outcome = "repinned"
		}
		h.d.Audit(store.AuditRecord{
			User: from.user, Session: from.session, QueryID: m.QueryID, Kind: "pin", App: from.app, Outcome: outcome,
			Detail: jsonDetail(map[string]any{"tools_hash": m.Hash, "changes": m.Changes, "missing": m.Missing, "reason": reason}),
		})
		ctx.Respond(&msg.ToolsChangedReply{CallID: m.CallID, QueryID: m.QueryID, Allowed: allowed, Reason: reason})
	})
}

// installDir is the folder an MCP app's files are in.
func (h *hub) installDir(m *specs.Manifest) (string, error) {
	if m.MCP == nil {
		return "", nil
	}
	if h.d.Installed == nil {
		return "", fmt.Errorf("app %s: no registry of installed apps", m.ID)
	}
	return h.d.Installed.InstallDir(m.ID)
}
