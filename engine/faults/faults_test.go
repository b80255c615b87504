//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestFaults is the suite: a self-test, then each kind in turn for its
// share of the budget, then the table. Any finding fails it.
func TestFaults(t *testing.T) {
	s := newSuite(t)
	start := time.Now()
	s.selfTest()
	if t.Failed() {
		t.Fatal("the self-test failed: the checks cannot be trusted, no fault was injected")
	}
	for i, kind := range s.cfg.kinds {
		// What is left, shared by the kinds still to run: a kind that
		// runs out of cases early leaves its time to the next ones.
		share := (s.cfg.budget - time.Since(start)) / time.Duration(len(s.cfg.kinds)-i)
		ctx, cancel := context.WithTimeout(context.Background(), max(share, time.Second))
		switch kind {
		case "kill9":
			s.loop(ctx, kind, s.kill9)
		case "signal":
			s.loop(ctx, kind, s.signal)
		case "diskfull":
			s.diskFull(ctx)
		case "storefiles":
			s.storeFiles(ctx)
		case "appdata":
			s.appData(ctx)
		}
		cancel()
	}
	table := s.table()
	fmt.Print(table)
	if t.Failed() {
		t.Logf("faults: FAILED after %v; rerun a kind with FAULTS_KINDS=KIND FAULTS_SEED=%d FAULTS_VERBOSE=1", time.Since(start).Round(time.Second), s.cfg.seed)
		return
	}
	// A kind that could not run is not a pass: the run says so as a skip.
	if why := s.skipped(); why != "" {
		t.Skipf("faults: no finding in what ran, but NOT every kind ran (%s): not a pass", why)
	}
}

// loop runs trials of a workload fault until ctx ends (at least one per
// mode), alternating the hub's user, each mode on its own growing folder.
func (s *suite) loop(ctx context.Context, kind string, inject func(*trial, *history)) {
	ms := modes()
	hs := make([]*history, len(ms))
	for n := 0; n < len(ms) || !ctxDone(ctx); n++ {
		i := n % len(ms)
		if hs[i] == nil {
			hs[i] = s.newHistory(ms[i], "")
		}
		tr := s.newTrial(kind, n, ms[i])
		inject(tr, hs[i])
		if !tr.finish() {
			hs[i] = nil // the next trial of this mode starts afresh, so each finding counts once
		}
	}
}

// selfTest shows the checks see a loss: it stores work, then deletes a
// reported mail, a reported booking and the audit log's tail, and fails
// unless each is reported lost.
func (s *suite) selfTest() {
	t := s.t
	m := modes()[0]
	h := s.newHistory(m, "")
	tr := s.newTrial("selftest", 0, m)
	tr.what = "a clean batch, no fault"
	s.batch(tr, h, h.workload(4))
	s.verify(tr, h)
	if tr.findings() > 0 {
		tr.finish()
		t.Fatal("self-test: a clean batch with no fault did not pass the checks (above): no fault was injected")
	}
	snap := h.f.work + "/snapshot"
	if out, err := exec.Command("cp", "-a", h.f.data, snap).CombinedOutput(); err != nil {
		t.Fatalf("self-test: copy the data folder: %v: %s", err, out)
	}
	s.batch(tr, h, h.workload(4))
	s.verify(tr, h)
	tr.finish()
	if len(h.truth.Mails) == 0 || len(h.truth.Bookings) == 0 || len(h.truth.Files) == 0 {
		t.Fatalf("self-test: the workload stored no mail, booking or file (%d, %d, %d): nothing to lose on purpose", len(h.truth.Mails), len(h.truth.Bookings), len(h.truth.Files))
	}
	detected := 0
	expect := func(what string, found []string, want string) {
		for _, f := range found {
			if strings.Contains(f, want) {
				detected++
				if s.cfg.verbose {
					t.Logf("self-test: %s detected: %s", what, f)
				}
				return
			}
		}
		t.Errorf("self-test: %s NOT detected (want a finding naming %q, got %q): the suite cannot fail", what, want, found)
	}
	st := h.f.state(h.audit)

	subj := sortedKeys(h.truth.Mails)[0]
	var mb map[string]any
	if err := json.Unmarshal(st.Mailbox, &mb); err != nil {
		t.Fatalf("self-test: mailbox.json: %v", err)
	}
	var kept []any
	for _, msg := range mb["messages"].([]any) {
		if msg.(map[string]any)["subject"] != subj {
			kept = append(kept, msg)
		}
	}
	mb["messages"] = kept
	lostMail := st
	lostMail.Mailbox, _ = json.Marshal(mb)
	var journal []string // a journal of changes after the snapshot, if the mailbox has one
	for _, l := range strings.Split(string(st.Journal), "\n") {
		if !strings.Contains(l, `"`+subj+`"`) {
			journal = append(journal, l)
		}
	}
	lostMail.Journal = []byte(strings.Join(journal, "\n"))
	expect("a sent mail deleted from mailbox.json", Lost(h.truth, lostMail), subj)

	id := sortedKeys(h.truth.Bookings)[0]
	var keep []string
	for _, l := range strings.Split(string(st.Bookings), "\n") {
		if !strings.Contains(l, id) {
			keep = append(keep, l)
		}
	}
	lostBooking := st
	lostBooking.Bookings = []byte(strings.Join(keep, "\n"))
	expect("a booking deleted from bookings.jsonl", Lost(h.truth, lostBooking), id)

	file := sortedKeys(h.truth.Files)[0]
	lostFile := st
	lostFile.Drive = map[string][]byte{}
	for name, data := range st.Drive {
		if name != file {
			lostFile.Drive[name] = data
		}
	}
	expect("a saved file deleted from drive's folder", Lost(h.truth, lostFile), file)

	// The store as it was before the second batch: the audit log's tail
	// and the second batch's queries are gone, as a store that silently
	// lost its newest tables would be.
	if err := os.RemoveAll(h.f.path("store")); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", snap+"/store", h.f.path("store")).CombinedOutput(); err != nil {
		t.Fatalf("self-test: restore the old store: %v: %s", err, out)
	}
	tr2 := s.newTrial("selftest", 1, m)
	old, r2, ok := s.readAudit(tr2, h.f)
	if !ok {
		t.Fatalf("self-test: audit of the older store: %v: %s", r2, r2.stderr)
	}
	expect("the audit log's tail removed", MissingRecords(h.audit, old), "missing")
	// The class of a deleted or truncated *.mem: a read that exits 0 and
	// shows fewer records than the store held.
	tr4 := s.newTrial("selftest", 3, m)
	tr4.readWhole(h.audit, r2)
	expect("audit exit 0 on a store that lost its newest records", tr4.exit, "silent truncation")
	if s.hasVerify {
		tr3 := s.newTrial("selftest", 2, m)
		s.checkChain(tr3, h)
		expect("the audit log's tail removed, by audit verify --head", tr3.lost, "audit verify")
	}
	expect("a done query's audit records removed", Lost(h.truth, h.f.state(old)), "no done step of it in the audit log")

	// Done but its outcome not durable: the line said done, the audit
	// log holds its step as started and then interrupted (the outcome
	// record never reached the disk).
	q := sortedKeys(h.truth.Queries)[0]
	var undurable []Record
	for _, r := range h.audit {
		if r.QueryID == q && r.Kind == "step" && Done(r.Outcome) {
			r.Outcome = "interrupted"
		}
		undurable = append(undurable, r)
	}
	expect("a done line whose step the audit log calls interrupted", Lost(h.truth, h.f.state(undurable)), "no done step of it in the audit log")

	// An effect no line reported done and the audit log gives no outcome
	// for: a retry would repeat it unknowingly.
	unreported := h.truth.Clone()
	delete(unreported.Mails, subj)
	sendQ := ""
	for _, r := range h.audit {
		if r.Kind == "query" && strings.Contains(string(r.Detail), `\"`+subj+`\"`) {
			sendQ = r.QueryID
		}
	}
	var noOutcome []Record
	for _, r := range h.audit {
		if r.QueryID != sendQ || r.Kind != "step" {
			noOutcome = append(noOutcome, r)
		}
	}
	expect("a sent mail with no outcome in the audit log", Unaudited(prefix, unreported, h.f.state(noOutcome)), subj)

	var bad Line
	if err := json.Unmarshal([]byte(`{"line":1,"id":"x","status":"ok","steps":[{"step":"s1","app":"mail","function":"send","status":"failed","reason":"disk full"}]}`), &bad); err != nil {
		t.Fatal(err)
	}
	if UndoneButDone(bad) == "" {
		t.Errorf("self-test: a line \"ok\" with a failed step NOT detected: the suite cannot fail")
	} else {
		detected++
	}
	want := 9
	if s.hasVerify {
		want++
	}
	t.Logf("faults: self-test: %d deliberate losses or false statuses, %d detected", want, detected)
}
