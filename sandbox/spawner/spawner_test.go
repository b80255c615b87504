package spawner

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isolategpt/isolategpt/sandbox/hubtest"
)

// Stages of this test binary: a worker that obeys a word on its stdin,
// and a hub that starts a spawner and one worker and then waits to be
// killed.
const (
	testWorker = "spawner-test-worker"
	testHub    = "spawner-test-hub"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case Stage:
			os.Exit(Main(os.Args[2:], []string{"isolategpt", testWorker}))
		case testWorker:
			os.Exit(workerMain())
		case testProbe:
			os.Exit(probeMain(len(os.Args) > 2 && os.Args[2] == "off"))
		case testHub:
			os.Exit(hubMain(len(os.Args) > 2 && os.Args[2] == "off"))
		}
	}
	code := m.Run()
	hubtest.Cleanup()
	os.Exit(code)
}

func workerMain() int {
	word, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	switch strings.TrimSpace(word) {
	case "exit7":
		fmt.Fprint(os.Stderr, "worker diagnostics")
		return 7
	case "forbidden":
		fmt.Println(workerAttempts())
		return 0
	case "whoami":
		fmt.Printf("%d %d\n", os.Getuid(), os.Getpid())
		return 0
	}
	select {} // "sleep", or the hub went away: wait to be killed
}

// hubMain starts a spawner and a sleeping worker, prints both pids and
// waits to be killed.
func hubMain(off bool) int {
	s, err := Start(Options{NoParentDeath: off})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	r, w, _ := os.Pipe()
	defer r.Close()
	wk, err := s.Spawn([]*os.File{r}, true)
	w.Close()
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println(s.PID(), wk.PID())
	select {}
}

// spawn starts a test worker told word.
func spawn(t *testing.T, s *Spawner, word string, stdout *os.File) *Worker {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	wk, err := s.Spawn([]*os.File{r, stdout}, true)
	if err != nil {
		t.Fatalf("spawn: %v", err)
	}
	if _, err := io.WriteString(w, word+"\n"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return wk
}

func waitDone(t *testing.T, wk *Worker) {
	t.Helper()
	select {
	case <-wk.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("worker %d did not end", wk.PID())
	}
}

// TestSpawnerStartsWorkers: a worker runs in its own namespaces as the
// sandbox's user, its exit status and diagnostics come back, and a kill
// reaches it.
func TestSpawnerStartsWorkers(t *testing.T) {
	hubtest.Modes(t, func(t *testing.T) {
		s, err := Start(Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })

		wk := spawn(t, s, "exit7", nil)
		waitDone(t, wk)
		ws, ok := wk.Status()
		if !ok || !ws.Exited() || ws.ExitStatus() != 7 {
			t.Fatalf("status %v (known %v), want exit 7", ws, ok)
		}
		if got := wk.Stderr(); got != "worker diagnostics" {
			t.Fatalf("stderr %q", got)
		}

		r, w, _ := os.Pipe()
		defer r.Close()
		wk = spawn(t, s, "whoami", w)
		w.Close()
		line, _ := bufio.NewReader(r).ReadString('\n')
		waitDone(t, wk)
		var uid, pid int
		if _, err := fmt.Sscan(line, &uid, &pid); err != nil {
			t.Fatalf("whoami: %q: %v", line, err)
		}
		// Root of its own user namespace, pid 1 of its own pid namespace.
		if uid != 0 || pid != 1 {
			t.Fatalf("worker is uid %d pid %d inside, want 0 and 1", uid, pid)
		}

		wk = spawn(t, s, "sleep", nil)
		wk.Kill()
		waitDone(t, wk)
		if ws, ok := wk.Status(); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("status %v (known %v), want SIGKILL", ws, ok)
		}
	})
}

// TestSpawnerClosedKillsWorkers: when the hub's end closes, the spawner
// kills its workers and exits.
func TestSpawnerClosedKillsWorkers(t *testing.T) {
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	wk := spawn(t, s, "sleep", nil)
	s.conn.Close()
	select {
	case <-s.Dead():
	case <-time.After(10 * time.Second):
		t.Fatal("the spawner outlived its socket")
	}
	waitDone(t, wk)
	waitGone(t, wk.PID(), 10*time.Second)
}

// TestWorkersDieWithTheHub kills a hub with SIGKILL: its spawner and its
// workers must be gone. With the lifetime defences switched off, the
// worker outlives the hub, which shows what they stop.
func TestWorkersDieWithTheHub(t *testing.T) {
	hubtest.Modes(t, func(t *testing.T) {
		for _, tt := range []struct {
			name     string
			off      bool
			survives bool
		}{{"defended", false, false}, {"defences off", true, true}} {
			t.Run(tt.name, func(t *testing.T) {
				args := []string{testHub}
				if tt.off {
					args = append(args, "off")
				}
				hub := exec.Command("/proc/self/exe", args...)
				hub.Env = []string{}
				out, err := hub.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := hub.Start(); err != nil {
					t.Fatal(err)
				}
				line, err := bufio.NewReader(out).ReadString('\n')
				if err != nil {
					hub.Process.Kill()
					hub.Wait()
					t.Fatalf("hub: %v", err)
				}
				var sp, wp int
				if _, err := fmt.Sscan(line, &sp, &wp); err != nil {
					hub.Process.Kill()
					hub.Wait()
					t.Fatalf("hub said %q", line)
				}
				// Whatever happens, nothing the test started stays.
				t.Cleanup(func() {
					syscall.Kill(wp, syscall.SIGKILL)
					syscall.Kill(sp, syscall.SIGKILL)
				})
				if err := hub.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				hub.Wait()
				if !tt.survives {
					waitGone(t, sp, 10*time.Second)
					waitGone(t, wp, 10*time.Second)
					return
				}
				time.Sleep(time.Second)
				if !alive(wp) {
					t.Fatalf("worker %d died with the hub although the defences were off: the test cannot tell them apart", wp)
				}
			})
		}
	})
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func waitGone(t *testing.T, pid int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSpawnerIsConfined: the spawner runs with no_new_privs, none of the
// hub's descriptors but its socket, and, started by root, only the
// capabilities its job needs.
func TestSpawnerIsConfined(t *testing.T) {
	hubtest.Modes(t, func(t *testing.T) {
		leak, err := os.Open("/proc/self/exe")
		if err != nil {
			t.Fatal(err)
		}
		defer leak.Close()
		// Close-on-exec off: the spawner inherits it.
		fd, err := unixDup(leak)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(fd)
		for _, off := range []bool{false, true} {
			t.Run(map[bool]string{false: "confined", true: "defence off"}[off], func(t *testing.T) {
				st, leaked := spawnerState(t, Options{NoConfine: off})
				caps := "0000000000000000"
				if os.Geteuid() == 0 {
					caps = "00000000000000e0" // CAP_KILL (5), CAP_SETGID (6), CAP_SETUID (7)
				}
				confined := st["NoNewPrivs"] == "1" && st["CapEff"] == caps && st["CapPrm"] == caps && st["CapInh"] == "0000000000000000" && len(leaked) == 0
				if confined == off {
					t.Errorf("confinement off=%v: NoNewPrivs %s, CapEff %s, CapPrm %s, CapInh %s, the hub's descriptors it holds %v",
						off, st["NoNewPrivs"], st["CapEff"], st["CapPrm"], st["CapInh"], leaked)
				}
			})
		}
	})
}

// spawnerState starts a spawner and reads its /proc status and which of
// this test binary's descriptors it holds.
func spawnerState(t *testing.T, opts Options) (map[string]string, []string) {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Once it answers, it has confined itself.
	waitDone(t, spawn(t, s, "exit7", nil))
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.PID()))
	if err != nil {
		t.Fatal(err)
	}
	st := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			st[k] = strings.TrimSpace(v)
		}
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.PID()))
	if err != nil {
		t.Fatal(err)
	}
	var leaked []string
	for _, e := range ents {
		link, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", s.PID(), e.Name()))
		if strings.HasSuffix(link, ".test") {
			leaked = append(leaked, e.Name()+" -> "+link)
		}
	}
	return st, leaked
}

// TestSharedSpawnerComesBack: a spawner that died is replaced on next use.
func TestSharedSpawnerComesBack(t *testing.T) {
	s, err := Shared("")
	if err != nil {
		t.Fatal(err)
	}
	syscall.Kill(s.PID(), syscall.SIGKILL)
	<-s.Dead()
	s2, err := Shared("")
	if err != nil {
		t.Fatal(err)
	}
	if s2 == s {
		t.Fatal("the dead spawner was handed out again")
	}
	waitDone(t, spawn(t, s2, "exit7", nil))
	s2.Close()
}

// unixDup makes a copy of f without close-on-exec.
func unixDup(f *os.File) (int, error) { return syscall.Dup(int(f.Fd())) }

func filepathBase(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }
