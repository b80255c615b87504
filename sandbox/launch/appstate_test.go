package launch

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/policy"
)

// TestBuiltinAppStateOnAFullFolder runs the real mail and drive apps in
// confined workers (seccomp refuses fchmod there) on a small app folder:
// saves and sends work (temporary file, fsync, rename, folder fsync are
// all allowed), and once the tmpfs is full a delete or a send reports the
// failure and changes nothing, in the worker and on the host.
func TestBuiltinAppStateOnAFullFolder(t *testing.T) {
	hubModes(t, func(t *testing.T) {
		l := newLauncher(t)
		l.Policy = func(sandbox.App) policy.Policy {
			p := policy.BuiltinPolicy()
			p.Limits.DataBytes = 1 << 20
			return p
		}
		mail := sandbox.App{ID: "mail", Kind: sandbox.KindBuiltin}
		drive := sandbox.App{ID: "drive", Kind: sandbox.KindBuiltin}

		dc := start(t, l, t.TempDir(), drive)
		if out, err := dc.CallTool(t.Context(), "save", json.RawMessage(`{"name":"n.txt","content":"hello"}`)); err != nil {
			t.Fatalf("drive.save in a worker: %v", err)
		} else if !strings.Contains(string(out), "saved") {
			t.Fatalf("drive.save: %s", out)
		}

		// A mailbox of about 600 KB: a new snapshot beside it does not fit.
		host := t.TempDir()
		var msgs []string
		body := strings.Repeat("x", 1000)
		for i := range 600 {
			msgs = append(msgs, fmt.Sprintf(`{"id":"b%d","thread_id":"t","folder":"inbox","from":"x@example.com","to":[],"cc":[],"subject":"s","body":%q,"date":"2025-01-01T00:00:00Z","attachments":[]}`, i, body))
		}
		box := `{"address":"me@example.com","contacts":[],"messages":[` + strings.Join(msgs, ",") + `]}`
		if err := os.WriteFile(filepath.Join(host, "mailbox.json"), []byte(box), 0o600); err != nil {
			t.Fatal(err)
		}
		c := start(t, l, host, mail)
		callOK := func(fn, args string) map[string]any {
			t.Helper()
			out, err := c.CallTool(t.Context(), fn, json.RawMessage(args))
			if err != nil {
				t.Fatalf("mail.%s: %v", fn, err)
			}
			var v map[string]any
			json.Unmarshal(out, &v)
			return v
		}
		var sent []string
		sent = append(sent, callOK("send", `{"to":"a@example.com","subject":"","message":"first"}`)["id"].(string))
		if out, err := c.CallTool(t.Context(), "delete", json.RawMessage(`{"id":"b7"}`)); err == nil {
			t.Fatalf("delete on a full folder succeeded: %s", out)
		}
		callOK("read", `{"id":"b7"}`)
		big := strings.Repeat("y", 19000)
		failed := ""
		for i := 0; i < 60 && failed == ""; i++ {
			marker := fmt.Sprintf("marker-%03d", i)
			out, err := c.CallTool(t.Context(), "send", json.RawMessage(`{"to":"a@example.com","subject":"`+marker+`","message":"`+big+`"}`))
			if err != nil {
				failed = marker
				break
			}
			var v map[string]any
			json.Unmarshal(out, &v)
			sent = append(sent, v["id"].(string))
		}
		if failed == "" {
			t.Fatal("60 sends of 19 KB fit in a 1 MiB folder")
		}
		if n := callOK("search", `{"query":"`+failed+`"}`)["count"]; n != float64(0) {
			t.Errorf("the failed send is in the mailbox (%v)", n)
		}
		c.Close()

		// What the host holds is what was reported: every send, the
		// message whose delete failed, not the failed send.
		roomy := newLauncher(t)
		c = start(t, roomy, host, mail)
		for _, id := range sent {
			callOK("read", `{"id":"`+id+`"}`)
		}
		callOK("read", `{"id":"b7"}`)
		if n := callOK("search", `{"query":"`+failed+`"}`)["count"]; n != float64(0) {
			t.Errorf("the failed send reached the host (%v)", n)
		}
		if len(sent) < 10 {
			t.Errorf("only %d sends fit before the folder was full", len(sent))
		}
	})
}
