package policy

import (
	"slices"
	"strings"
	"testing"
)

// Properties of every profile, as gVisor's config tests check its own.
func TestEveryProfile(t *testing.T) {
	harmlessEtc := []string{"/etc/ld.so.cache", "/etc/ssl/certs", "/etc/ssl/openssl.cnf", "/etc/ca-certificates.conf", "/etc/alternatives", "/etc/localtime"}
	for _, p := range Profiles() {
		t.Run(p.Name, func(t *testing.T) {
			if err := p.Check(); err != nil {
				t.Fatal(err)
			}
			for _, r := range p.ReadOnly {
				top := "/" + strings.Split(r, "/")[1]
				switch {
				case top == "/etc" && !slices.Contains(harmlessEtc, r):
					t.Errorf("grants host configuration %s", r)
				case slices.Contains([]string{"/home", "/root", "/var", "/run", "/tmp", "/proc", "/sys", "/dev", "/srv", "/mnt", "/media", "/opt", "/boot"}, top):
					t.Errorf("grants %s of the host", r)
				}
			}
			for _, d := range p.Devices {
				if !slices.Contains([]string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"}, d) {
					t.Errorf("grants device %s", d)
				}
			}
			l := p.Limits
			for name, v := range map[string]uint64{
				"cpu": l.CPUSeconds, "as": l.AddressSpace, "fsize": l.FileSize, "nofile": l.OpenFiles, "nproc": l.Processes,
				"memory": l.Memory, "cpu percent": l.CPUPercent, "data bytes": l.DataBytes, "data inodes": l.DataInodes, "tmp bytes": l.TmpBytes,
			} {
				if v == 0 {
					t.Errorf("no %s limit", name)
				}
			}
			if l.DataBytes+l.TmpBytes > l.Memory {
				t.Errorf("its folders (%d + %d bytes, in memory) do not fit its memory limit %d", l.DataBytes, l.TmpBytes, l.Memory)
			}
			for _, s := range []string{"execveat", "setgroups", "unshare", "setns", "clone3", "ptrace", "mount"} {
				if slices.Contains(p.Syscalls, s) {
					t.Errorf("allows %s", s)
				}
			}
		})
	}
}

func TestCheckGrant(t *testing.T) {
	for _, tt := range []struct {
		path string
		ok   bool
	}{
		{"/opt/server", true},
		{"/tmp/prog", true},
		{"/run/user/1000/prog", true},
		{"/", false},
		{"relative", false},
		{"/a/../b", false},
		{"/proc/1/root", false},
		{"/dev/sda", false},
		{"/run/app", false},
		{"/run/app/x", false},
		{"/tmp", false},
		{"/run", false},
	} {
		if err := CheckGrant(tt.path); (err == nil) != tt.ok {
			t.Errorf("CheckGrant(%q) = %v, want ok %v", tt.path, err, tt.ok)
		}
	}
}

func TestWithEgressAddsOnlySockets(t *testing.T) {
	for _, p := range []Policy{BuiltinPolicy(), ExternalPolicy()} {
		e := p.WithEgress()
		for _, s := range e.Syscalls {
			if !slices.Contains(p.Syscalls, s) && !slices.Contains(egressCalls, s) {
				t.Errorf("%s adds %s", e.Name, s)
			}
		}
		if e.Processes != p.Processes || e.Threads != p.Threads {
			t.Errorf("%s changes what may be started", e.Name)
		}
	}
}
