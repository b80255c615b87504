package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// ManifestRecord is an installed app's manifest as the user approved it:
// the raw bytes and the hash the caller computed over them.
type ManifestRecord struct {
	App         string    `json:"app"`
	Hash        string    `json:"hash"`
	Raw         []byte    `json:"raw"`
	InstalledAt time.Time `json:"installed_at"`
	// Source is the file an app was installed from and Dir the folder its
	// files are in (read-only to it); both empty for built-in apps.
	Source string `json:"source,omitempty"`
	Dir    string `json:"dir,omitempty"`
	// ToolsHash pins the tools/list an MCP app's server reported at its
	// first start, or as the user last approved it; Tools is that list in
	// the caller's canonical form. Empty until the first start.
	ToolsHash string `json:"tools_hash,omitempty"`
	Tools     []byte `json:"tools,omitempty"`
}

// PutManifest installs r, replacing any manifest for the same app.
// A zero InstalledAt is set to now.
func (s *Store) PutManifest(r ManifestRecord) error {
	if err := validApp(r.App); err != nil {
		return fmt.Errorf("put manifest: %w", err)
	}
	if r.InstalledAt.IsZero() {
		r.InstalledAt = time.Now().UTC()
	}
	if err := s.putJSON(manifestKey(r.App), r); err != nil {
		return fmt.Errorf("put manifest %s: %w", r.App, err)
	}
	return nil
}

// Manifest returns the manifest installed for app, or ErrNotFound.
func (s *Store) Manifest(app string) (ManifestRecord, error) {
	if err := validApp(app); err != nil {
		return ManifestRecord{}, fmt.Errorf("manifest: %w", err)
	}
	var r ManifestRecord
	err := s.view(func(txn *badger.Txn) error {
		item, err := txn.Get(manifestKey(app))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		return decode(item, &r)
	})
	if err != nil {
		return ManifestRecord{}, fmt.Errorf("manifest %s: %w", app, err)
	}
	return r, nil
}

// Manifests returns every installed manifest sorted by app.
func (s *Store) Manifests() ([]ManifestRecord, error) {
	rs, err := scan[ManifestRecord](s, manifestPrefix())
	if err != nil {
		return nil, fmt.Errorf("manifests: %w", err)
	}
	return rs, nil
}

// RemoveManifest uninstalls app. A missing manifest is ErrNotFound. The
// app's spoke memory is left alone.
func (s *Store) RemoveManifest(app string) error {
	if err := validApp(app); err != nil {
		return fmt.Errorf("remove manifest: %w", err)
	}
	if err := s.deleteExisting(manifestKey(app)); err != nil {
		return fmt.Errorf("remove manifest %s: %w", app, err)
	}
	return nil
}
