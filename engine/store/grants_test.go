package store

import (
	"errors"
	"reflect"
	"testing"
)

func grantKeys(gs []Grant) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.Key
	}
	return out
}

func TestGrants(t *testing.T) {
	s := openT(t, t.TempDir())
	for _, k := range []string{"exec:quick_ride.book", "exec:metro_hail.book_ride", "isc:a->b", "exec:metro_hail.book_ride"} {
		if err := s.PutGrant("alice", Grant{Key: k, At: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutGrant("bob", Grant{Key: "exec:bob.only", At: t0}); err != nil {
		t.Fatal(err)
	}

	t.Run("sorted and deduplicated", func(t *testing.T) {
		gs, err := s.Grants("alice")
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"exec:metro_hail.book_ride", "exec:quick_ride.book", "isc:a->b"}
		if got := grantKeys(gs); !reflect.DeepEqual(got, want) {
			t.Errorf("Grants = %q, want %q", got, want)
		}
	})

	has := []struct {
		name, user, key string
		want            bool
	}{
		{"own grant", "alice", "exec:metro_hail.book_ride", true},
		{"other user's grant", "alice", "exec:bob.only", false},
		{"bob's grant", "bob", "exec:bob.only", true},
		{"alice's grant for bob", "bob", "exec:metro_hail.book_ride", false},
		{"prefix of a grant", "alice", "exec:metro_hail", false},
		{"user prefix", "alic", "exec:metro_hail.book_ride", false},
	}
	for _, c := range has {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.HasGrant(c.user, c.key)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("HasGrant(%s, %s) = %v, want %v", c.user, c.key, got, c.want)
			}
		})
	}

	t.Run("revoke", func(t *testing.T) {
		if err := s.RevokeGrant("alice", "isc:a->b"); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.HasGrant("alice", "isc:a->b"); err != nil || ok {
			t.Errorf("HasGrant after revoke = %v, %v", ok, err)
		}
		if err := s.RevokeGrant("alice", "isc:a->b"); !errors.Is(err, ErrNotFound) {
			t.Errorf("second revoke err = %v, want ErrNotFound", err)
		}
		if err := s.RevokeGrant("alice", "exec:bob.only"); !errors.Is(err, ErrNotFound) {
			t.Errorf("revoking another user's grant err = %v, want ErrNotFound", err)
		}
		if ok, _ := s.HasGrant("bob", "exec:bob.only"); !ok {
			t.Error("bob's grant lost")
		}
	})
}
