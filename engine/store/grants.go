package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Grant is a permanent permission a user gave. Key is opaque to the store;
// the permission manager builds it (for example "exec:metro_hail.book_ride").
type Grant struct {
	Key  string    `json:"key"`
	At   time.Time `json:"at"`
	Note string    `json:"note,omitempty"`
}

// PutGrant records g for user, replacing any grant with the same key.
// A zero At is set to now.
func (s *Store) PutGrant(user string, g Grant) error {
	if err := validUser(user); err != nil {
		return fmt.Errorf("put grant: %w", err)
	}
	if err := validGrantKey(g.Key); err != nil {
		return fmt.Errorf("put grant %s: %w", user, err)
	}
	if g.At.IsZero() {
		g.At = time.Now().UTC()
	}
	if err := s.putJSON(grantKey(user, g.Key), g); err != nil {
		return fmt.Errorf("put grant %s %q: %w", user, g.Key, err)
	}
	return nil
}

// HasGrant reports whether user holds the grant key.
func (s *Store) HasGrant(user, key string) (bool, error) {
	if err := validUser(user); err != nil {
		return false, fmt.Errorf("has grant: %w", err)
	}
	if err := validGrantKey(key); err != nil {
		return false, fmt.Errorf("has grant %s: %w", user, err)
	}
	found := false
	err := s.view(func(txn *badger.Txn) error {
		_, err := txn.Get(grantKey(user, key))
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			return nil
		case err != nil:
			return err
		}
		found = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("has grant %s %q: %w", user, key, err)
	}
	return found, nil
}

// Grants returns all of user's grants sorted by key.
func (s *Store) Grants(user string) ([]Grant, error) {
	if err := validUser(user); err != nil {
		return nil, fmt.Errorf("grants: %w", err)
	}
	// Keys sort bytewise, which is the order of Go strings.
	gs, err := scan[Grant](s, grantPrefix(user))
	if err != nil {
		return nil, fmt.Errorf("grants %s: %w", user, err)
	}
	return gs, nil
}

// RevokeGrant removes user's grant key. A missing grant is ErrNotFound.
func (s *Store) RevokeGrant(user, key string) error {
	if err := validUser(user); err != nil {
		return fmt.Errorf("revoke grant: %w", err)
	}
	if err := validGrantKey(key); err != nil {
		return fmt.Errorf("revoke grant %s: %w", user, err)
	}
	if err := s.deleteExisting(grantKey(user, key)); err != nil {
		return fmt.Errorf("revoke grant %s %q: %w", user, key, err)
	}
	return nil
}
