package store

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// The rules as the design states them, to check the hand-written validators.
var (
	userRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	appRE   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	grantRE = regexp.MustCompile(`^[\x20-\x7e]{1,256}$`)
)

func TestBadIDs(t *testing.T) {
	s := openT(t, t.TempDir())
	badUsers := []string{"", "alice/bob", "../alice", ".alice", "-a", "_a", "al ice", "alice\x00", "ålice", "alice\n", strings.Repeat("a", 65)}
	badApps := []string{"", "metro_hail/../x", "a\x00b", "quick_ride/", "metro_hail/x", "/quick_ride", "Metro", "1app", "_app",
		"quick-ride", "quick.ride", "quick ride", strings.Repeat("a", 41)}
	badKeys := []string{"", "a\nb", "tab\there", "del\x7f", "exec:é", strings.Repeat("k", 257)}

	type call struct {
		name string
		fn   func() error
	}
	var calls []call
	for _, u := range badUsers {
		calls = append(calls,
			call{"AppendTurn " + u, func() error { return s.AppendTurn(u, Turn{}) }},
			call{"RecentTurns " + u, func() error { _, err := s.RecentTurns(u, 1); return err }},
			call{"SpokeMemory user " + u, func() error { _, err := s.SpokeMemory(u, "metro_hail"); return err }},
			call{"PutGrant " + u, func() error { return s.PutGrant(u, Grant{Key: "k"}) }},
			call{"HasGrant " + u, func() error { _, err := s.HasGrant(u, "k"); return err }},
			call{"Grants " + u, func() error { _, err := s.Grants(u); return err }},
			call{"RevokeGrant " + u, func() error { return s.RevokeGrant(u, "k") }},
			call{"Audit " + u, func() error { _, err := s.Audit(AuditRecord{User: u}); return err }},
			call{"AuditLog " + u, func() error { return s.AuditLog(u, func(AuditRecord) error { return nil }) }},
		)
	}
	for _, a := range badApps {
		calls = append(calls,
			call{"SpokeMemory app " + a, func() error { _, err := s.SpokeMemory("alice", a); return err }},
			call{"PutManifest " + a, func() error { return s.PutManifest(ManifestRecord{App: a}) }},
			call{"Manifest " + a, func() error { _, err := s.Manifest(a); return err }},
			call{"RemoveManifest " + a, func() error { return s.RemoveManifest(a) }},
		)
	}
	for _, k := range badKeys {
		calls = append(calls,
			call{"PutGrant key " + k, func() error { return s.PutGrant("alice", Grant{Key: k}) }},
			call{"HasGrant key " + k, func() error { _, err := s.HasGrant("alice", k); return err }},
			call{"RevokeGrant key " + k, func() error { return s.RevokeGrant("alice", k) }},
		)
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.fn(); !errors.Is(err, ErrBadID) {
				t.Errorf("err = %v, want ErrBadID", err)
			}
		})
	}
	// Nothing was written by any rejected call.
	if rs, err := s.Manifests(); err != nil || len(rs) != 0 {
		t.Errorf("Manifests after bad ids = %v, %v", rs, err)
	}
}

func TestGoodIDs(t *testing.T) {
	cases := []struct{ user, app, key string }{
		{"a", "a", "k"},
		{"Alice.Smith-2_x", "metro_hail", "exec:metro_hail.book_ride"},
		{strings.Repeat("u", 64), strings.Repeat("a", 40), strings.Repeat("~", 256)},
		{"0", "z9_", "exec:a/b c"},
	}
	for _, c := range cases {
		t.Run(c.user+" "+c.app, func(t *testing.T) {
			if err := validUser(c.user); err != nil {
				t.Error(err)
			}
			if err := validApp(c.app); err != nil {
				t.Error(err)
			}
			if err := validGrantKey(c.key); err != nil {
				t.Error(err)
			}
		})
	}
}

// FuzzValidID checks the validators agree with the stated rules and that
// an accepted id can never carry the key separator, so a spoke prefix
// always has exactly its three separators.
func FuzzValidID(f *testing.F) {
	for _, seed := range []string{"alice", "metro_hail", "metro_hail/../x", "a\x00b", "quick_ride/", "exec:x.y", ".a", "A-1.b_c", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		userOK := validUser(id) == nil
		if userOK != userRE.MatchString(id) {
			t.Fatalf("validUser(%q) accepted=%v, rule says %v", id, userOK, !userOK)
		}
		appOK := validApp(id) == nil
		if appOK != appRE.MatchString(id) {
			t.Fatalf("validApp(%q) accepted=%v, rule says %v", id, appOK, !appOK)
		}
		if keyOK := validGrantKey(id) == nil; keyOK != grantRE.MatchString(id) {
			t.Fatalf("validGrantKey(%q) accepted=%v, rule says %v", id, keyOK, !keyOK)
		}
		if (userOK || appOK) && strings.IndexByte(id, sep) >= 0 {
			t.Fatalf("accepted id %q contains separator %q", id, sep)
		}
		if userOK && bytes.Count(spokePrefix(id, "app"), []byte{sep}) != 3 {
			t.Fatalf("spoke prefix for user %q is ambiguous: %q", id, spokePrefix(id, "app"))
		}
		if appOK && bytes.Count(spokePrefix("alice", id), []byte{sep}) != 3 {
			t.Fatalf("spoke prefix for app %q is ambiguous: %q", id, spokePrefix("alice", id))
		}
	})
}
