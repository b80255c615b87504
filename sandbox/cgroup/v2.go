package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// v2setup prepares the hub's own cgroup v2 to hold worker groups, once: a
// cgroup that has processes cannot also give controllers to children
// (the root cgroup aside), so the hub moves itself into a leaf of its own
// and enables the controllers below its cgroup. That needs the cgroup to
// be delegated to the hub's user and to hold no other process.
type v2setup struct {
	dir   string
	root  bool
	probe bool // false in tests: the folder is not a real cgroup

	once sync.Once
	err  error
}

// hubLeaf is the hub's own leaf, beside its workers' groups.
const hubLeaf = "isolategpt-hub"

func (s *v2setup) parent() string { return s.dir }

func (s *v2setup) ready() error {
	s.once.Do(func() { s.err = s.setup() })
	return s.err
}

func (s *v2setup) setup() error {
	if !s.probe {
		return nil
	}
	avail, err := os.ReadFile(filepath.Join(s.dir, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("cgroup v2: %w", err)
	}
	sub, err := os.ReadFile(filepath.Join(s.dir, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("cgroup v2: %w", err)
	}
	var want []string
	for _, c := range Controllers {
		if has(string(avail), c) && !has(string(sub), c) {
			want = append(want, c)
		}
	}
	if len(want) == 0 {
		return nil
	}
	if !s.root {
		procs, err := os.ReadFile(filepath.Join(s.dir, "cgroup.procs"))
		if err != nil {
			return fmt.Errorf("cgroup v2: %w", err)
		}
		self := strconv.Itoa(os.Getpid())
		for _, p := range strings.Fields(string(procs)) {
			if p != self {
				return fmt.Errorf("cgroup v2: the hub shares its cgroup %s with other processes (pid %s); start it in a delegated cgroup of its own, e.g. systemd-run --user --scope -p Delegate=yes isolategpt …", s.dir, p)
			}
		}
		leaf := filepath.Join(s.dir, hubLeaf)
		if err := os.Mkdir(leaf, 0o755); err != nil && !os.IsExist(err) {
			return fmt.Errorf("cgroup v2: %s is not delegated to the hub's user: %w", s.dir, err)
		}
		if err := write(leaf, "cgroup.procs", self); err != nil {
			return fmt.Errorf("cgroup v2: move the hub into %s: %w", leaf, err)
		}
	}
	for _, c := range want {
		if err := write(s.dir, "cgroup.subtree_control", "+"+c); err != nil {
			return fmt.Errorf("cgroup v2: enable %s below %s: %w", c, s.dir, err)
		}
	}
	return nil
}

func has(list, c string) bool {
	for _, x := range strings.Fields(list) {
		if x == c {
			return true
		}
	}
	return false
}
