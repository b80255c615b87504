package builtin

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/specs"
)

// callErr calls a function that must fail with a tool error mentioning text.
func callErr(t *testing.T, app App, function string, args any, text string) {
	t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	out, err := app.Call(t.Context(), function, raw)
	var te *sandbox.ToolError
	if !errors.As(err, &te) {
		t.Fatalf("%s(%.200s) = %.200s, %v; want a tool error", function, raw, out, err)
	}
	if !strings.Contains(te.Message, text) {
		t.Errorf("%s: tool error %q does not mention %q", function, te.Message, text)
	}
}

func TestMailSeedIsDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	start(t, "mail", a)
	start(t, "mail", b)
	da, err := os.ReadFile(filepath.Join(a, mailboxFile))
	if err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join(b, mailboxFile))
	if err != nil {
		t.Fatal(err)
	}
	if string(da) != string(db) {
		t.Error("two first starts seeded different mailboxes")
	}
	info, err := os.Stat(filepath.Join(a, mailboxFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("mailbox mode %v, %v; want 0600", info.Mode(), err)
	}
}

func TestMailFindContact(t *testing.T) {
	app := start(t, "mail", t.TempDir())
	tests := []struct{ name, want string }{
		{"John Doe", "john.doe@example.com"},
		{"john doe", "john.doe@example.com"},
		{"  John Doe ", "john.doe@example.com"},
		{"Priya", "priya.patel@example.com"},
		{"jane.smith@example.com", "jane.smith@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := call(t, app, "find_contact", map[string]any{"name": tt.name}); got["email"] != tt.want {
				t.Errorf("find_contact = %v, want %s", got, tt.want)
			}
		})
	}
	callErr(t, app, "find_contact", map[string]any{"name": "Nobody"}, `no contact named "Nobody"`)
	callErr(t, app, "find_contact", map[string]any{"name": "example.com"}, "matches several contacts")
}

func TestMailSearch(t *testing.T) {
	app := start(t, "mail", t.TempDir())
	ids := func(v map[string]any) []string {
		var out []string
		for _, m := range v["messages"].([]any) {
			out = append(out, m.(map[string]any)["id"].(string))
		}
		return out
	}
	tests := []struct {
		name  string
		args  map[string]any
		want  []string
		count float64
	}{
		{"everything, newest first", map[string]any{}, []string{"m0004", "m0003", "m0002", "m0001"}, 4},
		{"newest", map[string]any{"max_results": 1}, []string{"m0004"}, 4},
		{"all words must match", map[string]any{"query": "annual REPORT"}, []string{"m0001"}, 1},
		{"addresses count", map[string]any{"query": "jane.smith"}, []string{"m0003", "m0002"}, 2},
		{"folder", map[string]any{"folder": "sent"}, []string{"m0003"}, 1},
		{"nothing", map[string]any{"query": "zebra"}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := call(t, app, "search", tt.args)
			if !slices.Equal(ids(got), tt.want) || got["count"] != tt.count {
				t.Errorf("search(%v) = %v", tt.args, got)
			}
		})
	}
}

func TestMailSendWithAnAttachmentFromDrive(t *testing.T) {
	dir := t.TempDir()
	drive := start(t, "drive", t.TempDir())
	file := call(t, drive, "retrieve", map[string]any{"query": "annual_report.pdf"})
	app := start(t, "mail", dir).(*mailApp)
	app.now = func() time.Time { return time.Date(2025, 3, 6, 10, 0, 0, 0, time.UTC) }
	sent := call(t, app, "send", map[string]any{
		"to": "john.doe@example.com", "subject": "Annual report", "message": "Here it is.", "attachment": file,
	})
	if sent["id"] != "m0005" || sent["status"] != "sent" || sent["to"] != "john.doe@example.com" {
		t.Fatalf("send = %v", sent)
	}
	if got := sent["attachments"].([]any); len(got) != 1 || got[0] != "annual_report.pdf" {
		t.Errorf("attachments %v", got)
	}
	// The message is kept across a restart, with its attachment whole.
	again := start(t, "mail", dir)
	read := call(t, again, "read", map[string]any{"id": "m0005"})
	if read["folder"] != "sent" || read["from"] != "me@example.com" || read["date"] != "2025-03-06T10:00:00Z" || read["body"] != "Here it is." {
		t.Errorf("read = %v", read)
	}
	var box mailbox
	data, _ := os.ReadFile(filepath.Join(dir, mailboxFile))
	if err := json.Unmarshal(data, &box); err != nil {
		t.Fatal(err)
	}
	last := box.Messages[len(box.Messages)-1]
	if len(last.Attachments) != 1 || last.Attachments[0].ContentBase64 != file["content_base64"] {
		t.Errorf("stored attachment %+v", last.Attachments)
	}
	// Ids keep counting after a restart.
	if d := call(t, again, "draft", map[string]any{"to": "jane.smith@example.com", "subject": "x", "message": "y"}); d["id"] != "m0006" {
		t.Errorf("draft after restart = %v", d)
	}
}

func TestMailRefusesBadAttachments(t *testing.T) {
	base := map[string]any{"name": "a.txt", "mime_type": "text/plain", "size": 2, "content_base64": "aGk="}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range base {
			m[kk] = vv
		}
		m[k] = v
		return m
	}
	tests := []struct {
		name       string
		attachment map[string]any
		text       string
	}{
		{"not base64", with("content_base64", "%%%"), "not base64"},
		{"size lies", with("size", 3), "size 3, but the content has 2 bytes"},
		{"folder in the name", with("name", "docs/../../etc/passwd"), "may not name a folder"},
		{"parent folder", with("name", "../x"), "may not start with a dot"},
		{"hidden name", with("name", ".mailbox.json"), "may not start with a dot"},
		{"bidi override in the name", with("name", "report\u202Efdp.exe"), "control character"},
		{"extra field", with("owner", "x"), `unexpected property "owner"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			app := start(t, "mail", dir)
			before, _ := os.ReadFile(filepath.Join(dir, mailboxFile))
			callErr(t, app, "send", map[string]any{"to": "john.doe@example.com", "subject": "s", "message": "m", "attachment": tt.attachment}, tt.text)
			after, _ := os.ReadFile(filepath.Join(dir, mailboxFile))
			if string(before) != string(after) {
				t.Error("a refused send changed the mailbox")
			}
		})
	}
}

func TestMailDelete(t *testing.T) {
	dir := t.TempDir()
	app := start(t, "mail", dir)
	if got := call(t, app, "delete", map[string]any{"id": "m0004"}); got["status"] != "deleted" {
		t.Fatalf("delete = %v", got)
	}
	callErr(t, app, "read", map[string]any{"id": "m0004"}, `no message with id "m0004"`)
	callErr(t, app, "delete", map[string]any{"id": "m0004"}, `no message with id "m0004"`)
	// The seed is for a first start only: a restart keeps the deletion.
	again := start(t, "mail", dir)
	callErr(t, again, "read", map[string]any{"id": "m0004"}, "no message")
}

func TestMailRefusesABadMailbox(t *testing.T) {
	tests := []struct{ name, content string }{
		{"unknown field", `{"address":"me@example.com","contacts":[],"messages":[],"owner":"x"}`},
		{"duplicate id", `{"address":"a@b.c","contacts":[],"messages":[` + msgJSON("m1", "inbox") + `,` + msgJSON("m1", "inbox") + `]}`},
		{"unknown folder", `{"address":"a@b.c","contacts":[],"messages":[` + msgJSON("m1", "spam") + `]}`},
		{"not JSON", `{`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, mailboxFile), []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := newMail(dir); err == nil {
				t.Error("mail started on a bad mailbox")
			}
		})
	}
}

func msgJSON(id, folder string) string {
	return `{"id":"` + id + `","thread_id":"` + id + `","folder":"` + folder + `","from":"x@example.com","to":[],"cc":[],"subject":"s","body":"b","date":"2025-01-01T00:00:00Z","attachments":[]}`
}

// TestMailResultsFitTheirSchemas checks results against the manifest on a
// mailbox a case study supplies, not only on the seed.
func TestMailResultsFitTheirSchemas(t *testing.T) {
	dir := t.TempDir()
	box := `{"address":"me@example.com","contacts":[{"name":"A","email":"a@example.com"}],"messages":[` + msgJSON("x1", "inbox") + `]}`
	if err := os.WriteFile(filepath.Join(dir, mailboxFile), []byte(box), 0o600); err != nil {
		t.Fatal(err)
	}
	app := start(t, "mail", dir)
	m, err := specs.BuiltinByID("mail")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		fn   string
		args string
	}{{"search", `{}`}, {"read", `{"id":"x1"}`}, {"find_contact", `{"name":"a"}`}, {"send", `{"to":"a@example.com","subject":"","message":"m"}`}} {
		out, err := app.Call(t.Context(), c.fn, json.RawMessage(c.args))
		if err != nil {
			t.Fatalf("%s: %v", c.fn, err)
		}
		f, _ := m.Function(c.fn)
		if _, err := f.Output.DecodeValidate(out, 1<<20); err != nil {
			t.Errorf("%s result %s: %v", c.fn, out, err)
		}
	}
	if got := call(t, app, "send", map[string]any{"to": "a@example.com", "subject": "", "message": "m"}); got["id"] != "m0003" {
		t.Errorf("ids after a supplied mailbox: %v", got)
	}
}

// FuzzMailbox feeds arbitrary bytes as mailbox.json: the app either refuses
// to start or answers a search whose result fits its schema.
func FuzzMailbox(f *testing.F) {
	seedBox, err := seed.ReadFile("seed/mailbox.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seedBox)
	f.Add([]byte(`{"address":"","contacts":[],"messages":[]}`))
	f.Add([]byte(`{"messages":[{"id":"a","folder":"inbox","date":"2025-01-01T00:00:00Z"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, mailboxFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		app, err := newMail(dir)
		if err != nil {
			return
		}
		out, err := app.Call(t.Context(), "search", json.RawMessage(`{"max_results":50}`))
		if err != nil {
			t.Fatalf("search on an accepted mailbox: %v", err)
		}
		// A mailbox from disk may hold values the schema refuses (an
		// over-long address); the hub then refuses the result. What must
		// never happen is a panic or output that is not JSON.
		if !json.Valid(out) {
			t.Fatalf("search result is not JSON: %q", out)
		}
	})
}
