//go:build faults

package faults

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// policy allows every step once: each line of the workload writes.
const policy = `{"default": "allow_once"}`

// prefix starts every value the workload writes, so the checks can tell
// its mails and bookings from the seeded ones.
const prefix = "fx"

// history is one data folder's record of what was reported stored and the
// audit log as last read: every later read must still hold both.
type history struct {
	f      folder
	truth  *Truth
	audit  []Record
	policy string
	next   int             // the next workload line number
	head   string          // the exported chain head after the last check, if any
	seen   map[string]bool // findings already reported, not repeated
}

func (s *suite) newHistory(m mode, parent string) *history {
	f := s.newFolder(m, parent)
	return &history{f: f, truth: NewTruth(), policy: f.write(s.t, "policy.json", policy), seen: map[string]bool{}}
}

// workload is n write lines: mail sends, metro_hail bookings and drive
// saves in turn, each with values no other line uses.
func (h *history) workload(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		k := h.next
		h.next++
		id, body := fmt.Sprintf("L%d", k), fmt.Sprintf("body %d", k)
		switch k % 3 {
		case 0:
			b.WriteString(batchLine(id, sendQuery(fmt.Sprintf("%sm%d", prefix, k), body)))
		case 1:
			b.WriteString(batchLine(id, bookQuery(fmt.Sprintf("%ss%d", prefix, k), fmt.Sprintf("%se%d", prefix, k))))
		default:
			b.WriteString(batchLine(id, saveQuery(fmt.Sprintf("%sd%d.txt", prefix, k), body)))
		}
	}
	return b.String()
}

// The workload's queries, one builder each, so that every kind and case
// writes the lines the checks know how to read back (Truth.Add, Unaudited).

// sendQuery sends one mail to john.doe.
func sendQuery(subject, body string) string {
	return fmt.Sprintf(`send an email to john.doe@example.com with subject "%s" and message "%s"`, subject, body)
}

// bookQuery books one ride with metro_hail.
func bookQuery(from, to string) string {
	return fmt.Sprintf(`Use metro_hail to book a ride from "%s" to "%s"`, from, to)
}

// saveQuery saves one file with drive.
func saveQuery(name, content string) string {
	return fmt.Sprintf("Use drive to save a file with name = %s, content = %s", name, content)
}

// batchLine is one line of batch input.
func batchLine(id, query string) string {
	b, err := json.Marshal(struct {
		ID    string `json:"id"`
		Query string `json:"query"`
	}{id, query})
	if err != nil {
		panic(err) // two strings always encode
	}
	return string(b) + "\n"
}

// take reads a command's output lines: each complete one is checked for a
// false "done" and, when done, added to the truth. A torn last line is
// allowed only when the command was killed (torn).
func (h *history) take(tr *trial, r result, torn bool) []Line {
	var ls []Line
	for i, raw := range r.stdout {
		l, err := ParseLine(raw)
		if err != nil {
			if torn && i == len(r.stdout)-1 {
				continue
			}
			tr.wrong("%s: %v", r.name, err)
			continue
		}
		if why := UndoneButDone(l); why != "" {
			tr.wrong("%s: done for undone work: %s", r.name, why)
		}
		h.truth.Add(l)
		ls = append(ls, l)
	}
	return ls
}

// batch runs a batch of input with h's policy to its end: each output line
// is checked (take) and what it reported done added to h's truth.
func (s *suite) batch(tr *trial, h *history, input string) (result, []Line) {
	r := s.run(h.f, input, "batch", "--policy", h.policy)
	tr.crashCheck(r)
	return r, h.take(tr, r, false)
}

// readAudit runs `audit --json` and parses it; ok is false when the
// command failed or its output did not parse (both recorded).
func (s *suite) readAudit(tr *trial, f folder) ([]Record, result, bool) {
	r := s.run(f, "", "audit", "--json")
	tr.crashCheck(r)
	if r.exit != 0 {
		return nil, r, false
	}
	recs, err := ParseAudit([]byte(strings.Join(r.stdout, "\n")))
	if err != nil {
		tr.fail("audit --json: %v", err)
		return nil, r, false
	}
	return recs, r, true
}

// state reads what the folder holds.
func (f folder) state(audit []Record) State {
	st := State{Audit: audit}
	st.Mailbox, _ = os.ReadFile(f.path("apps", "default", "mail", "mailbox.json"))
	st.Journal, _ = os.ReadFile(f.path("apps", "default", "mail", "mailbox.journal.jsonl"))
	st.Bookings, _ = os.ReadFile(f.path("apps", "default", "metro_hail", "bookings.jsonl"))
	dir := f.path("apps", "default", "drive", "files")
	if ents, err := os.ReadDir(dir); err == nil {
		st.Drive = map[string][]byte{}
		for _, e := range ents {
			if e.Type().IsRegular() {
				st.Drive[e.Name()], _ = os.ReadFile(filepath.Join(dir, e.Name()))
			}
		}
	}
	return st
}

// verify is the check after every fault: the audit log opens and keeps
// every record read before; a new batch runs and is done; nothing reported
// stored is missing; every effect of the workload has an outcome in the
// audit log.
func (s *suite) verify(tr *trial, h *history) {
	recs, r, ok := s.readAudit(tr, h.f)
	if !ok {
		if _, err := os.Stat(h.f.path("store")); r.exit != 0 && len(h.audit) == 0 && errors.Is(err, fs.ErrNotExist) {
			// Killed before it made its store, in a folder that never had
			// one: no log to read yet (a read does not create one). What a
			// line reported done must still show after the recovery batch.
			recs = nil
		} else {
			if r.exit != 0 {
				tr.wrong("audit after the fault: %v: %s", r, firstLines(r.stderr, 3))
			}
			return
		}
	}
	for _, m := range MissingRecords(h.audit, recs) {
		tr.lose("%s", m)
	}
	rec, lines := s.batch(tr, h, h.workload(2))
	if rec.exit != 0 || len(lines) != 2 || !Done(lines[0].Status) || !Done(lines[1].Status) {
		tr.fail("recovery batch after the fault: %v, %d line(s) of 2: %s %s", rec, len(lines), firstLines(strings.Join(rec.stdout, "\n"), 2), firstLines(rec.stderr, 3))
	}
	recs2, r2, ok := s.readAudit(tr, h.f)
	if !ok {
		tr.wrong("audit after the recovery batch: %v: %s", r2, firstLines(r2.stderr, 3))
		return
	}
	for _, m := range MissingRecords(recs, recs2) {
		tr.lose("after the recovery batch: %s", m)
	}
	st := h.f.state(recs2)
	for _, l := range Lost(h.truth, st) {
		if !h.seen[l] {
			h.seen[l] = true
			tr.lose("%s", l)
		}
	}
	for _, u := range Unaudited(prefix, h.truth, st) {
		if !h.seen[u] {
			h.seen[u] = true
			tr.fail("%s", u)
		}
	}
	h.audit = recs2
	s.checkChain(tr, h)
}

// checkChain runs `audit verify` (against the head exported at the last
// check: a cut tail shows) and exports the head for the next one; without
// the command in this build it does nothing.
func (s *suite) checkChain(tr *trial, h *history) {
	if !s.hasVerify {
		return
	}
	args := []string{"audit", "verify"}
	if h.head != "" {
		args = append(args, "--head", h.head)
	}
	v := s.run(h.f, "", args...)
	tr.crashCheck(v)
	switch v.exit {
	case 0:
	case 6:
		tr.lose("audit verify: the chain is broken: %s", firstLines(strings.Join(v.stdout, "\n")+" "+v.stderr, 4))
	default:
		tr.wrong("audit verify: %v: %s", v, firstLines(v.stderr, 3))
	}
	hd := s.run(h.f, "", "audit", "head")
	if hd.exit != 0 {
		tr.wrong("audit head: %v: %s", hd, firstLines(hd.stderr, 3))
		return
	}
	h.head = h.f.write(s.t, "head.json", strings.Join(hd.stdout, "\n")+"\n")
}

// kill9 kills the hub with SIGKILL at a random point of a write-heavy
// batch, then checks the folder.
func (s *suite) kill9(tr *trial, h *history) {
	const n = 24
	in := h.workload(n)
	k := tr.rng.IntN(n - 10) // leave lines to run when the fault comes
	extra := time.Duration(tr.rng.IntN(60)) * time.Millisecond
	tr.what = fmt.Sprintf("kill -9 after %d line(s) + %v", k, extra)
	p := s.start(h.f, strings.NewReader(in), "batch", "--policy", h.policy)
	p.waitLines(k, time.Minute)
	time.Sleep(extra)
	tr.missed = p.ended()
	p.signalHub(syscall.SIGKILL)
	r, _ := p.wait(30 * time.Second)
	p.kill(syscall.SIGKILL) // its workers, if any outlived it
	if r.signaled == "" {
		tr.what += fmt.Sprintf(" (the batch had ended: %v)", r)
	}
	h.take(tr, r, true)
	if tr.rng.IntN(3) == 0 {
		// A second crash while the folder recovers from the first: the
		// open that marks interrupted work is itself cut short.
		again := time.Duration(tr.rng.IntN(300)) * time.Millisecond
		tr.what += fmt.Sprintf(", then kill -9 the next batch after %v", again)
		p2 := s.start(h.f, strings.NewReader(h.workload(6)), "batch", "--policy", h.policy)
		time.Sleep(again)
		p2.signalHub(syscall.SIGKILL)
		r2, _ := p2.wait(30 * time.Second)
		p2.kill(syscall.SIGKILL)
		h.take(tr, r2, true)
	}
	s.verify(tr, h)
}

// askSignal sends SIGINT or SIGTERM to `ask --yes --json` sending one
// mail: it must end on its own, either done (exit 0, the mail there) or
// not (exit 4 or 5, and a mail that went out all the same has its outcome
// in the audit log).
func (s *suite) askSignal(tr *trial, h *history) {
	k := h.next
	h.next++
	subject := fmt.Sprintf("%sm%d", prefix, k)
	query := sendQuery(subject, fmt.Sprintf("body %d", k))
	// Half the trials: 100-500 ms after the start (not in the process's
	// first 100 ms, where it opens the folder before any handler can be in
	// place; the batch trials wait for a line). Half: 0-40 ms after ask
	// says it runs the send (stderr "allowed once"), the moment between
	// intent and effect, which a fast machine's ask passes in well under
	// 500 ms.
	atStep := tr.rng.IntN(2) == 1
	delay := time.Duration(100+tr.rng.IntN(400)) * time.Millisecond
	if atStep {
		delay = time.Duration(tr.rng.IntN(40)) * time.Millisecond
	}
	sig := tr.pickSignal()
	p := s.start(h.f, strings.NewReader(""), "ask", "--yes", "--json", query)
	if atStep {
		tr.what = fmt.Sprintf("ask: %v %v after it said it runs the send", sig, delay)
		if !p.waitStderr("allowed once", 30*time.Second) {
			tr.what += " (it never said so)"
		}
	} else {
		tr.what = fmt.Sprintf("ask: %v after %v", sig, delay)
	}
	time.Sleep(delay)
	r, ended := tr.interrupt(p, sig)
	p.kill(syscall.SIGKILL)
	tr.what += fmt.Sprintf(" → %v", r)
	switch {
	case !ended:
		tr.wrong("%v: still running 30 s after %v", r, sig)
	case r.signaled != "":
		tr.wrong("%v: the signal ended ask unhandled", r)
	case r.exit == 0:
		l, err := ParseLine(strings.Join(r.stdout, ""))
		if err != nil {
			tr.wrong("ask exit 0 without its JSON result: %v", err)
			break
		}
		if why := UndoneButDone(l); why != "" || !Done(l.Status) {
			tr.wrong("ask exit 0 but status %q %s", l.Status, why)
		}
		h.truth.Add(l)
	case r.exit == 4 || r.exit == 5:
	default:
		tr.wrong("%v after %v: want 0 (done), 4 (denied) or 5 (interrupted): %s", r, sig, firstLines(r.stderr, 3))
	}
	s.verify(tr, h)
}

// signal sends SIGTERM to the hub or SIGINT to its process group (Ctrl+C)
// during a batch: the batch must end on its own, say it was interrupted,
// exit 5 when work was left undone, and leave the store closed.
func (s *suite) signal(tr *trial, h *history) {
	if tr.n%3 == 2 {
		s.askSignal(tr, h)
		return
	}
	const n = 24
	in := h.workload(n)
	// After the first line at least: the batch is running (a signal in
	// the first milliseconds of a process lands before any handler can).
	k := 1 + tr.rng.IntN(n-11)
	extra := time.Duration(tr.rng.IntN(60)) * time.Millisecond
	sig := tr.pickSignal()
	tr.what = fmt.Sprintf("%v after %d line(s) + %v", sig, k, extra)
	p := s.start(h.f, strings.NewReader(in), "batch", "--policy", h.policy)
	p.waitLines(k, time.Minute)
	time.Sleep(extra)
	r, ended := tr.interrupt(p, sig)
	lines := h.take(tr, r, false)
	allDone := len(lines) == n
	for _, l := range lines {
		allDone = allDone && Done(l.Status)
	}
	switch {
	case !ended:
		tr.wrong("%v: still running 30 s after %v", r, sig)
	case r.signaled != "":
		tr.wrong("%v: the signal ended the batch unhandled (%d of %d lines printed, no summary)", r, len(lines), n)
	case len(lines) < n && r.exit != 5:
		tr.wrong("%v after %d of %d lines: want exit 5 (interrupted) for the lines not run", r, len(lines), n)
	case r.exit == 0 && !allDone:
		tr.wrong("%v though not every line was done", r)
	}
	if ended && r.signaled == "" && len(lines) < n && !strings.Contains(strings.ToLower(r.stderr), "interrupt") {
		tr.wrong("%v: the summary on stderr does not say the batch was interrupted: %s", r, firstLines(r.stderr, 3))
	}
	if ended && r.signaled == "" {
		if mems, _ := filepath.Glob(h.f.path("store", "*.mem")); len(mems) > 0 {
			tr.fail("the store was left unclosed after %v: %s remain", sig, strings.Join(baseNames(mems), ", "))
		}
	}
	p.kill(syscall.SIGKILL)
	s.verify(tr, h)
}

// pickSignal is SIGTERM or SIGINT, at random.
func (tr *trial) pickSignal() syscall.Signal {
	if tr.rng.IntN(2) == 1 {
		return syscall.SIGINT
	}
	return syscall.SIGTERM
}

// interrupt sends sig as a person would — SIGINT to the process group
// (Ctrl+C at a terminal), SIGTERM to the hub alone (kill, systemd) — and
// waits at most 30 s for the command to end; missed when it had ended.
func (tr *trial) interrupt(p *proc, sig syscall.Signal) (result, bool) {
	tr.missed = p.ended()
	if sig == syscall.SIGINT {
		p.kill(sig)
	} else {
		p.signalHub(sig)
	}
	r, ended := p.wait(30 * time.Second)
	tr.crashCheck(r)
	return r, ended
}

func baseNames(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = filepath.Base(p)
	}
	return out
}

// firstLines is at most n lines of text, for messages.
func firstLines(text string, n int) string {
	ls := strings.Split(strings.TrimSpace(text), "\n")
	if len(ls) > n {
		ls = append(ls[:n], fmt.Sprintf("… (%d more lines)", len(ls)-n))
	}
	return strings.Join(ls, " | ")
}
