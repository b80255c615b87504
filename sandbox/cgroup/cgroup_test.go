package cgroup

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A cgroup v1 host with the unified hierarchy beside it (this project's CI
// machine), seen by a hub in memory cgroup /jobs/42.
const hybridMountinfo = `24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 24 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw
33 31 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
34 31 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,memory
35 31 0:30 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,pids
36 31 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
`

const hybridSelf = `5:cpu,cpuacct:/
4:pids:/
3:memory:/jobs/42
1:name=systemd:/
0::/
`

func TestDetectV1(t *testing.T) {
	tests := []struct {
		name     string
		root     bool
		enforced bool
		why      string
	}{
		{"hub as root", true, true, ""},
		{"hub as an ordinary user", false, false, "only root may make"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := detect(hybridMountinfo, hybridSelf, tt.root, false)
			for _, c := range h.Status() {
				if c.Enforced != tt.enforced || !strings.Contains(c.Where, tt.why) {
					t.Errorf("%s: %+v", c.Name, c)
				}
			}
			if !tt.enforced {
				return
			}
			want := map[string]string{Memory: "/sys/fs/cgroup/memory/jobs/42", Pids: "/sys/fs/cgroup/pids", CPU: "/sys/fs/cgroup/cpu,cpuacct"}
			for c, dir := range want {
				if got := h.ctrl[c]; got.version != 1 || got.dir != dir {
					t.Errorf("%s at v%d %s, want v1 %s", c, got.version, got.dir, dir)
				}
			}
			if h.cpuacct.dir != want[CPU] {
				t.Errorf("cpuacct at %s", h.cpuacct.dir)
			}
		})
	}
}

func TestDetectV2(t *testing.T) {
	fake := t.TempDir()
	hub := filepath.Join(fake, "user.slice", "app.scope")
	if err := os.MkdirAll(hub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hub, "cgroup.controllers"), []byte("cpuset cpu io memory pids\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mi := "30 24 0:26 / " + fake + " rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
	h := detect(mi, "0::/user.slice/app.scope\n", false, false)
	for _, c := range h.Status() {
		if !c.Enforced || !strings.Contains(c.Where, "cgroup v2") || !strings.Contains(c.Where, hub) {
			t.Errorf("%s: %+v", c.Name, c)
		}
	}
	// Without the memory controller given to the hub's cgroup.
	if err := os.WriteFile(filepath.Join(hub, "cgroup.controllers"), []byte("cpu pids\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h = detect(mi, "0::/user.slice/app.scope\n", false, false)
	if m := h.Missing(); len(m) != 1 || m[0].Name != Memory || !strings.Contains(m[0].Where, "not enabled") {
		t.Errorf("missing %+v, want memory alone", m)
	}
}

func TestParseMountinfoUnescapes(t *testing.T) {
	ms := parseMountinfo(`40 31 0:35 / /sys/fs/cgroup/a\040b rw - cgroup cgroup rw,pids` + "\n")
	if len(ms) != 1 || ms[0].point != "/sys/fs/cgroup/a b" || len(ms[0].controllers) != 1 || ms[0].controllers[0] != "pids" {
		t.Errorf("%+v", ms)
	}
}

// TestGroupOnThisHost makes a real group when the host gives cgroups to
// this process, puts a process in it, and checks the kernel counts it.
func TestGroupOnThisHost(t *testing.T) {
	h := Detect()
	if m := h.Missing(); len(m) > 0 {
		t.Skipf("this host gives no cgroups to this process: %+v", m)
	}
	g, err := h.New(Limits{Memory: 64 << 20, Pids: 8, CPUPercent: 50})
	if err != nil {
		t.Fatal(err)
	}
	busyInGroup(t, g, 20000)
	if d, ok := g.CPUTime(); !ok || d <= 0 {
		t.Errorf("CPU time %v (%v) after a busy loop", d, ok)
	}
	if g.OOMKilled() {
		t.Error("an OOM kill was counted")
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
}

// TestCPULimitWrittenOnlyWhenChanged: a bandwidth value already in place
// is not written again (each write walks every task group of the host),
// and one that differs is.
func TestCPULimitWrittenOnlyWhenChanged(t *testing.T) {
	d := t.TempDir()
	for f, v := range map[string]string{"cpu.cfs_period_us": "100000\n", "cpu.cfs_quota_us": "-1\n"} {
		if err := os.WriteFile(filepath.Join(d, f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := setCPU(d, 1, 50); err != nil {
		t.Fatal(err)
	}
	period, _ := os.ReadFile(filepath.Join(d, "cpu.cfs_period_us"))
	quota, _ := os.ReadFile(filepath.Join(d, "cpu.cfs_quota_us"))
	if string(period) != "100000\n" {
		t.Errorf("the period already in place was written again: %q", period)
	}
	if string(quota) != "50000" {
		t.Errorf("quota %q, want 50000", quota)
	}
}

// busyInGroup runs a shell loop of n rounds in g; the loop waits for a
// line, so it runs only once it is in the group.
func busyInGroup(t *testing.T, g *Group, n int) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", fmt.Sprintf("read go; i=0; while [ $i -lt %d ]; do i=$((i+1)); done", n))
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := g.Add(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	in.Write([]byte("go\n"))
	in.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}
