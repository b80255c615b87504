package npm

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseNPX(t *testing.T) {
	for _, tc := range []struct {
		cmd  string
		args []string
		pkg  Package
		rest []string
		err  string
	}{
		{"npx", []string{"-y", "@modelcontextprotocol/server-everything@2026.8.31", "stdio"}, Package{"@modelcontextprotocol/server-everything", "2026.8.31"}, []string{"stdio"}, ""},
		{"/usr/bin/npx", []string{"--yes", "time-mcp"}, Package{"time-mcp", ""}, []string{}, ""},
		{"npx", []string{"-y", "@scope/pkg@latest", "--flag", "x"}, Package{"@scope/pkg", "latest"}, []string{"--flag", "x"}, ""},
		{"node", []string{"x.js"}, Package{}, nil, "not an npx command"},
		{"npx", []string{"-y"}, Package{}, nil, "names no package"},
		{"npx", []string{"-p", "a", "b"}, Package{}, nil, "not supported"},
		{"npx", []string{"-y", "../evil"}, Package{}, nil, "not an npm package name"},
		{"npx", []string{"-y", "pkg@^1.0.0 || rm -rf /"}, Package{}, nil, "exact version"},
		{"npx", []string{"-y", "Pkg"}, Package{}, nil, "not an npm package name"},
	} {
		pkg, rest, err := ParseNPX(tc.cmd, tc.args)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %v: %v, want %q", tc.cmd, tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || pkg != tc.pkg || !slices.Equal(rest, tc.rest) {
			t.Errorf("%s %v = %+v %q %v", tc.cmd, tc.args, pkg, rest, err)
		}
	}
}

// fakeNPM writes an npm that records its arguments and lays out one
// package with a bin, as npm install would.
func fakeNPM(t *testing.T, lock string) (npm, argsFile string) {
	t.Helper()
	dir := t.TempDir()
	argsFile = filepath.Join(dir, "args")
	npm = filepath.Join(dir, "npm")
	script := `#!/bin/sh
echo "$@" >> '` + argsFile + `'
mkdir -p node_modules/@x/srv/dist
printf '{"name":"@x/srv","version":"1.2.3","bin":{"srv":"dist/index.js"}}' > node_modules/@x/srv/package.json
echo 'console.log(1)' > node_modules/@x/srv/dist/index.js
chmod 600 node_modules/@x/srv/dist/index.js
printf '%s' '` + lock + `' > package-lock.json
`
	if err := os.WriteFile(npm, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return npm, argsFile
}

func TestInstallIsContentAddressed(t *testing.T) {
	root := filepath.Join(t.TempDir(), "installs")
	npm, argsFile := fakeNPM(t, `{"lockfileVersion":3}`)
	in := &Installer{Root: root, NPM: npm}
	first, err := in.Install(t.Context(), Package{"@x/srv", "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	if first.Reused || first.Version != "1.2.3" || first.Bin != "node_modules/@x/srv/dist/index.js" || !strings.HasPrefix(filepath.Base(first.Dir), "npm-") {
		t.Fatalf("first install %+v", first)
	}
	if _, err := os.Stat(filepath.Join(first.Dir, "package-lock.json")); err != nil {
		t.Errorf("no lock file kept: %v", err)
	}
	info, err := os.Stat(filepath.Join(first.Dir, first.Bin))
	if err != nil || info.Mode().Perm()&0o004 == 0 {
		t.Errorf("the bin is not readable by others: %v %v", info.Mode(), err)
	}
	args, _ := os.ReadFile(argsFile)
	if !strings.Contains(string(args), "--ignore-scripts") {
		t.Errorf("npm ran with %q: install scripts not refused", args)
	}
	again, err := in.Install(t.Context(), Package{"@x/srv", "1.2.3"})
	if err != nil || !again.Reused || again.Dir != first.Dir {
		t.Fatalf("same lock: %+v %v", again, err)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 {
		t.Errorf("left behind %d entries in %s", len(entries), root)
	}
	// A different tree lands in a different folder.
	npm2, _ := fakeNPM(t, `{"lockfileVersion":3,"x":1}`)
	other, err := (&Installer{Root: root, NPM: npm2}).Install(t.Context(), Package{"@x/srv", ""})
	if err != nil || other.Dir == first.Dir {
		t.Fatalf("another lock: %+v %v", other, err)
	}
	// Scripts only when asked.
	npm3, args3 := fakeNPM(t, `{"lockfileVersion":3,"y":1}`)
	if _, err := (&Installer{Root: root, NPM: npm3, AllowScripts: true}).Install(t.Context(), Package{"@x/srv", ""}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(args3); strings.Contains(string(b), "--ignore-scripts") {
		t.Errorf("AllowScripts still refused scripts: %q", b)
	}
}

func TestInstallFailureSaysWhy(t *testing.T) {
	dir := t.TempDir()
	npm := filepath.Join(dir, "npm")
	if err := os.WriteFile(npm, []byte("#!/bin/sh\necho 'npm ERR! 404 Not Found - GET nope' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := (&Installer{Root: filepath.Join(dir, "r"), NPM: npm}).Install(t.Context(), Package{"nope", "1.0.0"})
	if err == nil || !strings.Contains(err.Error(), "404 Not Found") {
		t.Fatalf("err = %v", err)
	}
}
