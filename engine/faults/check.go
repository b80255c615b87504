package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Done reports whether a line or step status claims the work was done:
// "ok" before the honest statuses landed, "done" after.
func Done(status string) bool { return status == "ok" || status == "done" }

// Line is the part of one batch output line the checks read.
type Line struct {
	Line    int    `json:"line"`
	ID      string `json:"id"`
	QueryID string `json:"query_id"`
	Status  string `json:"status"`
	Error   string `json:"error"`
	Steps   []Step `json:"steps"`
	Raw     string `json:"-"`
}

// Step is one step of a batch output line.
type Step struct {
	Step     string          `json:"step"`
	App      string          `json:"app"`
	Function string          `json:"function"`
	Args     map[string]any  `json:"args"`
	Result   json.RawMessage `json:"result"`
	Status   string          `json:"status"`
	Reason   string          `json:"reason"`
}

// ParseLine decodes one output line; a line that is not one complete JSON
// object (a torn write) is an error.
func ParseLine(raw string) (Line, error) {
	var l Line
	if !json.Valid([]byte(raw)) {
		return l, fmt.Errorf("output line is not complete JSON: %.120q", raw)
	}
	if err := json.Unmarshal([]byte(raw), &l); err != nil {
		return l, fmt.Errorf("output line: %w: %.120q", err, raw)
	}
	l.Raw = raw
	return l, nil
}

// UndoneButDone says why a line claims to be done when its work was not
// (a step failed, was denied or never ran); "" when the claim holds or no
// claim is made.
func UndoneButDone(l Line) string {
	if !Done(l.Status) {
		return ""
	}
	if l.Error != "" {
		return fmt.Sprintf("line %d (%s) status %q with error %q", l.Line, l.ID, l.Status, l.Error)
	}
	if len(l.Steps) == 0 {
		return fmt.Sprintf("line %d (%s) status %q but no step ran", l.Line, l.ID, l.Status)
	}
	for _, s := range l.Steps {
		if !Done(s.Status) {
			return fmt.Sprintf("line %d (%s) status %q but step %s %s.%s is %q: %.160s", l.Line, l.ID, l.Status, s.Step, s.App, s.Function, s.Status, s.Reason)
		}
	}
	return ""
}

// Record is one audit record as `audit --json` prints it.
type Record struct {
	Seq      int64           `json:"seq"`
	Kind     string          `json:"kind"`
	Outcome  string          `json:"outcome"`
	QueryID  string          `json:"query_id"`
	App      string          `json:"app"`
	Function string          `json:"function"`
	Detail   json.RawMessage `json:"detail"`
	Raw      string          `json:"-"`
}

// ParseAudit decodes the output of `audit --json`: every non-empty line
// must be a record with a sequence number above the one before it.
func ParseAudit(out []byte) ([]Record, error) {
	var recs []Record
	for i, raw := range strings.Split(string(out), "\n") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		var r Record
		if !json.Valid([]byte(raw)) {
			return recs, fmt.Errorf("audit line %d is not complete JSON: %.120q", i+1, raw)
		}
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			return recs, fmt.Errorf("audit line %d: %w", i+1, err)
		}
		if r.Seq <= 0 || (len(recs) > 0 && r.Seq <= recs[len(recs)-1].Seq) {
			return recs, fmt.Errorf("audit line %d: sequence %d out of order", i+1, r.Seq)
		}
		var c bytes.Buffer
		if err := json.Compact(&c, []byte(raw)); err != nil {
			return recs, fmt.Errorf("audit line %d: %w", i+1, err)
		}
		r.Raw = c.String()
		recs = append(recs, r)
	}
	return recs, nil
}

// MissingRecords lists the records of before that after lacks or holds
// altered: a log that only grows never has any.
func MissingRecords(before, after []Record) []string {
	now := make(map[int64]string, len(after))
	for _, r := range after {
		now[r.Seq] = r.Raw
	}
	var miss []string
	for _, r := range before {
		got, ok := now[r.Seq]
		switch {
		case !ok:
			miss = append(miss, fmt.Sprintf("audit record %d (%s %s %s) missing", r.Seq, r.Kind, r.Outcome, r.QueryID))
		case got != r.Raw:
			miss = append(miss, fmt.Sprintf("audit record %d (%s %s %s) altered", r.Seq, r.Kind, r.Outcome, r.QueryID))
		}
	}
	return miss
}

// Truth is what the binary reported stored: done lines' mail subjects,
// booking ids, drive file names and query ids, each to the line id that
// reported it, and each saved file's content.
type Truth struct {
	Mails    map[string]string
	Bookings map[string]string
	Files    map[string]string
	Contents map[string]string // file name → content saved
	Queries  map[string]string
}

// NewTruth returns an empty Truth.
func NewTruth() *Truth {
	return &Truth{Mails: map[string]string{}, Bookings: map[string]string{}, Files: map[string]string{}, Contents: map[string]string{}, Queries: map[string]string{}}
}

// Clone is a copy of t.
func (t *Truth) Clone() *Truth {
	c := NewTruth()
	for _, p := range []struct{ from, to map[string]string }{{t.Mails, c.Mails}, {t.Bookings, c.Bookings}, {t.Files, c.Files}, {t.Contents, c.Contents}, {t.Queries, c.Queries}} {
		for k, v := range p.from {
			p.to[k] = v
		}
	}
	return c
}

// Add records what a line reported done; lines not done add nothing.
func (t *Truth) Add(l Line) {
	if !Done(l.Status) || UndoneButDone(l) != "" {
		return
	}
	if l.QueryID != "" {
		t.Queries[l.QueryID] = l.ID
	}
	for _, s := range l.Steps {
		switch {
		case s.App == "mail" && s.Function == "send":
			if subj, ok := s.Args["subject"].(string); ok {
				t.Mails[subj] = l.ID
			}
		case s.App == "drive" && s.Function == "save":
			name, _ := s.Args["name"].(string)
			content, _ := s.Args["content"].(string)
			if name != "" {
				t.Files[name] = l.ID
				t.Contents[name] = content
			}
		case s.Function == "book_ride":
			var r struct {
				BookingID string `json:"booking_id"`
			}
			if json.Unmarshal(s.Result, &r) == nil && r.BookingID != "" {
				t.Bookings[r.BookingID] = l.ID
			}
		}
	}
}

// Mailbox is the part of mail's mailbox.json the checks read.
type Mailbox struct {
	Messages []struct {
		ID      string `json:"id"`
		Folder  string `json:"folder"`
		Subject string `json:"subject"`
	} `json:"messages"`
}

// Booking is one line of a ride app's bookings.jsonl.
type Booking struct {
	BookingID  string `json:"booking_id"`
	StartPoint string `json:"start_point"`
}

// ParseBookings decodes a bookings ledger: every line that parses, and an
// error naming the first that does not (not complete JSON).
func ParseBookings(data []byte) ([]Booking, error) {
	var bs []Booking
	var first error
	for i, raw := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(raw) == "" {
			continue
		}
		var b Booking
		err := json.Unmarshal([]byte(raw), &b)
		if err != nil || !json.Valid([]byte(raw)) {
			if first == nil {
				first = fmt.Errorf("bookings line %d is not complete JSON: %.80q", i+1, raw)
			}
			continue
		}
		bs = append(bs, b)
	}
	return bs, first
}

// State is what a data folder holds after a fault, read by the suite.
type State struct {
	Mailbox  []byte            // mailbox.json; nil when absent
	Journal  []byte            // mailbox.journal.jsonl, changes after the snapshot; nil when absent
	Bookings []byte            // metro_hail's bookings.jsonl; nil when absent
	Drive    map[string][]byte // drive's files by name; nil when unread
	Audit    []Record
}

// SentMail is the subjects of the sent folder: the mailbox snapshot with
// its journal's additions and deletions applied in order.
func SentMail(s State) (map[string]bool, error) {
	var mb Mailbox
	if err := json.Unmarshal(s.Mailbox, &mb); err != nil {
		return nil, fmt.Errorf("mailbox.json: %w", err)
	}
	sent := map[string]bool{}
	ids := map[string]string{}
	for _, m := range mb.Messages {
		if m.Folder == "sent" {
			sent[m.Subject] = true
			ids[m.ID] = m.Subject
		}
	}
	for i, raw := range strings.Split(string(s.Journal), "\n") {
		if strings.TrimSpace(raw) == "" {
			continue
		}
		var e struct {
			Op      string `json:"op"`
			ID      string `json:"id"`
			Message struct {
				ID      string `json:"id"`
				Folder  string `json:"folder"`
				Subject string `json:"subject"`
			} `json:"message"`
		}
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			return sent, fmt.Errorf("mailbox.journal.jsonl line %d: %w", i+1, err)
		}
		switch {
		case e.Op == "add" && e.Message.Folder == "sent":
			sent[e.Message.Subject] = true
			ids[e.Message.ID] = e.Message.Subject
		case e.Op == "delete":
			id := e.ID
			if id == "" {
				id = e.Message.ID
			}
			delete(sent, ids[id])
		}
	}
	return sent, nil
}

// Lost lists everything t says was stored that s lacks.
func Lost(t *Truth, s State) []string {
	var lost []string
	if len(t.Mails) > 0 {
		sent, err := SentMail(s)
		if err != nil {
			lost = append(lost, fmt.Sprintf("mailbox unreadable (%v): %d sent mail(s) reported stored", err, len(t.Mails)))
		} else {
			for _, subj := range sortedKeys(t.Mails) {
				if !sent[subj] {
					lost = append(lost, fmt.Sprintf("mail %q (line %s) reported sent, not in mailbox.json", subj, t.Mails[subj]))
				}
			}
		}
	}
	if len(t.Bookings) > 0 {
		bs, err := ParseBookings(s.Bookings)
		have := map[string]bool{}
		for _, b := range bs {
			have[b.BookingID] = true
		}
		if err != nil {
			lost = append(lost, fmt.Sprintf("bookings.jsonl: %v", err))
		}
		for _, id := range sortedKeys(t.Bookings) {
			if !have[id] {
				lost = append(lost, fmt.Sprintf("booking %s (line %s) reported confirmed, not in bookings.jsonl", id, t.Bookings[id]))
			}
		}
	}
	for _, name := range sortedKeys(t.Files) {
		got, ok := s.Drive[name]
		switch {
		case !ok:
			lost = append(lost, fmt.Sprintf("drive file %s (line %s) reported saved, not in drive's folder", name, t.Files[name]))
		case string(got) != t.Contents[name]:
			lost = append(lost, fmt.Sprintf("drive file %s (line %s) reported saved with %d bytes, holds %d others", name, t.Files[name], len(t.Contents[name]), len(got)))
		}
	}
	stepped := map[string]bool{}
	seen := map[string][]string{} // each query's records, for the message
	for _, r := range s.Audit {
		if r.Kind == "step" && Done(r.Outcome) {
			stepped[r.QueryID] = true
		}
		if r.QueryID != "" && t.Queries[r.QueryID] != "" {
			seen[r.QueryID] = append(seen[r.QueryID], fmt.Sprintf("%d %s %s", r.Seq, r.Kind, r.Outcome))
		}
	}
	for _, q := range sortedKeys(t.Queries) {
		if !stepped[q] {
			has := "none"
			if len(seen[q]) > 0 {
				has = strings.Join(seen[q], ", ")
			}
			lost = append(lost, fmt.Sprintf("query %s (line %s) reported done, no done step of it in the audit log (its records: %s)", q, t.Queries[q], has))
		}
	}
	return lost
}

// Unaudited lists effects in s whose query the audit log gives no outcome
// for: a mail with a subject, a booking from a start point or a drive file
// with a name starting with prefix, that no done line reported and whose
// query has neither a step record of the write nor a record marking it
// interrupted. Such an effect is one a retry repeats unknowingly.
func Unaudited(prefix string, t *Truth, s State) []string {
	outcome := map[string]bool{} // query ids with an outcome for their write
	for _, r := range s.Audit {
		if (r.Kind == "step" && (r.Function == "send" || r.Function == "book_ride" || r.Function == "save") && r.Outcome != "started") ||
			strings.Contains(strings.ToLower(r.Outcome), "interrupt") {
			outcome[r.QueryID] = true
		}
	}
	queriesNaming := func(quoted string) []string {
		var ids []string
		for _, r := range s.Audit {
			if r.Kind == "query" && bytes.Contains(r.Detail, []byte(quoted)) {
				ids = append(ids, r.QueryID)
			}
		}
		return ids
	}
	check := func(what, value string) string {
		// The query text holds the value quoted, JSON-escaped in the
		// record; a file name as "name = NAME,".
		pattern := `\"` + value + `\"`
		if what == "drive file" {
			pattern = "name = " + value + ","
		}
		ids := queriesNaming(pattern)
		if len(ids) == 0 {
			return fmt.Sprintf("%s %q happened, no query of it in the audit log", what, value)
		}
		for _, id := range ids {
			if outcome[id] {
				return ""
			}
		}
		return fmt.Sprintf("%s %q happened, its query %s has no outcome in the audit log (neither a step record nor interrupted)", what, value, strings.Join(ids, ","))
	}
	var bad []string
	sent, _ := SentMail(s)
	for _, subj := range sortedKeys(boolKeys(sent)) {
		if strings.HasPrefix(subj, prefix) {
			if _, reported := t.Mails[subj]; !reported {
				if why := check("mail", subj); why != "" {
					bad = append(bad, why)
				}
			}
		}
	}
	for _, name := range sortedKeys(bytesKeys(s.Drive)) {
		if strings.HasPrefix(name, prefix) {
			if _, reported := t.Files[name]; !reported {
				if why := check("drive file", name); why != "" {
					bad = append(bad, why)
				}
			}
		}
	}
	bs, _ := ParseBookings(s.Bookings)
	for _, b := range bs {
		if strings.HasPrefix(b.StartPoint, prefix) {
			if _, reported := t.Bookings[b.BookingID]; !reported {
				if why := check("booking from", b.StartPoint); why != "" {
					bad = append(bad, why)
				}
			}
		}
	}
	return bad
}

// Crashed says why stderr or the exit shows a crash (a Go panic, a fatal
// runtime error, a fault signal); "" when it shows none.
func Crashed(stderr string, signaled string) string {
	for _, sig := range []string{"bus error", "segmentation fault", "aborted"} {
		if strings.Contains(signaled, sig) {
			return "killed by " + signaled
		}
	}
	for _, p := range []string{"panic: ", "fatal error: ", "SIGBUS", "SIGSEGV", "goroutine 1 ["} {
		if i := strings.Index(stderr, p); i >= 0 {
			end := min(len(stderr), i+200)
			return fmt.Sprintf("stderr shows a crash: %q", stderr[i:end])
		}
	}
	return ""
}

func bytesKeys(m map[string][]byte) map[string]string {
	out := make(map[string]string, len(m))
	for k := range m {
		out[k] = ""
	}
	return out
}

func boolKeys(m map[string]bool) map[string]string {
	out := make(map[string]string, len(m))
	for k := range m {
		out[k] = ""
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
