package hub

import (
	"fmt"
	"strings"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/label"
	"github.com/isolategpt/isolategpt/engine/store"
	"github.com/isolategpt/isolategpt/engine/untrusted"
	"github.com/isolategpt/isolategpt/specs"
)

// maxPinChanges is how many changed parts a pin prompt shows; the rest
// are counted.
const maxPinChanges = 8

// toolsChanged asks the user whether an MCP app whose server reports
// other tools than the pinned ones may run with the new ones. The spoke
// that found the change has stopped the worker. The prompt's sentences are
// the hub's and name only the installed app; what changed — tool names,
// old and new descriptions and schemas — is the server's text, shown as
// data items, quoted and labelled as the app's. It is never settled by a
// stored grant: a Pin prompt is always warned, its key names the exact
// tools, and only a person or a policy rule for pins can approve it.
func (h *hub) toolsChanged(ctx actor.Context, m *msg.ToolsChangedRequest) {
	from, why := h.busySpoke(ctx, m.QueryID)
	if why != "" {
		ctx.Respond(&msg.ToolsChangedReply{CallID: m.CallID, QueryID: m.QueryID, Reason: why})
		return
	}
	server := label.Of(label.Output(from.app, "tools_list", "pin"))
	data := []msg.DataItem{{Name: "tools_hash", Value: untrusted.Escape(m.Hash), Origin: server.Sources()[0], Labels: server}}
	for i, c := range m.Diffs {
		if i == maxPinChanges {
			data = append(data, msg.DataItem{Name: "more changes", Value: fmt.Sprint(len(m.Diffs) - i), Origin: server.Sources()[0], Labels: server})
			break
		}
		add := func(name, text string) {
			data = append(data, msg.DataItem{Name: fmt.Sprintf("change %d, %s", i+1, name), Value: untrusted.Quote(text, 200), Origin: server.Sources()[0], Labels: server})
		}
		add("tool", c.Tool)
		if c.Part != msg.PartAdded {
			add(c.Part+", pinned", c.Old)
		}
		if c.Part != msg.PartRemoved {
			add(c.Part+", now", c.New)
		}
	}
	if len(m.Missing) > 0 {
		data = append(data, msg.DataItem{Name: "functions no longer offered", Value: untrusted.Quote(strings.Join(m.Missing, ", "), 200), Origin: server.Sources()[0], Labels: server})
	}
	p := msg.Prompt{Kind: msg.Pin, App: from.app, Pin: m.Hash, ChosenBy: from.app, Data: data}
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
