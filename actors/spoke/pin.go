package spoke

import (
	"context"
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
	allowed, reason, err := s.askRepin(ctx, chk)
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
func (s *spoke) askRepin(ctx context.Context, chk apps.ToolCheck) (bool, string, error) {
	r, err := s.client.Call(ctx, s.hub, &msg.ToolsChangedRequest{QueryID: queryOf(ctx), Hash: chk.Hash, Changes: chk.Changes, Missing: chk.Missing})
	if err != nil {
		return false, "", err
	}
	rep, ok := r.(*msg.ToolsChangedReply)
	if !ok {
		return false, "", fmt.Errorf("hub answered with %T", r)
	}
	return rep.Allowed, rep.Reason, nil
}
