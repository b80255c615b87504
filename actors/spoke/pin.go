package spoke

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/apps"
	"github.com/isolategpt/isolategpt/sandbox"
)

// Installed is the registry a spoke checks its MCP app's tools/list
// against at every start of its worker (engine/apps.Registry).
type Installed interface {
	// InstallDir is the folder an installed app's files are in ("" for a
	// built-in app).
	InstallDir(app string) (string, error)
	CheckTools(app string, tools []sandbox.Tool) (apps.ToolCheck, error)
	Repin(app string, tools []sandbox.Tool, hash string) error
	// PinnedTools is the tools/list pinned now, for showing what changed.
	PinnedTools(app string) ([]sandbox.Tool, error)
}

// ErrToolsDenied marks calls refused because the app's tools changed and
// the user did not approve the change: the app stays stopped for the rest
// of this spoke's life, and the next spoke asks again.
var ErrToolsDenied = errors.New("its server's tools changed since they were pinned, and the change was not approved")

type queryKey struct{}

// withQuery carries the query a call serves, for the prompt a changed
// tools/list needs.
func withQuery(ctx context.Context, queryID string) context.Context {
	return context.WithValue(ctx, queryKey{}, queryID)
}

func queryOf(ctx context.Context) string {
	q, _ := ctx.Value(queryKey{}).(string)
	return q
}

// verifyTools runs on every fresh worker of an MCP app, before any call
// reaches it:
//
//	ListTools ──CheckTools──▶ first start: pinned, go on
//	                         same as the pin: go on
//	                         changed: stop the worker ──ToolsChangedRequest──▶ hub ──▶ user
//	                              deny:    the app stays stopped (ErrToolsDenied)
//	                              approve: Repin, start a fresh worker, check again
//
// The second check must match what the user approved; a server that
// changes again in between is stopped and the call fails.
func (s *spoke) verifyTools(ctx context.Context, c sandbox.Conn) (sandbox.Conn, error) {
	id := s.d.App.ID
	if s.d.Installed == nil {
		_ = c.Close()
		return nil, fmt.Errorf("app %s: no registry to check its tools/list pin against", id)
	}
	chk, tools, err := s.checkTools(ctx, c)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	if !chk.Changed {
		if chk.FirstPin {
			s.d.Logger.Info("pinned tools", "app", id, "tools_hash", chk.Hash)
		}
		if len(chk.Missing) > 0 {
			// Calls to them fail as the server's own errors; say why once.
			s.d.Logger.Warn("server lacks declared functions", "app", id, "functions", strings.Join(chk.Missing, ","))
		}
		return c, nil
	}
	// Nothing runs while the user decides.
	_ = c.Close()
	s.d.Logger.Warn("tools changed", "app", id, "tools_hash", chk.Hash, "changes", strings.Join(chk.Changes, "; "))
	pinned, err := s.d.Installed.PinnedTools(id)
	if err != nil {
		return nil, fmt.Errorf("app %s: read its pinned tools: %w", id, err)
	}
	allowed, reason, err := s.askRepin(ctx, chk, toolChanges(pinned, tools))
	if err != nil {
		return nil, fmt.Errorf("app %s: its tools changed and the user could not be asked: %w", id, err)
	}
	if !allowed {
		why := ""
		if reason != "" {
			why = ", " + reason
		}
		return nil, fmt.Errorf("app %s is stopped (%s%s): %w", id, strings.Join(chk.Changes, "; "), why, ErrToolsDenied)
	}
	if err := s.d.Installed.Repin(id, tools, chk.Hash); err != nil {
		return nil, err
	}
	c2, err := s.d.Launcher.Launch(ctx, s.app.app, s.app.dir)
	if err != nil {
		return nil, fmt.Errorf("start app %s: %w", id, err)
	}
	again, _, err := s.checkTools(ctx, c2)
	if err == nil && again.Changed {
		err = fmt.Errorf("app %s: its tools changed again after the user approved them: %w", id, apps.ErrPin)
	}
	if err != nil {
		_ = c2.Close()
		return nil, err
	}
	return c2, nil
}

func (s *spoke) checkTools(ctx context.Context, c sandbox.Conn) (apps.ToolCheck, []sandbox.Tool, error) {
	tools, err := c.ListTools(ctx)
	if err != nil {
		return apps.ToolCheck{}, nil, fmt.Errorf("app %s: list tools: %w", s.d.App.ID, err)
	}
	chk, err := s.d.Installed.CheckTools(s.d.App.ID, tools)
	if err != nil {
		return apps.ToolCheck{}, nil, err
	}
	return chk, tools, nil
}

// askRepin asks the user, through the hub and the permission manager.
func (s *spoke) askRepin(ctx context.Context, chk apps.ToolCheck, diffs []msg.ToolChange) (bool, string, error) {
	r, err := s.client.Call(ctx, s.hub, &msg.ToolsChangedRequest{QueryID: queryOf(ctx), Hash: chk.Hash, Changes: chk.Changes, Missing: chk.Missing, Diffs: diffs})
	if err != nil {
		return false, "", err
	}
	rep, ok := r.(*msg.ToolsChangedReply)
	if !ok {
		return false, "", fmt.Errorf("hub answered with %T", r)
	}
	return rep.Allowed, rep.Reason, nil
}

// toolChanges lists, part by part, how the server's tools differ from the
// pinned ones, with the old and the new text as the server wrote them.
func toolChanges(pinned, now []sandbox.Tool) []msg.ToolChange {
	byName := func(ts []sandbox.Tool) map[string]sandbox.Tool {
		m := make(map[string]sandbox.Tool, len(ts))
		for _, t := range ts {
			m[t.Name] = t
		}
		return m
	}
	old, cur := byName(pinned), byName(now)
	var out []msg.ToolChange
	for _, t := range now {
		o, ok := old[t.Name]
		if !ok {
			out = append(out, msg.ToolChange{Tool: t.Name, Part: msg.PartAdded, New: toolText(t)})
			continue
		}
		if o.Description != t.Description {
			out = append(out, msg.ToolChange{Tool: t.Name, Part: msg.PartDescription, Old: o.Description, New: t.Description})
		}
		if a, b := compact(o.InputSchema), compact(t.InputSchema); a != b {
			out = append(out, msg.ToolChange{Tool: t.Name, Part: msg.PartInputSchema, Old: a, New: b})
		}
		if a, b := compact(o.OutputSchema), compact(t.OutputSchema); a != b {
			out = append(out, msg.ToolChange{Tool: t.Name, Part: msg.PartOutputSchema, Old: a, New: b})
		}
	}
	for _, t := range pinned {
		if _, ok := cur[t.Name]; !ok {
			out = append(out, msg.ToolChange{Tool: t.Name, Part: msg.PartRemoved, Old: toolText(t)})
		}
	}
	return out
}

// toolText is a whole tool, as JSON, for an added or removed one.
func toolText(t sandbox.Tool) string {
	b, _ := json.Marshal(map[string]any{"description": t.Description, "inputSchema": json.RawMessage(orNull(t.InputSchema)), "outputSchema": json.RawMessage(orNull(t.OutputSchema))})
	return string(b)
}

// compact is a schema in the pin's canonical form — keys sorted, numbers
// as written, absent as null — so that only a real change shows ("" for
// text that is not JSON, which then compares as written).
func compact(raw json.RawMessage) string {
	if len(bytes.TrimSpace(raw)) == 0 {
		return "null"
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return string(raw)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return string(raw)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func orNull(raw json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(raw)) == 0 || !json.Valid(raw) {
		return json.RawMessage("null")
	}
	return raw
}
