package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/isolategpt/isolategpt/engine/control"
	"github.com/isolategpt/isolategpt/engine/store"
)

// proc is an isolategpt process started by a test.
type proc struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	out, err *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs this test binary as isolategpt with args; stdin "pipe"
// keeps its stdin open for the test to write.
func start(t *testing.T, stdin string, args ...string) *proc {
	t.Helper()
	return startWith(t, procOptions{stdin: stdin}, args...)
}

// procOptions change how startWith runs isolategpt.
type procOptions struct {
	stdin string
	exe   string   // the binary (default: this test binary)
	env   []string // the environment (default: this one)
	dir   string   // the working folder
	cred  *syscall.Credential
}

func startWith(t *testing.T, o procOptions, args ...string) *proc {
	t.Helper()
	if o.exe == "" {
		o.exe = os.Args[0]
	}
	if o.env == nil {
		o.env = os.Environ()
	}
	p := &proc{cmd: exec.Command(o.exe, args...), out: &syncBuffer{}, err: &syncBuffer{}}
	p.cmd.Env = append(o.env, asMain+"=1")
	p.cmd.Dir = o.dir
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: o.cred}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.err
	if o.stdin == "pipe" {
		w, err := p.cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		p.stdin = w
	} else {
		p.cmd.Stdin = strings.NewReader(o.stdin)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	return p
}

// wait waits for the process and returns its exit code.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Fatalf("%v did not finish in 60s\nstdout:\n%s\nstderr:\n%s", p.cmd.Args[1:], p.out, p.err)
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *proc) String() string {
	return fmt.Sprintf("%q: exit %d\nstdout:\n%s\nstderr:\n%s", p.cmd.Args[1:], p.cmd.ProcessState.ExitCode(), p.out, p.err)
}

// waitFor waits until s() holds want.
func waitFor(t *testing.T, what string, s func() string, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s never showed %q:\n%s", what, want, s())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const fareAB = `Use metro_hail to estimate the fare from "A" to "B"`

// While one isolategpt holds the data folder — an ask waiting at its
// permission prompt — audit, apps, grants, three asks and a batch from
// other processes all run, through it, and succeed; none meets Badger's
// lock. Then the holder's own query finishes as its user answers.
func TestCommandsShareOneDataFolder(t *testing.T) {
	data := t.TempDir()
	holder := start(t, "pipe", "ask", "--data", data, rideQuery)
	waitFor(t, "the holder", holder.err.String, "── permission (exec) ──")

	policy := writePolicy(t, allowRides)
	type job struct {
		args  []string
		stdin string
		want  string // in stdout
	}
	jobs := []job{
		{args: []string{"audit", "--data", data}, want: "plan"},
		{args: []string{"apps", "list", "--data", data}, want: "metro_hail"},
		{args: []string{"grants", "list", "--data", data}},
		{args: []string{"ask", "--data", data, "--yes", fareAB}, want: "metro_hail estimate fare"},
		{args: []string{"ask", "--data", data, "--yes", fareAB}, want: "metro_hail estimate fare"},
		{args: []string{"ask", "--data", data, fareAB, "--yes"}, want: "metro_hail estimate fare"},
		{args: []string{"batch", "--data", data, "--policy", policy}, stdin: `{"id": "b1", "query": "Use quick_ride to estimate the fare from \"A\" to \"B\""}` + "\n", want: `"status":"done"`},
	}
	procs := make([]*proc, len(jobs))
	for i, j := range jobs {
		procs[i] = start(t, j.stdin, j.args...)
	}
	for i, p := range procs {
		code := p.wait(t)
		if code != ExitOK || !strings.Contains(p.out.String(), jobs[i].want) {
			t.Errorf("%v", p)
		}
		if strings.Contains(p.err.String(), "directory lock") {
			t.Errorf("a raw lock error: %v", p)
		}
	}
	if holder.cmd.ProcessState != nil {
		t.Fatalf("the holder ended while waiting for its user: %v", holder)
	}
	// The holder's user answers its three prompts; its query finishes.
	if _, err := io.WriteString(holder.stdin, "o\no\no\n"); err != nil {
		t.Fatal(err)
	}
	holder.stdin.Close()
	if code := holder.wait(t); code != ExitOK || !strings.Contains(holder.out.String(), `booking_id "MH-`) {
		t.Fatalf("holder: %v", holder)
	}
	// Everything the other processes did is in the one audit log.
	r := command(Audit, "", "--data", data, "--kind", "answer")
	if r.code != ExitOK || strings.Count(r.out, "\n") != 5 {
		t.Errorf("want 5 answers (4 asks and a batch line): %v", r)
	}
}

// Three asks started at once on a fresh folder: one takes it, the others
// run through it (or take it after), and none fails.
func TestParallelAsksOnAFreshFolder(t *testing.T) {
	data := t.TempDir()
	var procs []*proc
	for range 3 {
		procs = append(procs, start(t, "", "ask", "--yes", "--data", data, fareAB))
	}
	for _, p := range procs {
		if code := p.wait(t); code != ExitOK || !strings.Contains(p.out.String(), "metro_hail estimate fare") {
			t.Errorf("%v", p)
		}
	}
}

// A holder that does not answer on its socket (starting, or one that
// cannot run the command) makes a later command wait, saying for whom,
// and run once the folder is free.
func TestWaitsForTheFolder(t *testing.T) {
	data := t.TempDir()
	h, err := control.Hold(data, "tui")
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, "", "ask", "--yes", "--data", data, fareAB)
	waitFor(t, "the waiting ask", p.err.String, fmt.Sprintf("waiting: data folder %s is in use by pid %d (isolategpt tui)", data, os.Getpid()))
	h.Close()
	if code := p.wait(t); code != ExitOK || !strings.Contains(p.out.String(), "metro_hail estimate fare") {
		t.Errorf("%v", p)
	}
}

// A command that asks for another model than the holder plans with waits
// for the folder rather than running on the wrong model.
func TestOtherModelWaits(t *testing.T) {
	data := t.TempDir()
	holder := start(t, "pipe", "ask", "--data", data, rideQuery)
	waitFor(t, "the holder", holder.err.String, "── permission (exec) ──")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var out, errb syncBuffer
	stdio := IO{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(string) string { return "" }, Ctx: ctx}
	done := make(chan int, 1)
	go func() { done <- Ask([]string{"--data", data, "--yes", "--llm", "openai:gpt-4o", fareAB}, stdio) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(errb.String(), "it plans with --llm offline, and this command asks for openai:gpt-4o") {
		if time.Now().After(deadline) {
			t.Fatalf("no message about the model:\n%s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code == ExitOK {
		t.Errorf("gave up waiting yet exited 0")
	}
	holder.stdin.Close()
	holder.wait(t)
}

// The same as an ordinary user (nobody, when the tests run as root): the
// holder follows the audit log, and the other commands, an ask among
// them, run through it and show up in what it prints.
func TestShareOneDataFolderAsOrdinaryUser(t *testing.T) {
	base, exe, data, cred := testUserFolder(t, os.Geteuid() == 0)
	run := func(stdin string, args ...string) *proc {
		env := []string{"HOME=" + base, "PATH=/usr/bin:/bin"}
		if cred != nil {
			// The asks run an app; an ordinary user makes no cgroup on
			// a cgroup v1 host. Every command asks for the same sandbox,
			// or the holder would not serve it.
			env = append(env, "ISOLATEGPT_ALLOW_WEAKER_SANDBOX=1")
		}
		return startWith(t, procOptions{stdin: stdin, exe: exe, cred: cred, env: env}, args...)
	}
	// A store to follow.
	if p := run("", "ask", "--data", data, "--yes", fareAB); p.wait(t) != ExitOK {
		t.Fatalf("first ask: %v", p)
	}
	follower := run("", "audit", "--follow", "--kind", "answer", "--data", data)
	waitFor(t, "audit --follow", follower.out.String, "answer")
	waitFor(t, "the control socket", func() string {
		if _, err := os.Stat(filepath.Join(data, control.SocketFile)); err != nil {
			return ""
		}
		return "up"
	}, "up")
	for _, args := range [][]string{
		{"ask", "--data", data, "--yes", fareAB},
		{"apps", "list", "--data", data},
		{"grants", "list", "--data", data},
		{"audit", "--data", data, "--kind", "plan"},
	} {
		if p := run("", args...); p.wait(t) != ExitOK || strings.Contains(p.err.String(), "directory lock") {
			t.Errorf("%v", p)
		}
	}
	// The served ask's answer reaches the follower: two answers now.
	waitFor(t, "audit --follow", func() string { return fmt.Sprint(strings.Count(follower.out.String(), "\n")) }, "2")
	if st, err := os.Stat(filepath.Join(data, control.SocketFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("socket %v %v: want mode 0600", st, err)
	}
	_ = follower.cmd.Process.Signal(os.Interrupt)
}

// Short commands racing for one folder: each is holder for a moment, and
// the others arrive while it starts, serves or shuts down. Every one
// succeeds, and none meets Badger's lock (the holder closes the store
// before it lets the folder go).
func TestCommandsRacingForTheFolder(t *testing.T) {
	data := t.TempDir()
	// The store exists (the readers below create none).
	makeStore(t, data)
	var procs []*proc
	for i := range 12 {
		args := []string{"apps", "list", "--data", data}
		if i%3 == 1 {
			args = []string{"grants", "list", "--data", data}
		} else if i%3 == 2 {
			args = []string{"audit", "--data", data}
		}
		procs = append(procs, start(t, "", args...))
	}
	for _, p := range procs {
		if code := p.wait(t); code != ExitOK || strings.Contains(p.err.String(), "lock") {
			t.Errorf("%v", p)
		}
	}
}

// A command run through the holder reads its own terminal: its prompts go
// to its stderr and its answers come from its stdin, its files are found
// from its own working folder, and an install asks it, not the holder.
func TestServedCommandsUseTheirOwnStdio(t *testing.T) {
	data := t.TempDir()
	if r := command(Grants, "", "list", "--data", data); r.code != ExitOK {
		t.Fatal(r)
	}
	holder := start(t, "", "audit", "--follow", "--data", data)
	waitFor(t, "the control socket", func() string {
		if _, err := os.Stat(filepath.Join(data, control.SocketFile)); err != nil {
			return ""
		}
		return "up"
	}, "up")

	a := start(t, "y\no\n", "ask", "--data", data, fareAB)
	if code := a.wait(t); code != ExitOK || !strings.Contains(a.out.String(), "fare 17.6") ||
		!strings.Contains(a.err.String(), "── permission (exec) ──") || !strings.Contains(a.err.String(), `"y" is not one of the choices here`) {
		t.Errorf("ask answered through the holder: %v", a)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "policy.json"), []byte(allowRides), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startWith(t, procOptions{dir: dir, stdin: `{"id": "1", "query": "Use quick_ride to estimate the fare from \"A\" to \"B\""}` + "\n"},
		"batch", "--data", data, "--policy", "policy.json")
	if code := b.wait(t); code != ExitOK || !strings.Contains(b.out.String(), `"status":"done"`) {
		t.Errorf("batch with a relative policy path, through the holder: %v", b)
	}

	man := appFile(t, testManifest)
	no := start(t, "n\n", "apps", "install", "--data", data, man)
	if code := no.wait(t); code != ExitFailed || !strings.Contains(no.out.String(), "Not installed.") {
		t.Errorf("install refused at the prompt: %v", no)
	}
	yes := start(t, "y\n", "apps", "install", "--data", data, man)
	if code := yes.wait(t); code != ExitOK || !strings.Contains(yes.out.String(), "Installed files") {
		t.Errorf("install approved at the prompt: %v", yes)
	}
	_ = holder.cmd.Process.Kill()
}

// makeStore creates an empty store in the data folder.
func makeStore(t *testing.T, data string) {
	t.Helper()
	s, err := store.Open(filepath.Join(data, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// testUserFolder makes a fresh folder with a data folder in it for a test
// that runs the test binary as a command. With nobody (the tests run as
// root), the binary is copied where nobody can run it and the data folder
// is nobody's; cred is then the credential to start it with, else nil.
func testUserFolder(t *testing.T, nobody bool) (base, exe, data string, cred *syscall.Credential) {
	t.Helper()
	base = t.TempDir()
	exe = os.Args[0]
	if nobody {
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
		for _, d := range []string{filepath.Dir(base), base} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
		self, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		exe = filepath.Join(base, "isolategpt.test")
		if err := os.WriteFile(exe, self, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data = filepath.Join(base, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if cred != nil {
		if err := os.Chown(data, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	return base, exe, data, cred
}
