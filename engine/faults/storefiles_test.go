//go:build faults

package faults

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// storeTargets are the store's files a case damages, by glob: Badger's,
// then the anchor isolategpt keeps beside them (a store without one, an
// older version, counts its cases as missed).
var storeTargets = []string{"MANIFEST", "*.sst", "*.vlog", "*.mem", "KEYREGISTRY", "ANCHOR"}

// optionalTarget: a store may lack the file altogether.
func optionalTarget(glob string) bool { return glob == "ANCHOR" }

var damages = []string{"truncate", "garbage", "delete"}

// storeBase is a data folder to copy for each case, with its audit log
// and what it reported stored.
type storeBase struct {
	h     *history
	audit []Record
	// backup is `store backup`'s file of the undamaged store, in h's work
	// folder (so in every copy); "" without the command.
	backup string
}

// storeFiles damages one store file per case (truncated, overwritten with
// 4 KiB of garbage, or deleted) in a copy of a folder that holds work: the
// next command must fail with the store's exit status 6 naming the file,
// or, if it succeeds, show every record; it must never panic, and it must
// leave the store's files as it found them. A write command after it must
// fail the same way and run nothing.
func (s *suite) storeFiles(ctx context.Context) {
	const kind = "storefiles"
	type caseKey struct{ target, damage string }
	var cases []caseKey
	for _, i := range s.caseOrder(kind, len(storeTargets)*len(damages)) {
		cases = append(cases, caseKey{storeTargets[i/len(damages)], damages[i%len(damages)]})
	}
	ms := modes()
	bases := map[string]*storeBase{} // mode name + "clean"/"killed"
	base := func(m mode, killed bool) *storeBase {
		key := fmt.Sprintf("%s-%v", m.name, killed)
		if b, ok := bases[key]; ok {
			return b
		}
		b := s.makeStoreBase(m, killed)
		bases[key] = b
		return b
	}
	for n := 0; n < len(cases) && (n < 1 || !ctxDone(ctx)); n++ {
		c := cases[n]
		m := ms[n%len(ms)]
		tr := s.newTrial(kind, n+1, m)
		killed := c.target == "*.mem" || tr.rng.IntN(2) == 1
		b := base(m, killed)
		if b != nil && c.target != "*.mem" && !optionalTarget(c.target) && !hasFile(b.h.f.path("store"), c.target) {
			// A killed folder may have no table yet, a clean one no log.
			killed = !killed
			b = base(m, killed)
		}
		if b == nil {
			s.skip(kind, "no folder to damage: making one failed (see above)")
			return
		}
		s.storeCase(tr, b, c.target, c.damage, killed)
		tr.finish()
	}
}

// makeStoreBase runs a workload on a fresh folder and closes it cleanly,
// or kills it with SIGKILL mid-batch so its write-ahead log (*.mem) stays.
func (s *suite) makeStoreBase(m mode, killed bool) *storeBase {
	h := s.newHistory(m, "")
	tr := s.newTrial("storefiles", 0, m)
	tr.what = fmt.Sprintf("making a folder to damage (killed %v)", killed)
	if !killed {
		s.batch(tr, h, h.workload(12))
	} else {
		p := s.start(h.f, strings.NewReader(h.workload(40)), "batch", "--policy", h.policy)
		p.waitLines(8, time.Minute)
		p.signalHub(syscall.SIGKILL)
		r, _ := p.wait(30 * time.Second)
		p.kill(syscall.SIGKILL)
		h.take(tr, r, true)
	}
	// The baseline: what a copy shows, so the base itself is never opened.
	probe := s.copyFolder(h, "probe")
	recs, r, ok := s.readAudit(tr, probe.f)
	if !ok {
		s.t.Errorf("storefiles: the undamaged folder's audit log: %v: %s", r, firstLines(r.stderr, 3))
		return nil
	}
	if s.hasVerify {
		hd := s.run(probe.f, "", "audit", "head")
		if hd.exit != 0 {
			tr.wrong("audit head on the undamaged folder: %v: %s", hd, firstLines(hd.stderr, 3))
		} else {
			h.head = h.f.write(s.t, "head.json", strings.Join(hd.stdout, "\n")+"\n")
		}
	}
	backup := ""
	if s.hasStore {
		bk := s.run(probe.f, "", "store", "backup", filepath.Join(probe.f.work, "store.bak"))
		tr.crashCheck(bk)
		if bk.exit != 0 {
			tr.wrong("store backup of the undamaged folder: %v: %s", bk, firstLines(bk.stderr, 3))
		} else if out, err := exec.Command("cp", "-a", filepath.Join(probe.f.work, "store.bak"), h.f.work).CombinedOutput(); err != nil {
			s.t.Fatalf("storefiles: copy the backup: %v: %s", err, out)
		} else {
			backup = filepath.Join(h.f.work, "store.bak")
		}
	}
	os.RemoveAll(probe.f.work)
	if tr.findings() > 0 {
		tr.finish()
	}
	return &storeBase{h: h, audit: recs, backup: backup}
}

// copyFolder copies h's folder (sparse, owners kept) next to it.
func (s *suite) copyFolder(h *history, name string) *history {
	dst, err := os.MkdirTemp(s.root, name+"-")
	if err != nil {
		s.t.Fatal(err)
	}
	if err := os.Remove(dst); err != nil {
		s.t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", "--sparse=always", h.f.work, dst).CombinedOutput(); err != nil {
		s.t.Fatalf("copy %s: %v: %s", h.f.work, err, out)
	}
	c := *h
	c.f = folder{mode: h.f.mode, work: dst, data: filepath.Join(dst, "data")}
	c.policy = filepath.Join(dst, filepath.Base(h.policy))
	c.truth = h.truth.Clone()
	c.seen = map[string]bool{}
	if h.head != "" {
		c.head = filepath.Join(dst, filepath.Base(h.head))
	}
	return &c
}

func (s *suite) storeCase(tr *trial, b *storeBase, target, damage string, killed bool) {
	h := s.copyFolder(b.h, "case")
	defer os.RemoveAll(h.f.work)
	store := h.f.path("store")
	matches, _ := filepath.Glob(filepath.Join(store, target))
	sort.Strings(matches)
	base := "clean"
	if killed {
		base = "killed"
	}
	if len(matches) == 0 && optionalTarget(target) {
		tr.missed = true
		tr.what = fmt.Sprintf("%s %s in a %s folder: this store has none", damage, target, base)
		return
	}
	if len(matches) == 0 {
		tr.what = fmt.Sprintf("%s %s in a %s folder", damage, target, base)
		tr.fail("the %s folder has no %s to damage (files: %s)", base, target, strings.Join(listDir(store), " "))
		return
	}
	file := matches[tr.rng.IntN(len(matches))]
	name := filepath.Base(file)
	tr.what = fmt.Sprintf("%s %s in a %s folder", damage, name, base)
	detail, err := damageFile(tr, file, damage)
	if err != nil {
		s.t.Fatalf("storefiles: %s %s: %v", damage, file, err)
	}
	tr.what += " " + detail
	before := snapshot(store)

	// store check first, on the store exactly as damaged; judged below,
	// against what audit shows.
	var c result
	if s.hasStore {
		c = s.run(h.f, "", "store", "check")
		tr.crashCheck(c)
		if diff := changed(before, snapshot(store)); diff != "" {
			tr.fail("store check rewrote the damaged store: %s", diff)
			before = snapshot(store)
		}
	}

	r := s.run(h.f, "", "audit", "--json")
	tr.crashCheck(r)
	refused := r.exit != 0
	tr.what += fmt.Sprintf(" → %v", r)
	switch r.exit {
	case 0:
		tr.readWhole(b.audit, r)
	case 6:
		if !strings.Contains(r.stderr, name) {
			tr.fail("audit exit 6 without naming %s: %s", name, firstLines(r.stderr, 3))
		}
		// Fatal errors go to the log file as well as stderr.
		if logText, _ := os.ReadFile(h.f.path("isolategpt.log")); !strings.Contains(string(logText), name) {
			tr.fail("the store error naming %s is not in isolategpt.log", name)
		}
	default:
		tr.wrong("%v, want 6 (store damaged) naming %s: %s", r, name, firstLines(r.stderr, 3))
	}
	if diff := changed(before, snapshot(store)); diff != "" {
		tr.fail("audit (a read) rewrote the damaged store: %s", diff)
	}
	if s.hasVerify && h.head != "" {
		// The chain check must agree: broken where audit refused or lost
		// records, whole where audit showed every one.
		intact := r.exit == 0 && len(tr.lost) == 0
		before := snapshot(store) // what audit left, if it changed anything
		v := s.run(h.f, "", "audit", "verify", "--head", h.head)
		tr.crashCheck(v)
		switch {
		case intact && v.exit != 0:
			tr.wrong("%v on a store audit read whole: %s", v, firstLines(v.stderr, 3))
		case !intact && v.exit != 6:
			tr.wrong("%v on a store audit refused or read short: want 6: %s", v, firstLines(strings.Join(v.stdout, "\n")+" "+v.stderr, 3))
		}
		if diff := changed(before, snapshot(store)); diff != "" {
			tr.fail("audit verify rewrote the damaged store: %s", diff)
		}
	}

	if s.hasStore {
		intact := r.exit == 0 && len(tr.lost) == 0
		if r.exit == 6 && !strings.Contains(r.stderr, "store check") && !strings.Contains(r.stderr, "store restore") {
			tr.fail("audit's store error names no recovery command (store check, store restore): %s", firstLines(r.stderr, 3))
		}
		out := strings.Join(c.stdout, "\n") + c.stderr
		switch {
		case intact && c.exit != 0:
			tr.wrong("%v on a store audit read whole: %s", c, firstLines(out, 3))
		case !intact && c.exit != 6:
			tr.wrong("%v on a store audit refused or read short: want 6: %s", c, firstLines(out, 3))
		case !intact && !strings.Contains(out, name):
			tr.fail("store check exit 6 without naming %s: %s", name, firstLines(out, 4))
		}
	}

	// A write command: on a store that refused, nothing may run.
	before = snapshot(store)
	subject := fmt.Sprintf("%sstore%d", prefix, tr.n)
	w, lines := s.mailBatch(tr, h, "W", subject, "after damage")
	st := h.f.state(nil)
	sent := strings.Contains(string(st.Mailbox)+string(st.Journal), `"`+subject+`"`)
	if refused {
		if w.exit != 6 {
			tr.wrong("batch on the damaged store: %v, want 6: %s", w, firstLines(w.stderr, 3))
		}
		if sent {
			tr.fail("batch on a store that refused still sent the mail %q", subject)
		}
		if diff := changed(before, snapshot(store)); diff != "" {
			tr.fail("batch rewrote the damaged store: %s", diff)
		}
		s.restore(tr, h, b)
		return
	}
	switch {
	case w.exit == 6:
		// The write found what the read did not; it must still have run nothing.
		if sent {
			tr.fail("batch exit 6 but sent the mail %q", subject)
		}
	case !oneDone(w, lines):
		tr.fail("batch after a harmless damage: %v: %s %s", w, firstLines(strings.Join(w.stdout, "\n"), 1), firstLines(w.stderr, 3))
	}
	recs, ok := s.auditKeeps(tr, h, b.audit, "after the batch")
	if !ok {
		return
	}
	for _, l := range Lost(h.truth, h.f.state(recs)) {
		tr.lose("%s", l)
	}
}

// auditKeeps reads h's audit log, which must open and hold every record of
// base; ok is false when it did not open.
func (s *suite) auditKeeps(tr *trial, h *history, base []Record, when string) ([]Record, bool) {
	recs, ar, ok := s.readAudit(tr, h.f)
	if !ok {
		tr.wrong("audit %s: %v: %s", when, ar, firstLines(ar.stderr, 3))
		return nil, false
	}
	if miss := MissingRecords(base, recs); len(miss) > 0 {
		tr.lose("%s, %d record(s) of %d lost: %s", when, len(miss), len(base), miss[0])
	}
	return recs, true
}

// readWhole checks an `audit --json` that exited 0 on a damaged store: it
// must show every record the undamaged store held, or the truncation is
// silent.
func (tr *trial) readWhole(base []Record, r result) {
	recs, err := ParseAudit([]byte(strings.Join(r.stdout, "\n")))
	if err != nil {
		tr.fail("audit --json exit 0: %v", err)
	}
	if miss := MissingRecords(base, recs); len(miss) > 0 {
		tr.lose("audit exit 0 with %d of %d records: %s", len(recs), len(base), miss[0])
		tr.wrong("audit exit 0 with %d of the %d records (silent truncation)", len(recs), len(base))
	}
}

// restore brings the damaged store back from the base's backup, as its
// error message says to: every record must be back and a batch must run.
func (s *suite) restore(tr *trial, h *history, b *storeBase) {
	if b.backup == "" {
		return
	}
	rs := s.run(h.f, "", "store", "restore", b.backup, "--replace")
	tr.crashCheck(rs)
	if rs.exit != 0 {
		tr.fail("store restore of the backup: %v: %s", rs, firstLines(rs.stderr, 3))
		return
	}
	if _, ok := s.auditKeeps(tr, h, b.audit, "after store restore"); !ok {
		return
	}
	w, lines := s.mailBatch(tr, h, "R", fmt.Sprintf("%srestored%d", prefix, tr.n), "after restore")
	if !oneDone(w, lines) {
		tr.fail("batch after store restore: %v: %s %s", w, firstLines(strings.Join(w.stdout, "\n"), 1), firstLines(w.stderr, 3))
	}
}

// mailBatch runs a batch of one line sending one mail.
func (s *suite) mailBatch(tr *trial, h *history, id, subject, body string) (result, []Line) {
	return s.batch(tr, h, batchLine(id, sendQuery(subject, body)))
}

// oneDone reports whether a one-line batch exited 0 with its line done.
func oneDone(r result, lines []Line) bool {
	return r.exit == 0 && len(lines) == 1 && Done(lines[0].Status)
}

// damageFile truncates, overwrites or deletes file; it says how.
func damageFile(tr *trial, file, damage string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	end := len(data) // past the last non-zero byte: the part in use
	for end > 0 && data[end-1] == 0 {
		end--
	}
	switch damage {
	case "truncate":
		size := 0
		if end > 0 {
			size = tr.rng.IntN(end)
		}
		return fmt.Sprintf("(to %d of %d bytes in use)", size, end), os.Truncate(file, int64(size))
	case "garbage":
		off := 0
		if end > 0 {
			off = tr.rng.IntN(end)
		}
		n := min(4096, len(data)-off)
		junk := make([]byte, n)
		for i := range junk {
			junk[i] = byte(tr.rng.IntN(256))
		}
		f, err := os.OpenFile(file, os.O_WRONLY, 0)
		if err != nil {
			return "", err
		}
		_, err = f.WriteAt(junk, int64(off))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return fmt.Sprintf("(%d bytes at %d of %d in use)", n, off, end), err
	case "delete":
		return "", os.Remove(file)
	}
	return "", fmt.Errorf("unknown damage %q", damage)
}

// snapshot is each file of dir by name: size and SHA-256.
func snapshot(dir string) map[string]string {
	out := map[string]string{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() == "LOCK" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			out[e.Name()] = "unreadable: " + err.Error()
			continue
		}
		out[e.Name()] = fmt.Sprintf("%d bytes %x", len(data), sha256.Sum256(data))
	}
	return out
}

// changed says how after differs from before; "" when it does not.
func changed(before, after map[string]string) string {
	var d []string
	for name, v := range before {
		w, ok := after[name]
		switch {
		case !ok:
			d = append(d, name+" deleted")
		case w != v:
			d = append(d, name+" rewritten")
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			d = append(d, name+" created")
		}
	}
	sort.Strings(d)
	return strings.Join(d, ", ")
}

func hasFile(dir, glob string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, glob))
	return len(m) > 0
}

func listDir(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
