package cgroup

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestReleasedGroupsAreReused: an empty group comes back for the next
// worker with its limits set again and its counters starting from zero.
func TestReleasedGroupsAreReused(t *testing.T) {
	h := Fake(t.TempDir())
	g, err := h.New(Limits{Memory: 64 << 20, Pids: 8, CPUPercent: 50})
	if err != nil {
		t.Fatal(err)
	}
	dirs := append([]string(nil), g.dirs...)
	if err := g.Release(); err != nil {
		t.Fatal(err)
	}
	g2, err := h.New(Limits{Memory: 128 << 20, Pids: 16, CPUPercent: 100})
	if err != nil {
		t.Fatal(err)
	}
	if g2.dirs[0] != dirs[0] {
		t.Fatalf("a new group %v, not the released %v", g2.dirs, dirs)
	}
	if b, _ := os.ReadFile(filepath.Join(g2.pids, "pids.max")); string(b) != "16" {
		t.Errorf("pids.max %q after reuse, want 16", b)
	}
	// One that still holds a process is removed, not kept.
	if err := os.WriteFile(filepath.Join(g2.dirs[0], "cgroup.procs"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := g2.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dirs[0]); !os.IsNotExist(err) {
		t.Errorf("a group with a process in it was kept: %v", err)
	}
	if err := h.Drain(); err != nil {
		t.Fatal(err)
	}
}

// TestReusedGroupOnThisHost: on a host that gives cgroups, a reused group
// does not charge the next worker with the last one's CPU time.
func TestReusedGroupOnThisHost(t *testing.T) {
	h := Detect()
	if m := h.Missing(); len(m) > 0 {
		t.Skipf("this host gives no cgroups to this process: %+v", m)
	}
	t.Cleanup(func() { h.Drain() })
	g, err := h.New(Limits{Memory: 64 << 20, Pids: 8, CPUPercent: 100})
	if err != nil {
		t.Fatal(err)
	}
	busyInGroup(t, g, 50000)
	used, _ := g.CPUTime()
	if used <= 0 {
		t.Fatalf("CPU time %v after a busy loop", used)
	}
	var g2 *Group
	for deadline := time.Now().Add(5 * time.Second); ; {
		// The kernel may take a moment to let go of the dead process.
		if err := g.Release(); err != nil {
			t.Fatal(err)
		}
		if g2, err = h.New(Limits{Memory: 96 << 20, Pids: 8, CPUPercent: 100}); err != nil {
			t.Fatal(err)
		}
		if g2.dirs[0] == g.dirs[0] || time.Now().After(deadline) {
			break
		}
		g = g2
	}
	if g2.dirs[0] != g.dirs[0] {
		t.Skip("the kernel kept the group busy: nothing to reuse")
	}
	if d, _ := g2.CPUTime(); d >= used || d > 5*time.Millisecond {
		t.Errorf("a reused group starts at %v of CPU time (the last worker used %v)", d, used)
	}
	if g2.OOMKilled() {
		t.Error("a reused group reports an OOM kill")
	}
}

// TestSweepRemovesGroupsOfDeadHubs: groups named for a pid that no process
// has are removed once empty; a live hub's, this hub's and a busy one stay.
func TestSweepRemovesGroupsOfDeadHubs(t *testing.T) {
	root := t.TempDir()
	h := Fake(root)
	dead := exec.Command("/bin/true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	mk := func(pid int, procs string) string {
		d := filepath.Join(root, "isolategpt-"+strconv.Itoa(pid)+"-7")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(procs), 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	gone := mk(dead.Process.Pid, "")
	mine := mk(os.Getpid(), "")
	live := mk(os.Getppid(), "")
	other := filepath.Join(root, "not-ours")
	os.MkdirAll(other, 0o755)
	// A fresh group of a hub this one cannot see is left for a while.
	if n, err := h.Sweep(time.Hour); err != nil || n != 0 {
		t.Fatalf("swept %d (%v) groups younger than the age", n, err)
	}
	n, err := h.Sweep(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(gone); !os.IsNotExist(err) || n != 1 {
		t.Errorf("swept %d; the dead hub's group: %v", n, err)
	}
	for _, d := range []string{mine, live, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was swept: %v", d, err)
		}
	}
	// Busy: a process is still in it.
	busy := mk(dead.Process.Pid+100000, "12345\n")
	if _, err := h.Sweep(0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(busy); err != nil {
		t.Errorf("a group with processes was swept: %v", err)
	}
}
