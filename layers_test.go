package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/isolategpt/isolategpt"

// layer is how high a package sits: the command layer (this package, the
// TUI, the evaluation) at 0, then the engine's wiring, the actors, the
// domain packages, the sandbox and the specs (STYLE.md, "Dependencies run
// one way").
func layer(pkg string) int {
	switch {
	case pkg == "", strings.HasPrefix(pkg, "tui"), strings.HasPrefix(pkg, "evaluation"):
		return 0
	case pkg == "engine", pkg == "engine/batch", pkg == "engine/control", pkg == "engine/metrics":
		return 1
	case strings.HasPrefix(pkg, "actors/"):
		return 2
	case strings.HasPrefix(pkg, "engine/"):
		return 3
	case strings.HasPrefix(pkg, "sandbox"):
		return 4
	case strings.HasPrefix(pkg, "specs"):
		return 5
	case strings.HasPrefix(pkg, "internal/"):
		// Leaves that import nothing of the module (earlysignal).
		return 6
	}
	return -1
}

// upward are the imports that go up a layer today, each with its reason;
// the test fails on any other, and on any of these that is gone (so the
// list stays true).
var upward = map[string]string{
	"engine/execute -> actors/msg":        "the protocol's types (prompts, outcomes) are the executor's vocabulary",
	"engine/execute -> actors/permission": "the hub's wording of a refused flow",
	"engine/agent -> actors/msg":          "the protocol's types",
	"engine/vanilla -> actors/msg":        "the protocol's types",
	"engine/vanilla -> actors/spoke":      "the baseline reuses the spoke's launch spec",
	"specs/builtin -> sandbox":            "built-in apps implement sandbox.App",
}

// The dependency graph runs one way: no package imports one above it
// (the command layer, package main, is imported by nothing), but for the
// listed exceptions.
func TestDependenciesRunOneWay(t *testing.T) {
	imports := map[string][]string{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(filepath.Dir(path))
		if pkg == "." {
			pkg = ""
		}
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if p == module || strings.HasPrefix(p, module+"/") {
				dep := strings.TrimPrefix(strings.TrimPrefix(p, module), "/")
				if !slices.Contains(imports[pkg], dep) {
					imports[pkg] = append(imports[pkg], dep)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for pkg, deps := range imports {
		if layer(pkg) < 0 {
			t.Errorf("package %q has no layer: add it to layer()", pkg)
		}
		for _, dep := range deps {
			if dep == "" {
				t.Errorf("%s imports the command layer (package main)", pkg)
			}
			if (strings.HasPrefix(dep, "tui") || strings.HasPrefix(dep, "evaluation")) && layer(pkg) > 0 {
				t.Errorf("%s imports %s, from the command layer", pkg, dep)
			}
			if layer(dep) < layer(pkg) {
				edge := pkg + " -> " + dep
				if _, ok := upward[edge]; !ok {
					t.Errorf("%s imports a package above it", edge)
				}
				seen[edge] = true
			}
		}
	}
	for edge := range upward {
		if !seen[edge] {
			t.Errorf("%s is listed as an exception but no longer exists: remove it", edge)
		}
	}
}
