// Package npm installs an npm package, as `npx -y PKG@VER` names it, into
// a content-addressed folder that keeps its lock file, running no install
// scripts unless the user asks: the folder an imported MCP server runs
// from, read-only, in its sandbox.
//
//	npx -y PKG@VER ARGS… ──ParseNPX──▶ Package, ARGS
//	Install: temp folder ──npm install --ignore-scripts──▶ package-lock.json
//	         sha256(lock) ──▶ ROOT/npm-<hash> (reused when it exists) ──▶ the package's bin
package npm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// Package is an npm package and the version asked for ("" is the newest).
type Package struct {
	Name    string
	Version string
}

func (p Package) String() string {
	if p.Version == "" {
		return p.Name
	}
	return p.Name + "@" + p.Version
}

var (
	nameRE    = regexp.MustCompile(`^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$`)
	versionRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$`)
)

// ErrNotNPX marks a command that is not `npx … PKG`.
var ErrNotNPX = errors.New("not an npx command")

// ParseNPX reads `npx [-y|--yes] PKG[@VERSION] ARGS…`: the package and the
// arguments the server gets. Other npx options (--package, -c, …) are
// refused rather than guessed at.
func ParseNPX(command string, args []string) (Package, []string, error) {
	if path.Base(command) != "npx" {
		return Package{}, nil, ErrNotNPX
	}
	i := 0
	for ; i < len(args) && strings.HasPrefix(args[i], "-"); i++ {
		switch args[i] {
		case "-y", "--yes", "-q", "--quiet":
		default:
			return Package{}, nil, fmt.Errorf("npx option %q is not supported: give npx -y PKG@VERSION ARGS", args[i])
		}
	}
	if i == len(args) {
		return Package{}, nil, errors.New("npx names no package")
	}
	spec := args[i]
	p := Package{Name: spec}
	if at := strings.LastIndexByte(spec, '@'); at > 0 {
		p.Name, p.Version = spec[:at], spec[at+1:]
	}
	if len(p.Name) > 214 || !nameRE.MatchString(p.Name) {
		return Package{}, nil, fmt.Errorf("%q is not an npm package name", p.Name)
	}
	if p.Version != "" && !versionRE.MatchString(p.Version) {
		return Package{}, nil, fmt.Errorf("%q: give an exact version or a tag (0-9 A-Z a-z . + -)", spec)
	}
	return p, slices.Clone(args[i+1:]), nil
}

// Installer installs packages under Root.
type Installer struct {
	Root string
	// NPM is the npm program ("npm" on PATH when empty); Env its
	// environment (the hub's when nil).
	NPM string
	Env []string
	// AllowScripts lets npm run the packages' install scripts, which run
	// outside any sandbox: only when the user asks.
	AllowScripts bool
}

// Install is one installed package.
type Install struct {
	// Dir is the content-addressed folder: Root/npm-<first 32 hex digits
	// of the lock file's sha256>. It holds package.json, package-lock.json
	// and node_modules.
	Dir string
	// Lock is the hex sha256 of its package-lock.json.
	Lock string
	// Version is the version npm resolved.
	Version string
	// Bin is the package's program, relative to Dir
	// (node_modules/PKG/…); empty when it names none.
	Bin string
	// Reused is true when the same lock was installed before.
	Reused bool
}

// installMarker is written last into a complete install.
const installMarker = ".isolategpt-install"

// Install installs pkg and its dependencies. The same resolved tree
// always lands in the same folder, which is then reused as it is.
func (in *Installer) Install(ctx context.Context, pkg Package) (*Install, error) {
	if err := os.MkdirAll(in.Root, 0o755); err != nil {
		return nil, fmt.Errorf("install %s: %w", pkg, err)
	}
	tmp, err := os.MkdirTemp(in.Root, ".tmp-")
	if err != nil {
		return nil, fmt.Errorf("install %s: %w", pkg, err)
	}
	defer os.RemoveAll(tmp)
	version := pkg.Version
	if version == "" {
		version = "latest"
	}
	manifest, _ := json.MarshalIndent(map[string]any{
		"name": "isolategpt-app", "private": true, "description": "installed by isolategpt apps import",
		"dependencies": map[string]string{pkg.Name: version},
	}, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, "package.json"), manifest, 0o644); err != nil {
		return nil, fmt.Errorf("install %s: %w", pkg, err)
	}
	args := []string{"install", "--no-audit", "--no-fund", "--loglevel=error", "--package-lock=true"}
	if !in.AllowScripts {
		args = append(args, "--ignore-scripts")
	}
	npm := in.NPM
	if npm == "" {
		npm = "npm"
	}
	cmd := exec.CommandContext(ctx, npm, args...)
	cmd.Dir, cmd.Env = tmp, in.Env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("install %s: npm install: %w: %s", pkg, err, lastLines(out.String(), 6))
	}
	lock, err := os.ReadFile(filepath.Join(tmp, "package-lock.json"))
	if err != nil {
		return nil, fmt.Errorf("install %s: npm wrote no lock file: %w", pkg, err)
	}
	sum := sha256.Sum256(lock)
	res := &Install{Lock: hex.EncodeToString(sum[:])}
	res.Dir = filepath.Join(in.Root, "npm-"+res.Lock[:32])
	if _, err := os.Stat(filepath.Join(res.Dir, installMarker)); err == nil {
		res.Reused = true
	} else {
		_ = os.RemoveAll(res.Dir) // an install that did not finish
		if err := readable(tmp); err != nil {
			return nil, fmt.Errorf("install %s: %w", pkg, err)
		}
		if err := os.WriteFile(filepath.Join(tmp, installMarker), []byte(pkg.String()+"\n"), 0o644); err != nil {
			return nil, fmt.Errorf("install %s: %w", pkg, err)
		}
		if err := os.Rename(tmp, res.Dir); err != nil {
			return nil, fmt.Errorf("install %s: %w", pkg, err)
		}
		if err := os.Chmod(res.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("install %s: %w", pkg, err)
		}
	}
	res.Version, res.Bin, err = binOf(res.Dir, pkg.Name)
	if err != nil {
		return nil, fmt.Errorf("install %s: %w", pkg, err)
	}
	return res, nil
}

// maxPackageJSONBytes bounds an installed package's package.json.
const maxPackageJSONBytes = 4 << 20

// binOf reads the installed package's version and its program: the
// package's only bin, or the one named after it.
func binOf(dir, name string) (string, string, error) {
	pj := filepath.Join(dir, "node_modules", filepath.FromSlash(name), "package.json")
	b, err := os.ReadFile(pj)
	if err != nil {
		return "", "", fmt.Errorf("the package is not in node_modules: %w", err)
	}
	var p struct {
		Version string          `json:"version"`
		Bin     json.RawMessage `json:"bin"`
	}
	// Read as every other reader of it would, or refused: which program
	// runs may not depend on which of two "bin" keys a reader takes.
	if err := strictjson.UnmarshalKnown(b, &p, maxPackageJSONBytes); err != nil {
		return "", "", fmt.Errorf("%s: %w", pj, err)
	}
	var bin string
	var one string
	if json.Unmarshal(p.Bin, &one) == nil {
		bin = one
	} else {
		var many map[string]string
		_ = json.Unmarshal(p.Bin, &many)
		base := path.Base(name)
		switch {
		case many[base] != "":
			bin = many[base]
		case len(many) == 1:
			for _, v := range many {
				bin = v
			}
		}
	}
	if bin == "" {
		return p.Version, "", nil
	}
	rel := path.Clean(path.Join("node_modules", name, bin))
	if !strings.HasPrefix(rel, "node_modules/"+name+"/") {
		return "", "", fmt.Errorf("its bin %q leaves the package", bin)
	}
	return p.Version, rel, nil
}

// readable lets the sandbox's user read what npm wrote: folders 0755,
// files a+r (and a+x where the owner had x). Symbolic links stay as they
// are; Landlock keeps the server inside the folder whatever they say.
func readable(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode().Perm()
		if d.IsDir() {
			mode = 0o755
		} else {
			mode |= 0o444
			if mode&0o100 != 0 {
				mode |= 0o111
			}
			mode &^= 0o022
		}
		return os.Chmod(p, mode)
	})
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
