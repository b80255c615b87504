package faults

import (
	"strings"
	"testing"
)

// The checks must see what they exist to see: each case is a loss or a
// false status that must be reported, next to its honest twin that must not.
func TestChecks(t *testing.T) {
	done := Line{Line: 1, ID: "a", QueryID: "q1", Status: "ok", Steps: []Step{{Step: "s1", App: "mail", Function: "send", Status: "ok", Args: map[string]any{"subject": "fxm1"}}}}
	failed := done
	failed.Steps = []Step{{Step: "s1", App: "mail", Function: "send", Status: "failed", Reason: "no space left on device"}}
	if why := UndoneButDone(done); why != "" {
		t.Errorf("a done line flagged: %s", why)
	}
	if UndoneButDone(failed) == "" {
		t.Error(`a line "ok" with a failed step not flagged`)
	}
	if UndoneButDone(Line{Status: "done"}) == "" {
		t.Error(`a line "done" with no step not flagged`)
	}

	tr := NewTruth()
	tr.Add(done)
	tr.Add(failed) // not done: adds nothing
	audit, err := ParseAudit([]byte(`{"seq":1,"kind":"query","query_id":"q1","outcome":"received","detail":{"query":"send \"fxm1\""}}
{"seq":2,"kind":"step","query_id":"q1","function":"send","outcome":"ok"}
`))
	if err != nil {
		t.Fatal(err)
	}
	box := []byte(`{"messages":[{"folder":"sent","subject":"fxm1"}]}`)
	if l := Lost(tr, State{Mailbox: box, Audit: audit}); len(l) != 0 {
		t.Errorf("nothing lost, but: %q", l)
	}
	if l := Lost(tr, State{Mailbox: []byte(`{"messages":[]}`), Audit: audit}); len(l) != 1 || !strings.Contains(l[0], "fxm1") {
		t.Errorf("a sent mail missing from the mailbox: %q", l)
	}
	if l := Lost(tr, State{Mailbox: box, Audit: audit[:1]}); len(l) != 1 || !strings.Contains(l[0], "q1") {
		t.Errorf("a done query's step missing from the audit log: %q", l)
	}
	if m := MissingRecords(audit, audit[1:]); len(m) != 1 || !strings.Contains(m[0], "record 1") {
		t.Errorf("a deleted audit record: %q", m)
	}
	altered := append([]Record(nil), audit...)
	altered[1].Raw = strings.Replace(altered[1].Raw, `"ok"`, `"failed"`, 1)
	if m := MissingRecords(audit, altered); len(m) != 1 || !strings.Contains(m[0], "altered") {
		t.Errorf("an altered audit record: %q", m)
	}
	if _, err := ParseAudit([]byte("{\"seq\":2}\n{\"seq\":1}\n")); err == nil {
		t.Error("audit records out of order accepted")
	}
	if _, err := ParseAudit([]byte("{\"seq\":1}\n{\"seq\":2,\"ki")); err == nil {
		t.Error("a torn audit line accepted")
	}

	// An effect no done line reported: fine with a step record, not without.
	none := NewTruth()
	if u := Unaudited("fx", none, State{Mailbox: box, Audit: audit}); len(u) != 0 {
		t.Errorf("an audited effect flagged: %q", u)
	}
	if u := Unaudited("fx", none, State{Mailbox: box, Audit: audit[:1]}); len(u) != 1 {
		t.Errorf("an effect with no outcome in the audit log: %q", u)
	}
	interrupted, _ := ParseAudit([]byte(`{"seq":1,"kind":"query","query_id":"q1","outcome":"received","detail":{"query":"send \"fxm1\""}}
{"seq":2,"kind":"step","query_id":"q1","function":"send","outcome":"started"}
{"seq":3,"kind":"step","query_id":"q1","function":"send","outcome":"interrupted"}
`))
	if u := Unaudited("fx", none, State{Mailbox: box, Audit: interrupted}); len(u) != 0 {
		t.Errorf("an effect marked interrupted flagged: %q", u)
	}
	if u := Unaudited("fx", none, State{Mailbox: box, Audit: interrupted[:2]}); len(u) != 1 {
		t.Errorf("an effect only started in the audit log: %q", u)
	}

	// A mailbox that keeps recent changes in a journal beside its snapshot.
	journal := []byte(`{"seq":1,"op":"add","message":{"id":"m9","folder":"sent","subject":"fxm1"},"next_id":10}` + "\n")
	if l := Lost(tr, State{Mailbox: []byte(`{"messages":[]}`), Journal: journal, Audit: audit}); len(l) != 0 {
		t.Errorf("a sent mail in the journal taken for lost: %q", l)
	}

	// A saved drive file: there, altered, gone.
	saved := Line{Line: 2, ID: "f", QueryID: "q2", Status: "done", Steps: []Step{{Step: "s1", App: "drive", Function: "save", Status: "ok", Args: map[string]any{"name": "fxd2.txt", "content": "body 2"}}}}
	ft := NewTruth()
	ft.Add(saved)
	if l := Lost(ft, State{Drive: map[string][]byte{"fxd2.txt": []byte("body 2")}}); len(l) != 1 || !strings.Contains(l[0], "q2") {
		t.Errorf("a saved file in place: only its query's missing step should show: %q", l)
	}
	if l := Lost(ft, State{Drive: map[string][]byte{"fxd2.txt": []byte("body")}}); len(l) < 2 || !strings.Contains(l[0], "fxd2.txt") {
		t.Errorf("a saved file altered: %q", l)
	}
	if l := Lost(ft, State{Drive: map[string][]byte{}}); len(l) < 2 || !strings.Contains(l[0], "fxd2.txt") {
		t.Errorf("a saved file gone: %q", l)
	}
	fileQuery, _ := ParseAudit([]byte(`{"seq":1,"kind":"query","query_id":"q2","outcome":"received","detail":{"query":"Use drive to save a file with name = fxd2.txt, content = body 2"}}` + "\n"))
	if u := Unaudited("fx", NewTruth(), State{Drive: map[string][]byte{"fxd2.txt": nil}, Audit: fileQuery}); len(u) != 1 || !strings.Contains(u[0], "q2") {
		t.Errorf("a saved file with no outcome in the audit log: %q", u)
	}

	if Crashed("panic: runtime error: index out of range", "") == "" || Crashed("", "bus error") == "" {
		t.Error("a crash not seen")
	}
	if why := Crashed("isolategpt: store damaged: MANIFEST", ""); why != "" {
		t.Errorf("an error message taken for a crash: %s", why)
	}
	bs, err := ParseBookings([]byte("{\"booking_id\":\"A\"}\n{\"booking_id\":\"B\",\"fa{\"booking_id\":\"C\"}\n{\"booking_id\":\"D\"}\n"))
	if err == nil || len(bs) != 2 {
		t.Errorf("a torn ledger line: %d bookings, %v", len(bs), err)
	}
}
