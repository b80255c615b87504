package control

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// echo is a handler that copies stdin to stdout, says its arguments on
// stderr and exits with the number of bytes it read.
func echo(_ context.Context, s *Session) int {
	fmt.Fprintf(s.Stderr, "args %q in %s\n", s.Request.Args, s.Request.Dir)
	n, _ := io.Copy(s.Stdout, s.Stdin)
	return int(n % 256)
}

func hold(t *testing.T, dir, cmd string) *Holder {
	t.Helper()
	h, err := Hold(dir, cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestHoldIsExclusiveAndNamesTheHolder(t *testing.T) {
	dir := t.TempDir()
	h := hold(t, dir, "tui")
	_, err := Hold(dir, "ask")
	var held *HeldError
	if !errors.As(err, &held) || !errors.Is(err, ErrHeld) {
		t.Fatalf("second Hold: %v, want a HeldError", err)
	}
	if held.Holder.PID != os.Getpid() || held.Holder.Command != "tui" {
		t.Errorf("holder %+v, want pid %d running tui", held.Holder, os.Getpid())
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("pid %d (isolategpt tui)", os.Getpid())) {
		t.Errorf("message %q does not name the holder", err)
	}
	h.Close()
	h2, err := Hold(dir, "ask")
	if err != nil {
		t.Fatalf("Hold after Close: %v", err)
	}
	h2.Close()
}

func TestRunRelaysStdio(t *testing.T) {
	dir := t.TempDir()
	h := hold(t, dir, "ask")
	if err := h.Serve(echo, ServeOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, SocketFile))
	if err != nil || st.Mode().Perm() != 0o600 || st.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket %v, %v: want a socket of mode 0600", st, err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 10000) // several chunks
	cl, err := Dial(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if cl.Holder.PID != os.Getpid() || cl.Holder.Command != "ask" {
		t.Errorf("hello %+v", cl.Holder)
	}
	var out, errb bytes.Buffer
	code, err := cl.Run(t.Context(), Request{Args: []string{"audit", "--json"}, Dir: "/somewhere"}, bytes.NewReader(big), &out, &errb)
	if err != nil {
		t.Fatal(err)
	}
	if code != len(big)%256 || !bytes.Equal(out.Bytes(), big) {
		t.Errorf("exit %d and %d bytes back, want %d and %d", code, out.Len(), len(big)%256, len(big))
	}
	if want := `args ["audit" "--json"] in /somewhere`; !strings.Contains(errb.String(), want) {
		t.Errorf("stderr %q, want %q", errb.String(), want)
	}
}

func TestManyClientsAtOnce(t *testing.T) {
	dir := t.TempDir()
	h := hold(t, dir, "tui")
	var seen sync.Map
	if err := h.Serve(echo, ServeOptions{Observe: func(e Event) { seen.Store(fmt.Sprint(e.Session, e.Done), e) }}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := Dial(dir)
			if err != nil {
				errs <- err
				return
			}
			defer cl.Close()
			in := strings.Repeat("x", i+1)
			var out bytes.Buffer
			code, err := cl.Run(context.Background(), Request{Args: []string{"ask", fmt.Sprint(i)}}, strings.NewReader(in), &out, io.Discard)
			if err != nil || code != i+1 || out.String() != in {
				errs <- fmt.Errorf("client %d: exit %d, out %q, err %v", i, code, out.String(), err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	n := 0
	seen.Range(func(any, any) bool { n++; return true })
	if n != 16 {
		t.Errorf("observer heard %d events, want a start and an end for each of 8 commands", n)
	}
}

func TestUnservedAndHangUp(t *testing.T) {
	dir := t.TempDir()
	h := hold(t, dir, "tui")
	cancelled := make(chan struct{})
	handler := func(ctx context.Context, s *Session) int {
		if s.Request.Args[0] == "other-model" {
			s.Unserved("it runs the offline model")
			return 0
		}
		<-ctx.Done()
		close(cancelled)
		return 1
	}
	if err := h.Serve(handler, ServeOptions{}); err != nil {
		t.Fatal(err)
	}
	cl, err := Dial(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.Run(t.Context(), Request{Args: []string{"other-model"}}, nil, io.Discard, io.Discard)
	var un *UnservedError
	if !errors.As(err, &un) || un.Reason != "it runs the offline model" {
		t.Errorf("Run: %v, want unserved with the reason", err)
	}
	cl.Close()

	cl, err = Dial(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if _, err := cl.Run(ctx, Request{Args: []string{"wait"}}, nil, io.Discard, io.Discard); !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel: %v", err)
	}
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the command's context did not end when the caller hung up")
	}
	cl.Close()
}

// Close stops taking new commands at once but lets the ones in flight end.
func TestCloseWaitsForCommandsInFlight(t *testing.T) {
	dir := t.TempDir()
	h, err := Hold(dir, "ask")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	started := make(chan struct{})
	if err := h.Serve(func(ctx context.Context, s *Session) int {
		close(started)
		<-release
		fmt.Fprint(s.Stdout, "done")
		return 7
	}, ServeOptions{}); err != nil {
		t.Fatal(err)
	}
	cl, err := Dial(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	type res struct {
		code int
		out  string
		err  error
	}
	got := make(chan res, 1)
	go func() {
		var out bytes.Buffer
		code, err := cl.Run(context.Background(), Request{Args: []string{"x"}}, nil, &out, io.Discard)
		got <- res{code, out.String(), err}
	}()
	<-started
	closed := make(chan struct{})
	go func() { h.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a command was in flight")
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := Dial(dir); err == nil {
		t.Error("a new client connected to a closing holder")
	}
	close(release)
	r := <-got
	if r.err != nil || r.code != 7 || r.out != "done" {
		t.Errorf("in-flight command: %+v", r)
	}
	<-closed
	if _, err := os.Stat(filepath.Join(dir, SocketFile)); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}

func TestUnsafeFolders(t *testing.T) {
	t.Run("writable by others", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		if _, err := Hold(dir, "ask"); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "chmod go-w") {
			t.Errorf("Hold: %v, want ErrUnsafe with the fix", err)
		}
		if _, err := Dial(dir); !errors.Is(err, ErrUnsafe) {
			t.Errorf("Dial: %v, want ErrUnsafe", err)
		}
	})
	t.Run("socket others may use", func(t *testing.T) {
		dir := t.TempDir()
		h := hold(t, dir, "ask")
		if err := h.Serve(echo, ServeOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, SocketFile), 0o666); err != nil {
			t.Fatal(err)
		}
		if _, err := Dial(dir); !errors.Is(err, ErrUnsafe) {
			t.Errorf("Dial: %v, want ErrUnsafe for a socket of mode 0666", err)
		}
	})
	t.Run("not a socket", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, SocketFile), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Dial(dir); !errors.Is(err, ErrUnsafe) {
			t.Errorf("Dial: %v, want ErrUnsafe for a plain file", err)
		}
	})
	t.Run("long folder path", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), strings.Repeat("d", 100), strings.Repeat("e", 100))
		h := hold(t, dir, "ask")
		if err := h.Serve(echo, ServeOptions{}); err != nil {
			t.Fatalf("Serve in a folder whose path is longer than a socket address: %v", err)
		}
		cl, err := Dial(dir)
		if err != nil {
			t.Fatal(err)
		}
		cl.Close()
	})
}

// peerEnv makes this test binary a client that dials the folder named in
// it (run as another user by TestOtherUsersAreRefused).
const peerEnv = "ISOLATEGPT_CONTROL_TEST_DIAL"

// rawEnv makes it connect to the socket named in it with no check, send a
// run request and print what came back.
const rawEnv = "ISOLATEGPT_CONTROL_TEST_RAW"

func TestMain(m *testing.M) {
	if sock := os.Getenv(rawEnv); sock != "" {
		c, err := net.Dial("unix", sock)
		if err != nil {
			fmt.Println("connect:", err)
			os.Exit(3)
		}
		fmt.Fprintln(c, `{"run":{"args":["intruder"]}}`)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		fmt.Printf("read %d bytes\n", len(b))
		os.Exit(0)
	}
	if dir := os.Getenv(peerEnv); dir != "" {
		cl, err := Dial(dir)
		if err != nil {
			fmt.Println("dial:", err)
			os.Exit(3)
		}
		code, err := cl.Run(context.Background(), Request{Args: []string{"intruder"}}, nil, os.Stdout, os.Stdout)
		fmt.Println("ran:", code, err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A process of another user is refused even when the socket has been
// opened up to everyone (a careless chmod): the folder check stops its
// client, and the server's SO_PEERCRED check stops a raw connection.
func TestOtherUsersAreRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a process as another user")
	}
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(base, "data")
	if err := os.Mkdir(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	h := hold(t, dir, "tui")
	ran := make(chan string, 1)
	if err := h.Serve(func(_ context.Context, s *Session) int { ran <- strings.Join(s.Request.Args, " "); return 0 }, ServeOptions{}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, SocketFile)
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	// A copy of this test binary that nobody may run.
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(base, "control.test")
	if err := os.WriteFile(exe, self, 0o755); err != nil {
		t.Fatal(err)
	}
	// The client, as nobody: its own folder check refuses a folder that is
	// not nobody's.
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), peerEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "dial:") {
		t.Errorf("client as nobody: %s", out)
	}
	// A raw connection as nobody, past every client-side check: the
	// server sends nothing and runs nothing.
	raw := exec.Command(exe, "-test.run=^$")
	raw.Env = append(os.Environ(), rawEnv+"="+sock)
	raw.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	rout, err := raw.CombinedOutput()
	if err != nil {
		t.Fatalf("raw client: %v: %s", err, rout)
	}
	if strings.TrimSpace(string(rout)) != "read 0 bytes" {
		t.Errorf("the server answered another user: %s", rout)
	}
	select {
	case args := <-ran:
		t.Errorf("the server ran %q for another user", args)
	case <-time.After(100 * time.Millisecond):
	}
}

func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{
		`{"run":{"args":["ask","q"],"dir":"/","env":["A=B"],"in_terminal":true,"out_terminal":false}}`,
		`{"stdin":"aGVsbG8="}`, `{"stdin_eof":true}`, `{"read":100}`, `{"exit":0}`, `{"unserved":"x"}`,
		`{"stdout":"eA==","stderr":"eA=="}`, `{"read":-1}`, `{}`, `{"run":{"args":[]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeFrame(b)
		if err != nil {
			return
		}
		if err := fr.check(); err != nil {
			t.Fatalf("decoded a frame its check refuses: %v", err)
		}
	})
}

// A client never finds the socket open to others, not even while a
// holder is creating it (the socket gets its mode before its name).
func TestSocketIsNeverSeenOpen(t *testing.T) {
	dir := t.TempDir()
	for range 100 {
		h, err := Hold(dir, "ask")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 20 {
				if cl, err := Dial(dir); err == nil {
					cl.Close()
				} else if errors.Is(err, ErrUnsafe) {
					t.Errorf("Dial while the socket is made: %v", err)
					return
				}
			}
		}()
		if err := h.Serve(echo, ServeOptions{}); err != nil {
			t.Fatal(err)
		}
		<-done
		h.Close()
	}
}

// A new data folder: others may pass through it but not list or write it;
// its new parents are made as mkdir -p makes them. An existing folder is
// left as it is.
func TestMakeFolder(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "home", ".local", "share", "isolategpt")
	if err := MakeFolder(dir); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o711, filepath.Dir(dir): 0o755, filepath.Join(base, "home"): 0o755} {
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != want&^umask() {
			t.Errorf("%s: %v %v, want %04o", path, st.Mode(), err, want&^umask())
		}
	}
	own := filepath.Join(base, "own")
	if err := os.Mkdir(own, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := MakeFolder(own); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(own); st.Mode().Perm() != 0o700 {
		t.Errorf("an existing folder was changed to %v", st.Mode())
	}
}

func umask() os.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return os.FileMode(m)
}
