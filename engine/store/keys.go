package store

import (
	"encoding/binary"
	"fmt"
)

// sep separates the parts of a key. validUser and validApp never accept it,
// and grant keys, which may contain it, always come last.
const sep = '/'

const (
	maxUserLen  = 64
	maxAppLen   = 40
	maxGrantLen = 256
)

// Key prefixes, one per record kind. See the package comment for the layout.
var (
	keySeqMemory = []byte("seq/mem")
	kindTurn     = "turn"
	kindSpoke    = "spoke"
	kindGrant    = "grant"
	kindManifest = "manifest"
	kindAudit    = "audit"
)

// validUser checks ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$ byte by byte, so that the
// rule is plain to read and cannot be loosened by a regexp flag.
func validUser(user string) error {
	if len(user) == 0 || len(user) > maxUserLen {
		return fmt.Errorf("user %q: length %d not in 1..%d: %w", user, len(user), maxUserLen, ErrBadID)
	}
	for i := 0; i < len(user); i++ {
		c := user[i]
		ok := isAlnum(c) || (i > 0 && (c == '_' || c == '.' || c == '-'))
		if !ok {
			return fmt.Errorf("user %q: byte %d not allowed: %w", user, i, ErrBadID)
		}
	}
	return nil
}

// validApp checks ^[a-z][a-z0-9_]{0,39}$.
func validApp(app string) error {
	if len(app) == 0 || len(app) > maxAppLen {
		return fmt.Errorf("app %q: length %d not in 1..%d: %w", app, len(app), maxAppLen, ErrBadID)
	}
	for i := 0; i < len(app); i++ {
		c := app[i]
		ok := isLower(c) || (i > 0 && (isDigit(c) || c == '_'))
		if !ok {
			return fmt.Errorf("app %q: byte %d not allowed: %w", app, i, ErrBadID)
		}
	}
	return nil
}

// validGrantKey accepts 1..256 printable ASCII bytes (0x20..0x7e).
func validGrantKey(key string) error {
	if len(key) == 0 || len(key) > maxGrantLen {
		return fmt.Errorf("grant key: length %d not in 1..%d: %w", len(key), maxGrantLen, ErrBadID)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("grant key %q: byte %d not printable ASCII: %w", key, i, ErrBadID)
		}
	}
	return nil
}

func isLower(c byte) bool { return 'a' <= c && c <= 'z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlnum(c byte) bool { return isLower(c) || isDigit(c) || ('A' <= c && c <= 'Z') }

// prefix joins already validated parts as "p0/p1/.../".
func prefix(parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n+8)
	for _, p := range parts {
		b = append(b, p...)
		b = append(b, sep)
	}
	return b
}

// seqKey appends seq as 8 big-endian bytes to a copy of pfx.
func seqKey(pfx []byte, seq uint64) []byte {
	k := make([]byte, len(pfx), len(pfx)+8)
	copy(k, pfx)
	return binary.BigEndian.AppendUint64(k, seq)
}

// afterAll is a key greater than every pfx+<8-byte seq> key, for reverse seeks.
func afterAll(pfx []byte) []byte {
	k := make([]byte, len(pfx), len(pfx)+9)
	copy(k, pfx)
	return append(k, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
}

func turnPrefix(user string) []byte       { return prefix(kindTurn, user) }
func spokePrefix(user, app string) []byte { return prefix(kindSpoke, user, app) }
func grantPrefix(user string) []byte      { return prefix(kindGrant, user) }
func manifestPrefix() []byte              { return prefix(kindManifest) }
func auditPrefix(user string) []byte      { return prefix(kindAudit, user) }
func grantKey(user, key string) []byte    { return append(grantPrefix(user), key...) }
func manifestKey(app string) []byte       { return append(manifestPrefix(), app...) }

// ValidUser reports whether a user id is acceptable, wrapping ErrBadID if
// not, so front ends can refuse a bad id before anything runs.
func ValidUser(user string) error { return validUser(user) }
