package engine

import (
	"encoding/json"

	"github.com/isolategpt/isolategpt/engine/store"
	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/egress"
)

// egressDetail is what the audit log keeps of one egress proxy event.
type egressDetail struct {
	Host      string `json:"host,omitempty"`
	Port      int    `json:"port,omitempty"`
	Addr      string `json:"addr,omitempty"`
	Reason    string `json:"reason"`
	BytesUp   int64  `json:"bytes_up,omitempty"`
	BytesDown int64  `json:"bytes_down,omitempty"`
	// Suppressed counts the events a summary stands for (the launcher
	// rate-limits each worker's).
	Suppressed int `json:"suppressed,omitempty"`
}

// egressAudit writes the connections an app's egress proxy allows or
// refuses to the audit log, attributed to the app and its session's user:
// each one, or past the launcher's rate limit, a summary counting them.
func egressAudit(audit func(store.AuditRecord)) func(sandbox.App, egress.Event) {
	return func(a sandbox.App, e egress.Event) {
		outcome := "refused"
		switch {
		case e.Suppressed > 0:
			outcome = "suppressed"
		case e.Allowed:
			outcome = "allowed"
		}
		d, _ := json.Marshal(egressDetail{Host: e.Host, Port: e.Port, Addr: e.Addr, Reason: e.Reason, BytesUp: e.BytesUp, BytesDown: e.BytesDown, Suppressed: e.Suppressed})
		audit(store.AuditRecord{At: e.At, User: a.User, Session: a.Session, Kind: "egress", App: a.ID, Outcome: outcome, Detail: d})
	}
}
