//go:build faults

package faults

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The test user the hub runs as when the suite runs as root (the desktop
// case), as sandbox/hubtest's.
const testUID = 61234

// allKinds in the order they run: the kinds with a fixed list of cases
// first, so the time they leave goes to the open-ended ones.
var allKinds = []string{"appdata", "storefiles", "kill9", "diskfull", "signal"}

// kindSeed keeps each kind's random stream apart, the same whatever the
// order or selection of kinds (a seed reproduces a kind run alone).
var kindSeed = map[string]uint64{"kill9": 0, "diskfull": 1, "storefiles": 2, "appdata": 3, "signal": 4, "selftest": 0xff}

// config is the suite's environment.
type config struct {
	budget  time.Duration
	seed    uint64
	kinds   []string
	verbose bool
}

func loadConfig(t *testing.T) config {
	c := config{budget: 60 * time.Second, seed: uint64(time.Now().UnixNano()), kinds: allKinds}
	if v := os.Getenv("FAULTS_BUDGET"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("FAULTS_BUDGET=%q: want a positive duration (60s, 10m)", v)
		}
		c.budget = d
	}
	if v := os.Getenv("FAULTS_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("FAULTS_SEED=%q: want an unsigned integer", v)
		}
		c.seed = s
	}
	if v := os.Getenv("FAULTS_KINDS"); v != "" {
		c.kinds = nil
		for _, k := range strings.Split(v, ",") {
			k = strings.TrimSpace(k)
			if !slices.Contains(allKinds, k) {
				t.Fatalf("FAULTS_KINDS: unknown kind %q (kinds: %s)", k, strings.Join(allKinds, ", "))
			}
			c.kinds = append(c.kinds, k)
		}
	}
	c.verbose = os.Getenv("FAULTS_VERBOSE") == "1"
	return c
}

// mode is who the hub runs as.
type mode struct {
	name string
	uid  int // -1: as the suite itself
}

func modes() []mode {
	if os.Getuid() == 0 {
		return []mode{{"root", -1}, {"user", testUID}}
	}
	return []mode{{"user", -1}}
}

// suite is one run: the binary, the seed, the tally.
type suite struct {
	t    *testing.T
	cfg  config
	bin  string
	root string // scratch folder, reachable by the test user

	// hasVerify: this build has `audit verify` and `audit head` (the hash
	// chain); without them the chain is not checked, and the run says so.
	hasVerify bool
	// hasStore: this build has `store check`, `store backup` and `store
	// restore`; without them damaged stores are not checked or restored.
	hasStore bool

	mu    sync.Mutex
	tally map[string]*count
	order []string
	w     watch
}

// count is one kind's row of the table.
type count struct {
	injected, survived, lost, wrongExit, crashed, other int
	missed                                              int // the work had ended before the fault
	skipped                                             []string
}

func newSuite(t *testing.T) *suite {
	cfg := loadConfig(t)
	root, err := os.MkdirTemp("", "isolategpt-faults-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("FAULTS_KEEP") == "1" {
			t.Logf("faults: FAULTS_KEEP=1: the folders are kept in %s", root)
			return
		}
		os.RemoveAll(root)
	})
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	openUp(t, root)
	s := &suite{t: t, cfg: cfg, root: root, tally: map[string]*count{}}
	// go test runs the suite with -timeout 0, the budget being its own: a
	// hang still ends, naming the trial, with every goroutine's stack.
	s.startWatchdog()
	s.bin = filepath.Join(root, "isolategpt")
	start := time.Now()
	if prebuilt := os.Getenv("FAULTS_BIN"); prebuilt != "" {
		// A binary built elsewhere (a release, another checkout), copied
		// where the test user may run it.
		if out, err := exec.Command("cp", prebuilt, s.bin).CombinedOutput(); err != nil {
			t.Fatalf("FAULTS_BIN=%s: %v: %s", prebuilt, err, out)
		}
	} else {
		build := exec.Command("go", "build", "-o", s.bin, ".")
		build.Dir = "../.."
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build isolategpt: %v\n%s", err, out)
		}
	}
	probe := s.newFolder(modes()[0], "")
	if r := s.run(probe, "", "audit", "verify", "--help"); r.exit == 0 && strings.Contains(strings.Join(r.stdout, "\n")+r.stderr, "audit verify") {
		s.hasVerify = true
	} else {
		t.Logf("faults: this build has no `audit verify`: the audit log's hash chain is NOT checked (only record by record)")
	}
	if r := s.run(probe, "", "store", "check", "--help"); r.exit == 0 && strings.Contains(strings.Join(r.stdout, "\n")+r.stderr, "store check") {
		s.hasStore = true
	} else {
		t.Logf("faults: this build has no `store check`: damaged stores are NOT checked with it nor restored from a backup")
	}
	t.Logf("faults: isolategpt ready in %v (FAULTS_BIN=%s); FAULTS_SEED=%d FAULTS_BUDGET=%v FAULTS_KINDS=%s", time.Since(start).Round(time.Millisecond), os.Getenv("FAULTS_BIN"), cfg.seed, cfg.budget, strings.Join(cfg.kinds, ","))
	return s
}

// openUp lets the test user through the folders above dir (search only).
func openUp(t *testing.T, dir string) {
	for p := filepath.Dir(dir); p != "/"; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o001 == 0 && os.Getuid() == 0 {
			if err := os.Chmod(p, st.Mode().Perm()|0o711); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func (s *suite) row(kind string) *count {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.tally[kind]
	if !ok {
		c = &count{}
		s.tally[kind] = c
		s.order = append(s.order, kind)
	}
	return c
}

// trial is one injected fault: what it found decides survived or not.
type trial struct {
	s    *suite
	kind string
	n    int
	mode mode
	what string // the fault, for the reproduction line
	rng  *rand.Rand
	// missed: the command had ended before the fault came, or the file
	// to damage does not exist in this version; it counts as no fault
	// injected.
	missed bool
	lost   []string
	exit   []string
	crash  []string
	other  []string
}

func (s *suite) newTrial(kind string, n int, m mode) *trial {
	tr := &trial{s: s, kind: kind, n: n, mode: m, rng: rand.New(rand.NewPCG(s.cfg.seed, uint64(n)<<8|kindSeed[kind]))}
	s.running(tr)
	return tr
}

// caseOrder is 0..n-1 in the order the seed gives a kind's fixed cases.
func (s *suite) caseOrder(kind string, n int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	rng := s.newTrial(kind, 0, modes()[0]).rng
	rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	return order
}

func (tr *trial) lose(f string, a ...any)  { tr.lost = append(tr.lost, fmt.Sprintf(f, a...)) }
func (tr *trial) wrong(f string, a ...any) { tr.exit = append(tr.exit, fmt.Sprintf(f, a...)) }
func (tr *trial) fail(f string, a ...any)  { tr.other = append(tr.other, fmt.Sprintf(f, a...)) }

// crashCheck records a crash a finished command shows.
func (tr *trial) crashCheck(r result) {
	if r.hung {
		tr.fail("%s hung: killed after %v", r.name, cmdLimit)
	}
	if why := Crashed(r.stderr, r.signaled); why != "" {
		tr.crash = append(tr.crash, fmt.Sprintf("%s: %s", r.name, why))
	}
}

// findings is how many findings the trial has so far.
func (tr *trial) findings() int { return len(tr.lost) + len(tr.exit) + len(tr.crash) + len(tr.other) }

// finish adds the trial to the table and reports its findings; it
// reports whether the trial survived.
func (tr *trial) finish() bool {
	c := tr.s.row(tr.kind)
	tr.s.mu.Lock()
	if tr.missed {
		c.missed++
	} else {
		c.injected++
	}
	c.lost += len(tr.lost)
	if len(tr.exit) > 0 {
		c.wrongExit++
	}
	if len(tr.crash) > 0 {
		c.crashed++
	}
	if len(tr.other) > 0 {
		c.other++
	}
	ok := tr.findings() == 0
	if ok && !tr.missed {
		c.survived++
	}
	tr.s.mu.Unlock()
	repro := fmt.Sprintf("FAULTS_KINDS=%s FAULTS_SEED=%d trial %d as %s: %s", tr.kind, tr.s.cfg.seed, tr.n, tr.mode.name, tr.what)
	if ok {
		if tr.s.cfg.verbose {
			tr.s.t.Logf("survived: %s", repro)
		}
		return true
	}
	var b strings.Builder
	for _, l := range []struct {
		name string
		list []string
	}{{"LOST", tr.lost}, {"WRONG EXIT", tr.exit}, {"CRASH", tr.crash}, {"FAILED", tr.other}} {
		for i, f := range l.list {
			if i == 8 {
				fmt.Fprintf(&b, "\n  %s: … and %d more", l.name, len(l.list)-8)
				break
			}
			fmt.Fprintf(&b, "\n  %s: %s", l.name, f)
		}
	}
	tr.s.t.Errorf("%s%s", repro, b.String())
	return false
}

func (s *suite) skip(kind, why string) {
	c := s.row(kind)
	s.mu.Lock()
	c.skipped = append(c.skipped, why)
	s.mu.Unlock()
	s.t.Logf("faults: %s SKIPPED: %s", kind, why)
}

// skipped names the kinds skipped and why; "" when none was.
func (s *suite) skipped() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, k := range s.order {
		if c := s.tally[k]; len(c.skipped) > 0 {
			out = append(out, k+": "+strings.Join(c.skipped, "; "))
		}
	}
	return strings.Join(out, "; ")
}

// table prints the per-kind counts.
func (s *suite) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "faults (FAULTS_SEED=%d, FAULTS_BUDGET=%v):\n", s.cfg.seed, s.cfg.budget)
	fmt.Fprintf(&b, "%-11s %8s %8s %9s %10s %6s %6s %6s\n", "kind", "injected", "survived", "data lost", "wrong exit", "crash", "other", "missed")
	for _, k := range s.order {
		c := s.tally[k]
		fmt.Fprintf(&b, "%-11s %8d %8d %9d %10d %6d %6d %6d", k, c.injected, c.survived, c.lost, c.wrongExit, c.crashed, c.other, c.missed)
		if len(c.skipped) > 0 {
			fmt.Fprintf(&b, "   SKIPPED: %s", strings.Join(c.skipped, "; "))
		}
		b.WriteByte('\n')
	}
	var absent []string
	if !s.hasVerify {
		absent = append(absent, "audit verify/head (the hash chain)")
	}
	if !s.hasStore {
		absent = append(absent, "store check/backup/restore")
	}
	if len(absent) > 0 {
		fmt.Fprintf(&b, "NOT CHECKED, not in this build: %s\n", strings.Join(absent, "; "))
	}
	b.WriteString("injected: faults that came while the work ran; survived: trials with no finding; data lost: items\n" +
		"reported stored and then missing, or audit records gone; wrong exit: trials with a false or missing exit or\n" +
		"status; crash: panics and fault signals; other: other findings (an effect with no outcome, a rewritten\n" +
		"damaged store, no recovery); missed: no fault came (the command had ended, or no such file), not counted\n")
	return b.String()
}

// folder is a data folder the hub of one mode owns, in its own work dir.
type folder struct {
	mode mode
	work string // owned by the mode's user; HOME of its commands
	data string
}

func (s *suite) newFolder(m mode, parent string) folder {
	if parent == "" {
		parent = s.root
	}
	work, err := os.MkdirTemp(parent, "f-")
	if err != nil {
		s.t.Fatal(err)
	}
	if err := os.Chmod(work, 0o711); err != nil {
		s.t.Fatal(err)
	}
	if m.uid >= 0 {
		if err := os.Chown(work, m.uid, m.uid); err != nil {
			s.t.Fatal(err)
		}
	}
	return folder{mode: m, work: work, data: filepath.Join(work, "data")}
}

func (f folder) path(rel ...string) string { return filepath.Join(append([]string{f.data}, rel...)...) }

// write puts a file in the work dir, readable by the mode's user.
func (f folder) write(t *testing.T, name, text string) string {
	p := filepath.Join(f.work, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// proc is a running isolategpt.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *lockedBuffer

	mu    sync.Mutex
	lines []string
	more  chan struct{} // closed and replaced on each new line
	done  chan struct{}
	res   result
}

// result is how a command ended and what it printed.
type result struct {
	name     string
	exit     int    // -1 when ended by a signal
	signaled string // the signal's name when ended by one
	hung     bool   // killed by the suite after cmdLimit
	stdout   []string
	stderr   string
}

func (r result) String() string {
	if r.signaled != "" {
		return fmt.Sprintf("%s killed by %s", r.name, r.signaled)
	}
	return fmt.Sprintf("%s exit %d", r.name, r.exit)
}

// start runs isolategpt with args on f's data folder. With stdin nil the
// command's input is a pipe the caller writes and closes.
func (s *suite) start(f folder, stdin io.Reader, args ...string) *proc {
	args = append(args, "--data", f.data)
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = f.work
	cmd.Env = []string{"HOME=" + f.work, "PATH=/usr/local/bin:/usr/bin:/bin", "ISOLATEGPT_ALLOW_WEAKER_SANDBOX=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if f.mode.uid >= 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(f.mode.uid), Gid: uint32(f.mode.uid)}
	}
	p := &proc{name: strings.Join(args[:min(2, len(args))], " "), cmd: cmd, stderr: &lockedBuffer{}, more: make(chan struct{}), done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if stdin != nil {
		cmd.Stdin = stdin
	} else {
		w, err := cmd.StdinPipe()
		if err != nil {
			s.t.Fatal(err)
		}
		p.stdin = w
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start isolategpt %v: %v", args, err)
	}
	s.track(cmd.Process.Pid, true)
	go func() {
		defer s.track(cmd.Process.Pid, false)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.more)
			p.more = make(chan struct{})
			p.mu.Unlock()
		}
		err := cmd.Wait()
		p.mu.Lock()
		p.res = result{name: p.name, exit: cmd.ProcessState.ExitCode(), stdout: p.lines, stderr: p.stderr.String()}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.res.signaled = ws.Signal().String()
		}
		_ = err
		p.mu.Unlock()
		close(p.done)
	}()
	return p
}

// lockedBuffer is a command's stderr, readable while it runs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitStderr waits until the command wrote text to stderr or ended; it
// reports whether the text came.
func (p *proc) waitStderr(text string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(p.stderr.String(), text) {
			return true
		}
		if p.ended() {
			return strings.Contains(p.stderr.String(), text)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return false
}

// waitLines waits until the command printed n lines or ended; it reports
// whether n lines came.
func (p *proc) waitLines(n int, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		have, more := len(p.lines), p.more
		p.mu.Unlock()
		if have >= n {
			return true
		}
		select {
		case <-more:
		case <-p.done:
			p.mu.Lock()
			defer p.mu.Unlock()
			return len(p.lines) >= n
		case <-deadline:
			return false
		}
	}
}

// wait waits for the command to end, killing it (and its workers) after
// timeout.
func (p *proc) wait(timeout time.Duration) (result, bool) {
	select {
	case <-p.done:
		return p.res, true
	case <-time.After(timeout):
		p.kill(syscall.SIGKILL)
		select {
		case <-p.done:
			return p.res, false
		case <-time.After(10 * time.Second):
			// Killed, yet its output stays open: a process outside its
			// group holds it. The command is given up, not waited for.
			p.mu.Lock()
			defer p.mu.Unlock()
			return result{name: p.name, exit: -1, signaled: "SIGKILL", stdout: slices.Clone(p.lines),
				stderr: "(faults: killed, but a process outside its group still holds its output)"}, false
		}
	}
}

// kill sends sig to the command's process group (the hub and its workers).
func (p *proc) kill(sig syscall.Signal) { _ = syscall.Kill(-p.cmd.Process.Pid, sig) }

// signalHub sends sig to the hub alone, as a terminal or systemd would.
func (p *proc) signalHub(sig syscall.Signal) { _ = p.cmd.Process.Signal(sig) }

// run runs a command to its end (killed after cmdLimit: r.hung).
func (s *suite) run(f folder, stdin string, args ...string) result {
	p := s.start(f, strings.NewReader(stdin), args...)
	r, ok := p.wait(cmdLimit)
	if !ok {
		r.hung = true
		r.stderr += fmt.Sprintf("\n(faults: killed after %v)", cmdLimit)
	}
	return r
}

// ended reports whether the command has ended.
func (p *proc) ended() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ctxDone reports whether the kind's time is up.
func ctxDone(ctx context.Context) bool { return ctx.Err() != nil }
