package launch

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isolategpt/isolategpt/sandbox/cgroup"
	"github.com/isolategpt/isolategpt/sandbox/hubtest"
)

const hubHelperEnv = "ISOLATEGPT_LAUNCH_HUB_HELPER"

// TestHubHelper is the hub TestKilledHub kills: it starts a worker, says
// its pid and waits.
func TestHubHelper(t *testing.T) {
	if os.Getenv(hubHelperEnv) == "" {
		t.Skip("run by TestKilledHub")
	}
	c, err := newLauncher(t).Launch(t.Context(), probeApp, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("WORKER %d\n", c.(interface{ PID() int }).PID())
	select {}
}

// TestKilledHub kills a hub with SIGKILL while its worker runs: the worker
// must be gone, and the cgroups the hub could not remove are swept by the
// next hub (without the sweep they stay: the test checks they were there).
func TestKilledHub(t *testing.T) {
	hubtest.Modes(t, func(t *testing.T) {
		start(t, newLauncher(t), t.TempDir()).Close() // skips where the kernel cannot
		hub := exec.Command("/proc/self/exe", "-test.run", "^TestHubHelper$", "-test.v", "-test.count=1")
		hub.Env = append(os.Environ(), hubHelperEnv+"=1")
		hub.Dir = t.TempDir()
		out, err := hub.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := hub.Start(); err != nil {
			t.Fatal(err)
		}
		worker := 0
		sc := bufio.NewScanner(out)
		var said []string
		for worker == 0 && sc.Scan() {
			said = append(said, sc.Text())
			if v, ok := strings.CutPrefix(sc.Text(), "WORKER "); ok {
				worker, _ = strconv.Atoi(v)
			}
		}
		if worker == 0 {
			hub.Process.Kill()
			hub.Wait()
			t.Fatalf("the hub started no worker:\n%s", strings.Join(said, "\n"))
		}
		t.Cleanup(func() { syscall.Kill(worker, syscall.SIGKILL) })
		if err := hub.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		hub.Wait()
		for deadline := time.Now().Add(10 * time.Second); processRuns(worker); {
			if time.Now().After(deadline) {
				t.Fatalf("worker %d outlived its hub", worker)
			}
			time.Sleep(20 * time.Millisecond)
		}

		h := cgroup.Detect()
		if len(h.Parents()) == 0 {
			t.Skipf("the worker died with its hub; no cgroups here to sweep: %+v", h.Missing())
		}
		left := func() []string {
			var out []string
			for _, p := range h.Parents() {
				m, _ := filepath.Glob(filepath.Join(p, fmt.Sprintf("isolategpt-%d-*", hub.Process.Pid)))
				out = append(out, m...)
			}
			return out
		}
		if len(left()) == 0 {
			t.Fatal("the killed hub left no group: the sweep has nothing to show")
		}
		// The sweep leaves a group whose processes have not all gone yet
		// (the hub's other workers, a prewarmed one among them, die with it
		// but not at the same instant): sweep until they have, within a
		// deadline.
		for deadline := time.Now().Add(10 * time.Second); ; {
			if _, err := h.Sweep(0); err != nil {
				t.Fatal(err)
			}
			l := left()
			if len(l) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("groups of the dead hub left after the sweep: %v", l)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// processRuns reports whether pid runs (a zombie does not).
func processRuns(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
