package builtin

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/isolategpt/isolategpt/specs"
	"github.com/isolategpt/isolategpt/specs/jsonlog"
)

// mailboxFile is the mail app's whole state, in its own data folder.
const mailboxFile = "mailbox.json"

// maxMailboxBytes bounds the mailbox file an app folder may hold.
const maxMailboxBytes = 64 << 20

// Mail folders.
const (
	folderInbox  = "inbox"
	folderSent   = "sent"
	folderDrafts = "drafts"
)

// mailbox is the content of mailbox.json. Its format is also what a case
// study writes to give the app a mailbox of its own
// (evaluation/casestudies), so unknown fields are refused rather than lost.
type mailbox struct {
	// Address is the owner's own address, the sender of what the app sends.
	Address  string    `json:"address"`
	NextID   int       `json:"next_id,omitempty"`
	Contacts []contact `json:"contacts"`
	Messages []message `json:"messages"`
	// JournalSeq is the last journal change folded in (mailstore.go).
	JournalSeq int `json:"journal_seq,omitempty"`
}

type contact struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

type message struct {
	ID          string       `json:"id"`
	ThreadID    string       `json:"thread_id"`
	Folder      string       `json:"folder"`
	From        string       `json:"from"`
	To          []string     `json:"to"`
	CC          []string     `json:"cc"`
	Subject     string       `json:"subject"`
	Body        string       `json:"body"`
	Date        string       `json:"date"`
	Attachments []attachment `json:"attachments"`
}

// attachment is a file as drive.retrieve returns it and mail.send takes it.
type attachment struct {
	Name          string `json:"name"`
	MimeType      string `json:"mime_type"`
	Size          int    `json:"size"`
	ContentBase64 string `json:"content_base64"`
}

type mailApp struct {
	mu      sync.Mutex
	m       *specs.Manifest
	path    string
	box     mailbox
	journal *jsonlog.Log
	now     func() time.Time
	// foldBytes is the journal size past which it is folded.
	foldBytes int64
	// wholeFile rewrites the whole mailbox on every change, as the app
	// did before the journal (the baseline of the benchmark).
	wholeFile bool
	// noRollback changes memory before the disk and keeps the change when
	// the write fails: the defence off, for its test.
	noRollback bool
}

func newMail(dataDir string) (App, error) {
	m, err := manifest("mail")
	if err != nil {
		return nil, err
	}
	a := &mailApp{m: m, path: filepath.Join(dataDir, mailboxFile), now: time.Now, foldBytes: defaultFoldBytes}
	if err := a.load(); err != nil {
		return nil, fmt.Errorf("start mail: %w", err)
	}
	return a, nil
}

func (a *mailApp) Call(ctx context.Context, function string, raw json.RawMessage) (json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	args, err := decodeArgs(a.m, function, raw)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch function {
	case "find_contact":
		return a.findContact(str(args, "name"))
	case "search":
		return a.search(args)
	case "read":
		msg, ok := a.message(str(args, "id"))
		if !ok {
			return nil, toolError("no message with id %q", str(args, "id"))
		}
		return result(readResult(msg))
	case "draft", "send":
		return a.compose(function, args)
	case "delete":
		id := str(args, "id")
		i := slices.IndexFunc(a.box.Messages, func(m message) bool { return m.ID == id })
		if i < 0 {
			return nil, toolError("no message with id %q", id)
		}
		if err := a.remove(i); err != nil {
			return nil, err
		}
		return result(map[string]string{"id": id, "status": "deleted"})
	}
	return nil, toolError("mail has no function %q", function)
}

// findContact matches a name exactly (ignoring case), or else the one
// contact whose name or address contains it.
func (a *mailApp) findContact(name string) (json.RawMessage, error) {
	want := strings.ToLower(strings.TrimSpace(name))
	var partial []contact
	for _, c := range a.box.Contacts {
		if strings.ToLower(c.Name) == want || strings.ToLower(c.Email) == want {
			return result(c)
		}
		if want != "" && (strings.Contains(strings.ToLower(c.Name), want) || strings.Contains(strings.ToLower(c.Email), want)) {
			partial = append(partial, c)
		}
	}
	switch len(partial) {
	case 0:
		return nil, toolError("no contact named %q", name)
	case 1:
		return result(partial[0])
	}
	names := make([]string, len(partial))
	for i, c := range partial {
		names[i] = c.Name
	}
	return nil, toolError("%q matches several contacts: %s", name, strings.Join(names, ", "))
}

type messageSummary struct {
	ID       string   `json:"id"`
	ThreadID string   `json:"thread_id"`
	Folder   string   `json:"folder"`
	From     string   `json:"from"`
	To       []string `json:"to"`
	Subject  string   `json:"subject"`
	Date     string   `json:"date"`
	Snippet  string   `json:"snippet"`
}

// search returns the messages containing every word of the query, newest
// first (ties: the higher id first, so the order never depends on the file).
func (a *mailApp) search(args map[string]any) (json.RawMessage, error) {
	terms := strings.Fields(strings.ToLower(str(args, "query")))
	folder := str(args, "folder")
	limit := 10
	if n, ok := intArg(args, "max_results"); ok {
		limit = n
	}
	var hits []message
	for _, m := range a.box.Messages {
		if folder != "" && m.Folder != folder {
			continue
		}
		hay := strings.ToLower(strings.Join(append(append([]string{m.From, m.Subject, m.Body}, m.To...), m.CC...), "\n"))
		for _, at := range m.Attachments {
			hay += "\n" + strings.ToLower(at.Name)
		}
		if !slices.ContainsFunc(terms, func(t string) bool { return !strings.Contains(hay, t) }) {
			hits = append(hits, m)
		}
	}
	slices.SortStableFunc(hits, func(x, y message) int {
		tx, _ := time.Parse(time.RFC3339, x.Date)
		ty, _ := time.Parse(time.RFC3339, y.Date)
		if c := ty.Compare(tx); c != 0 {
			return c
		}
		return strings.Compare(y.ID, x.ID)
	})
	out := struct {
		Count    int              `json:"count"`
		Messages []messageSummary `json:"messages"`
	}{Count: len(hits), Messages: []messageSummary{}}
	for _, m := range hits[:min(limit, len(hits))] {
		out.Messages = append(out.Messages, messageSummary{
			ID: m.ID, ThreadID: m.ThreadID, Folder: m.Folder, From: m.From, To: nonNil(m.To),
			Subject: m.Subject, Date: m.Date, Snippet: snippet(m.Body, 160),
		})
	}
	return result(out)
}

func (a *mailApp) hasID(id string) bool {
	_, ok := a.message(id)
	return ok
}

func (a *mailApp) message(id string) (message, bool) {
	for _, m := range a.box.Messages {
		if m.ID == id {
			return m, true
		}
	}
	return message{}, false
}

type readOut struct {
	ID          string   `json:"id"`
	ThreadID    string   `json:"thread_id"`
	Folder      string   `json:"folder"`
	From        string   `json:"from"`
	To          []string `json:"to"`
	CC          []string `json:"cc"`
	Subject     string   `json:"subject"`
	Date        string   `json:"date"`
	Body        string   `json:"body"`
	Attachments []string `json:"attachments"`
}

func readResult(m message) readOut {
	names := []string{}
	for _, at := range m.Attachments {
		names = append(names, at.Name)
	}
	return readOut{
		ID: m.ID, ThreadID: m.ThreadID, Folder: m.Folder, From: m.From, To: nonNil(m.To), CC: nonNil(m.CC),
		Subject: m.Subject, Date: m.Date, Body: m.Body, Attachments: names,
	}
}

// compose drafts or sends a message. Sending files it in "sent": the app
// stands for a mail provider, and the sent folder is its record of what
// left.
func (a *mailApp) compose(function string, args map[string]any) (json.RawMessage, error) {
	next := a.box.NextID
	for a.hasID(fmt.Sprintf("m%04d", next)) { // a supplied mailbox may use the form
		next++
	}
	msg := message{
		ID: fmt.Sprintf("m%04d", next), From: a.box.Address, To: []string{str(args, "to")},
		CC: []string{}, Subject: str(args, "subject"), Body: str(args, "message"),
		Date: a.now().UTC().Format(time.RFC3339), Attachments: []attachment{},
	}
	msg.ThreadID = msg.ID
	if cc, ok := args["cc"].([]any); ok {
		for _, c := range cc {
			s, _ := c.(string)
			msg.CC = append(msg.CC, s)
		}
	}
	if raw, ok := args["attachment"].(map[string]any); ok {
		at, err := attachmentArg(raw)
		if err != nil {
			return nil, err
		}
		msg.Attachments = append(msg.Attachments, at)
	}
	msg.Folder = folderSent
	if function == "draft" {
		msg.Folder = folderDrafts
	}
	if err := a.add(msg, next+1); err != nil {
		return nil, err
	}
	if function == "draft" {
		return result(map[string]string{"id": msg.ID, "status": "drafted"})
	}
	names := []string{}
	for _, at := range msg.Attachments {
		names = append(names, at.Name)
	}
	return result(struct {
		ID          string   `json:"id"`
		Status      string   `json:"status"`
		To          string   `json:"to"`
		Attachments []string `json:"attachments"`
	}{msg.ID, "sent", msg.To[0], names})
}

// attachmentArg checks an attachment the way drive checks a file it saves:
// a plain file name, content that decodes, and a size that says so.
func attachmentArg(raw map[string]any) (attachment, error) {
	at := attachment{MimeType: str(raw, "mime_type"), ContentBase64: str(raw, "content_base64"), Name: str(raw, "name")}
	if err := checkFileName(at.Name); err != nil {
		return attachment{}, toolError("attachment: %v", err)
	}
	content, err := decodeContent(at.ContentBase64)
	if err != nil {
		return attachment{}, toolError("attachment %s: %v", at.Name, err)
	}
	size, _ := intArg(raw, "size")
	if size != len(content) {
		return attachment{}, toolError("attachment %s: size %d, but the content has %d bytes", at.Name, size, len(content))
	}
	at.Size = size
	return at, nil
}

func snippet(body string, n int) string {
	s := strings.Join(strings.Fields(body), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
