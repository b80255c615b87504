package cgroup

import (
	"path"
	"strconv"
	"strings"
)

// mount is one cgroup mount of /proc/self/mountinfo.
type mount struct {
	root, point, fstype string
	controllers         []string
}

// at is where the cgroup at path p (as /proc/self/cgroup names it) is
// under this mount, or "" when the mount does not show it.
func (m mount) at(p string) string {
	switch {
	case m.root == "/":
		return path.Join(m.point, p)
	case p == m.root:
		return m.point
	case strings.HasPrefix(p, m.root+"/"):
		return path.Join(m.point, p[len(m.root):])
	}
	return ""
}

// parseMountinfo returns the cgroup and cgroup2 mounts.
func parseMountinfo(s string) []mount {
	var out []mount
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		sep := -1
		for i, x := range f {
			if x == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || len(f) < sep+4 {
			continue
		}
		m := mount{root: unescape(f[3]), point: unescape(f[4]), fstype: f[sep+1]}
		if m.fstype != "cgroup" && m.fstype != "cgroup2" {
			continue
		}
		if m.fstype == "cgroup" {
			for _, o := range strings.Split(f[sep+3], ",") {
				if o != "rw" && o != "ro" && !strings.Contains(o, "=") {
					m.controllers = append(m.controllers, o)
				}
			}
		}
		out = append(out, m)
	}
	return out
}

// parseSelfCgroup maps each controller to the calling process's cgroup
// path in its hierarchy; "" is the v2 (unified) one.
func parseSelfCgroup(s string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			out[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out
}

// unescape decodes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
