package store

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// openT opens a store in dir and closes it when the test ends, unless the
// test closed it already.
func openT(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// reopen closes s and opens the same folder again.
func reopen(t testing.TB, s *Store, dir string) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return openT(t, dir)
}

var t0 = time.Date(2025, 3, 1, 12, 30, 0, 123456789, time.UTC)

func TestEveryKindSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)

	turns := []Turn{
		{At: t0, QueryID: "q1", Query: "book a ride", Facts: []string{"user in Paris"}},
		{At: t0.Add(time.Minute), QueryID: "q2", Query: "and back", Facts: []string{"a", "b"}},
	}
	entries := []Entry{
		{At: t0, QueryID: "q1", Role: "user", Text: "to the airport"},
		{At: t0.Add(time.Second), QueryID: "q1", Role: "tool", Text: `{"ride":"r-1"}`},
	}
	grants := []Grant{
		{Key: "exec:metro_hail.book_ride", At: t0, Note: "always"},
		{Key: "isc:metro_hail->quick_ride", At: t0},
	}
	manifest := ManifestRecord{App: "metro_hail", Hash: "sha256:abc", Raw: []byte("{\"name\":\"metro_hail\"}\x00\xff"), InstalledAt: t0}
	audit := AuditRecord{At: t0, User: "alice", Session: "s1", QueryID: "q1", Kind: "step",
		App: "metro_hail", Function: "book_ride", Outcome: "ok", Detail: []byte(`{"n":1}`)}

	cases := []struct {
		name  string
		write func(s *Store) error
		check func(t *testing.T, s *Store)
	}{
		{
			name: "turns",
			write: func(s *Store) error {
				for _, tr := range turns {
					if err := s.AppendTurn("alice", tr); err != nil {
						return err
					}
				}
				return nil
			},
			check: func(t *testing.T, s *Store) {
				got, err := s.RecentTurns("alice", 10)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, turns) {
					t.Errorf("turns = %+v, want %+v", got, turns)
				}
			},
		},
		{
			name: "spoke memory",
			write: func(s *Store) error {
				m, err := s.SpokeMemory("alice", "metro_hail")
				if err != nil {
					return err
				}
				for _, e := range entries {
					if err := m.Append(e); err != nil {
						return err
					}
				}
				return nil
			},
			check: func(t *testing.T, s *Store) {
				m, err := s.SpokeMemory("alice", "metro_hail")
				if err != nil {
					t.Fatal(err)
				}
				got, err := m.Recent(10)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, entries) {
					t.Errorf("entries = %+v, want %+v", got, entries)
				}
			},
		},
		{
			name: "grants",
			write: func(s *Store) error {
				for _, g := range grants {
					if err := s.PutGrant("alice", g); err != nil {
						return err
					}
				}
				return nil
			},
			check: func(t *testing.T, s *Store) {
				got, err := s.Grants("alice")
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, grants) {
					t.Errorf("grants = %+v, want %+v", got, grants)
				}
				ok, err := s.HasGrant("alice", grants[0].Key)
				if err != nil || !ok {
					t.Errorf("HasGrant = %v, %v; want true", ok, err)
				}
			},
		},
		{
			name:  "manifest",
			write: func(s *Store) error { return s.PutManifest(manifest) },
			check: func(t *testing.T, s *Store) {
				got, err := s.Manifest("metro_hail")
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, manifest) {
					t.Errorf("manifest = %+v, want %+v", got, manifest)
				}
			},
		},
		{
			name: "audit",
			write: func(s *Store) error {
				rec, err := s.Audit(audit)
				audit.Seq = rec.Seq
				return err
			},
			check: func(t *testing.T, s *Store) {
				got := collectAudit(t, s, "alice")
				if len(got) != 1 || !reflect.DeepEqual(got[0], audit) {
					t.Errorf("audit = %+v, want [%+v]", got, audit)
				}
			},
		},
	}
	for _, c := range cases {
		if err := c.write(s); err != nil {
			t.Fatalf("%s: write: %v", c.name, err)
		}
	}
	s = reopen(t, s, dir)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.check(t, s) })
	}
}

func TestOpenCreatesPrivateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "data")
	openT(t, dir)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("data folder mode = %v, want drwx------", fi.Mode())
	}
}

func TestOpenErrors(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	locked := filepath.Join(base, "locked")
	openT(t, locked)

	cases := []struct {
		name string
		dir  string
	}{
		{"regular file", file},
		{"path under a file", filepath.Join(file, "data")},
		{"folder already open", locked},
		{"empty path", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(c.dir, Options{})
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded, want error", c.dir)
			}
			if !strings.HasPrefix(err.Error(), "open store") {
				t.Errorf("error %q does not name the operation", err)
			}
		})
	}
}

func TestInMemory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "unused")
	s, err := Open(dir, Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.AppendTurn("alice", Turn{Query: "hi"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.RecentTurns("alice", 1)
	if err != nil || len(got) != 1 || got[0].Query != "hi" {
		t.Fatalf("RecentTurns = %+v, %v", got, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("in-memory store touched %s: %v", dir, err)
	}
}

// TestBadgerLogging checks Badger writes nothing to stderr, with or without
// a logger, and that its messages reach the logger given. It swaps
// os.Stderr, so it must not run in parallel.
func TestBadgerLogging(t *testing.T) {
	cases := []struct {
		name   string
		logger bool
	}{
		{"nil logger", false},
		{"slog logger", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
			if err != nil {
				t.Fatal(err)
			}
			saved := os.Stderr
			os.Stderr = stderr
			t.Cleanup(func() { os.Stderr = saved })

			var buf bytes.Buffer
			opts := Options{}
			if c.logger {
				opts.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			}
			dir := t.TempDir()
			for range 2 { // the second open replays and reports more
				s, err := Open(dir, opts)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.Audit(AuditRecord{User: "alice", Kind: "plan"}); err != nil {
					t.Fatal(err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
			os.Stderr = saved
			written, err := os.ReadFile(stderr.Name())
			if err != nil {
				t.Fatal(err)
			}
			if len(written) > 0 {
				t.Errorf("badger wrote to stderr: %q", written)
			}
			if c.logger && !strings.Contains(buf.String(), "component=badger") {
				t.Errorf("no badger message reached the logger; got %q", buf.String())
			}
		})
	}
}

func TestClosed(t *testing.T) {
	s := openT(t, t.TempDir())
	m, err := s.SpokeMemory("alice", "metro_hail")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		call func() error
	}{
		{"Close", s.Close},
		{"AppendTurn", func() error { return s.AppendTurn("alice", Turn{}) }},
		{"RecentTurns", func() error { _, err := s.RecentTurns("alice", 1); return err }},
		{"SpokeMemory.Append", func() error { return m.Append(Entry{Text: "x"}) }},
		{"SpokeMemory.Recent", func() error { _, err := m.Recent(1); return err }},
		{"PutGrant", func() error { return s.PutGrant("alice", Grant{Key: "k"}) }},
		{"HasGrant", func() error { _, err := s.HasGrant("alice", "k"); return err }},
		{"Grants", func() error { _, err := s.Grants("alice"); return err }},
		{"RevokeGrant", func() error { return s.RevokeGrant("alice", "k") }},
		{"PutManifest", func() error { return s.PutManifest(ManifestRecord{App: "metro_hail"}) }},
		{"Manifest", func() error { _, err := s.Manifest("metro_hail"); return err }},
		{"Manifests", func() error { _, err := s.Manifests(); return err }},
		{"RemoveManifest", func() error { return s.RemoveManifest("metro_hail") }},
		{"Audit", func() error { _, err := s.Audit(AuditRecord{User: "alice"}); return err }},
		{"AuditLog", func() error { return s.AuditLog("alice", func(AuditRecord) error { return nil }) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, ErrClosed) {
				t.Errorf("err = %v, want ErrClosed", err)
			}
		})
	}
}
