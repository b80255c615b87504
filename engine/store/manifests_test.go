package store

import (
	"errors"
	"reflect"
	"testing"
)

func TestManifests(t *testing.T) {
	s := openT(t, t.TempDir())
	for _, app := range []string{"quick_ride", "metro_hail", "metro"} {
		r := ManifestRecord{App: app, Hash: "h-" + app, Raw: []byte("raw " + app), InstalledAt: t0}
		if err := s.PutManifest(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutManifest(ManifestRecord{App: "metro", Hash: "h2", Raw: []byte("v2"), InstalledAt: t0}); err != nil {
		t.Fatal(err)
	}

	rs, err := s.Manifests()
	if err != nil {
		t.Fatal(err)
	}
	var apps []string
	for _, r := range rs {
		apps = append(apps, r.App)
	}
	if want := []string{"metro", "metro_hail", "quick_ride"}; !reflect.DeepEqual(apps, want) {
		t.Errorf("Manifests apps = %q, want %q", apps, want)
	}

	cases := []struct {
		name, app, hash string
		err             error
	}{
		{"installed", "metro_hail", "h-metro_hail", nil},
		{"replaced", "metro", "h2", nil},
		{"missing", "taxi", "", ErrNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := s.Manifest(c.app)
			if !errors.Is(err, c.err) {
				t.Fatalf("Manifest(%s) err = %v, want %v", c.app, err, c.err)
			}
			if r.Hash != c.hash {
				t.Errorf("hash = %q, want %q", r.Hash, c.hash)
			}
		})
	}

	t.Run("remove", func(t *testing.T) {
		if err := s.RemoveManifest("metro"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Manifest("metro"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Manifest after remove err = %v, want ErrNotFound", err)
		}
		if err := s.RemoveManifest("metro"); !errors.Is(err, ErrNotFound) {
			t.Errorf("second remove err = %v, want ErrNotFound", err)
		}
		if _, err := s.Manifest("metro_hail"); err != nil {
			t.Errorf("removing metro removed metro_hail: %v", err)
		}
	})
}
