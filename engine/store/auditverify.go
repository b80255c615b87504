package store

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// Kinds of problem VerifyAudit reports.
const (
	ProblemMissing     = "missing"     // a number between the chain start and the head has no record
	ProblemAltered     = "altered"     // a record's bytes are not what the next link (or the head) committed to
	ProblemReordered   = "reordered"   // a record stands at a number, or after a record, other than where it was written
	ProblemDuplicate   = "duplicate"   // two records hold the same number
	ProblemAfterHead   = "after head"  // a record beyond the head: added behind the chain's back, or the head rolled back
	ProblemHead        = "head"        // the chain head is missing, or was rebuilt at an open
	ProblemAnchor      = "anchor"      // the log does not extend a previously exported head
	ProblemUndecodable = "undecodable" // a key or record that cannot be read
)

// maxProblems caps a report; Truncated says when more were found.
const maxProblems = 1000

// Problem is one thing wrong with the audit log.
type Problem struct {
	Seq  uint64 `json:"seq"`
	Kind string `json:"kind"`
	Text string `json:"text"`
}

// VerifyReport is what VerifyAudit found.
type VerifyReport struct {
	Head ChainHead `json:"head"`
	// Checked is how many chained records were read and linked.
	Checked int `json:"checked"`
	// Legacy is how many records predate the chain (below Head.Start):
	// they are counted, not verified.
	Legacy int `json:"legacy"`
	// Problems in Seq order; the first is the first broken link.
	Problems  []Problem `json:"problems"`
	Truncated bool      `json:"truncated,omitempty"`
}

// OK reports whether nothing is wrong.
func (r *VerifyReport) OK() bool { return len(r.Problems) == 0 }

func (r *VerifyReport) add(seq uint64, kind, format string, args ...any) {
	if len(r.Problems) >= maxProblems {
		r.Truncated = true
		return
	}
	r.Problems = append(r.Problems, Problem{Seq: seq, Kind: kind, Text: fmt.Sprintf(format, args...)})
}

// VerifyOptions configures VerifyAudit.
type VerifyOptions struct {
	// Anchor is a head exported earlier; the log must still extend it.
	Anchor *ChainHead
	// NoLinks switches the hash checks off, leaving only the numbering:
	// for the test that shows what the chain catches. Never set it
	// outside tests.
	NoLinks bool
}

// verifyEntry is what verify keeps of one record.
type verifyEntry struct {
	hash, prev      string
	seq             uint64 // as the record says
	user, keyUser   string
	kind, outcome   string
	undecodable     bool
	duplicateOfUser string
}

// VerifyAudit reads the whole audit log in one snapshot and checks the
// chain from its start to its head: every number present, each record
// where it was written, each link the hash of the record before it, the
// last record the head, nothing beyond the head, and, with an anchor, the
// anchored record unchanged. It returns an error only when the log cannot
// be read at all; everything wrong with it is a Problem.
func (s *Store) VerifyAudit(opts VerifyOptions) (VerifyReport, error) {
	var rep VerifyReport
	entries := map[uint64]*verifyEntry{}
	err := s.view(func(txn *badger.Txn) error {
		head, found, err := readHead(txn)
		if err != nil {
			rep.add(0, ProblemHead, "chain head unreadable: %v", err)
		} else if !found {
			rep.add(0, ProblemHead, "chain head missing: the log was never chained, or its head was deleted")
		}
		rep.Head = head
		pfx := prefix(kindAudit)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: pfx, PrefetchValues: true, PrefetchSize: 100})
		defer it.Close()
		for it.Seek(pfx); it.Valid(); it.Next() {
			item := it.Item()
			key := item.KeyCopy(nil)
			if len(key) < len(pfx)+10 || key[len(key)-9] != sep {
				rep.add(0, ProblemUndecodable, "key %q is not an audit record key", key)
				continue
			}
			seq := binary.BigEndian.Uint64(key[len(key)-8:])
			e := &verifyEntry{keyUser: string(key[len(pfx) : len(key)-9])}
			err := item.Value(func(b []byte) error {
				e.hash = chainHash(b)
				var r AuditRecord
				if err := strictjson.Unmarshal(b, &r, maxRecordBytes); err != nil {
					e.undecodable = true
					rep.add(seq, ProblemUndecodable, "record #%d of %s cannot be read: %v", seq, e.keyUser, err)
					return nil
				}
				e.prev, e.seq, e.user, e.kind, e.outcome = r.Prev, r.Seq, r.User, r.Kind, r.Outcome
				return nil
			})
			if err != nil {
				return fmt.Errorf("read %q: %w", key, err)
			}
			if old, dup := entries[seq]; dup {
				rep.add(seq, ProblemDuplicate, "number %d is held by records of both %s and %s", seq, old.keyUser, e.keyUser)
				continue
			}
			entries[seq] = e
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("verify audit: %w", err)
	}
	head := rep.Head
	start := max(head.Start, 1)
	byHash := make(map[string]uint64, len(entries))
	for n, e := range entries {
		byHash[e.hash] = n
		if n < start {
			rep.Legacy++
		} else if n > head.Seq {
			rep.add(n, ProblemAfterHead, "record #%d of %s is beyond the chain head #%d: written behind the chain's back, or the head was rolled back", n, e.keyUser, head.Seq)
		}
	}
	for n := start; n <= head.Seq; n++ {
		e, ok := entries[n]
		if !ok {
			rep.add(n, ProblemMissing, "record #%d is missing (deleted: the chain has no gaps)", n)
			continue
		}
		rep.Checked++
		if e.undecodable {
			continue
		}
		if e.seq != n || e.user != e.keyUser {
			rep.add(n, ProblemReordered, "the record stored as #%d of %s says it is #%d of %s", n, e.keyUser, e.seq, e.user)
		}
		if e.kind == KindChain && e.outcome == ChainHeadRebuilt {
			rep.add(n, ProblemHead, "record #%d: the chain head was missing at an open and was rebuilt from the records then present", n)
		}
		if opts.NoLinks {
			continue
		}
		switch p, ok := entries[n-1]; {
		case n == start:
			if e.prev != "" {
				rep.add(n, ProblemAltered, "record #%d starts the chain but links to %.12s…", n, e.prev)
			}
		case !ok:
			// Reported as missing already.
		case e.prev != p.hash:
			if x, moved := byHash[e.prev]; moved {
				rep.add(n, ProblemReordered, "broken link #%d→#%d: record #%d was written after #%d", n-1, n, n, x)
			} else {
				rep.add(n, ProblemAltered, "broken link #%d→#%d: record #%d was altered (or the link in #%d)", n-1, n, n-1, n)
			}
		}
	}
	if !opts.NoLinks && head.Seq >= start {
		if e, ok := entries[head.Seq]; ok && e.hash != head.Hash {
			rep.add(head.Seq, ProblemAltered, "record #%d is not the one the chain head committed to: altered, or the head was", head.Seq)
		}
	}
	if a := opts.Anchor; a != nil && !opts.NoLinks {
		switch e, ok := entries[a.Seq]; {
		case a.Seq > head.Seq:
			rep.add(a.Seq, ProblemAnchor, "the exported head #%d is beyond the current head #%d: records were removed and the head rolled back", a.Seq, head.Seq)
		case !ok:
			rep.add(a.Seq, ProblemAnchor, "the exported head #%d has no record any more", a.Seq)
		case e.hash != a.Hash:
			rep.add(a.Seq, ProblemAnchor, "record #%d is not the one exported as head: the log no longer extends it", a.Seq)
		}
	}
	slices.SortStableFunc(rep.Problems, func(a, b Problem) int { return cmpUint(a.Seq, b.Seq) })
	return rep, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ParseHead reads an exported chain head strictly.
func ParseHead(b []byte) (ChainHead, error) {
	var h ChainHead
	if err := strictjson.Unmarshal(b, &h, 4096); err != nil {
		return ChainHead{}, fmt.Errorf("chain head: %w", err)
	}
	if _, err := hex.DecodeString(h.Hash); h.Seq == 0 || len(h.Hash) != 64 || err != nil {
		return ChainHead{}, fmt.Errorf("chain head: want a seq above 0 and a 64-digit hex hash")
	}
	return h, nil
}
