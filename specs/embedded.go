package specs

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// apps holds the built-in apps' manifests, one file per app named after its
// id. apps/LICENSE-secgpt covers the text they take from SecGPT.
//
//go:embed apps/*.json
var apps embed.FS

// Builtin parses every embedded manifest and returns them sorted by id. An
// error in any of them is an error for all: the binary ships them.
func Builtin() ([]*Manifest, error) {
	entries, err := fs.Glob(apps, "apps/*.json")
	if err != nil {
		return nil, fmt.Errorf("builtin manifests: %w", err)
	}
	var out []*Manifest
	for _, name := range entries {
		m, err := parseEmbedded(name)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *Manifest) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// BuiltinByID returns the embedded manifest of one app.
func BuiltinByID(id string) (*Manifest, error) {
	if !validID(id) {
		return nil, fmt.Errorf("builtin manifest %q: %w", id, ErrUnknownApp)
	}
	m, err := parseEmbedded("apps/" + id + ".json")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("builtin manifest %q: %w", id, ErrUnknownApp)
	}
	return m, err
}

func parseEmbedded(name string) (*Manifest, error) {
	data, err := apps.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("builtin manifest %s: %w", name, err)
	}
	m, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("builtin manifest %s: %w", name, err)
	}
	if want := strings.TrimSuffix(path.Base(name), ".json"); m.ID != want {
		return nil, fmt.Errorf("builtin manifest %s: id %q does not match the file name: %w", name, m.ID, ErrInvalidManifest)
	}
	return m, nil
}
