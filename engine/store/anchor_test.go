package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// smallRecords is how many records the anchor tests write: all of them
// stay in the write-ahead log, as in a short run killed before a flush.
const smallRecords = 60

// smallCrashImage copies a store while it is open with n records, as a
// kill -9 leaves it: one write-ahead log, no table.
func smallCrashImage(t testing.TB, n int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "live")
	s, err := Open(dir, Options{MinFree: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range n {
		if _, err := s.Audit(AuditRecord{User: "alice", Kind: "step", Outcome: "ok", QueryID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(t.TempDir(), "store")
	copyDir(t, dir, img)
	return img
}

// cutLog cuts a write-ahead log a little before the end of its data, as
// a short write or a truncation would: the last records are gone.
func cutLog(t testing.TB, path string) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	last, err := lastNonZero(path, 0, st.Size())
	if err != nil || last < 4096 {
		t.Fatalf("log %s: data ends at %d (%v)", path, last, err)
	}
	if err := os.Truncate(path, last-600); err != nil {
		t.Fatal(err)
	}
}

// manifestRecordEnds is the offset where each MANIFEST record ends.
func manifestRecordEnds(t testing.TB, path string) []int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ends []int64
	for off := 8; off+8 <= len(b); {
		off += 8 + int(binary.BigEndian.Uint32(b[off:]))
		ends = append(ends, int64(off))
	}
	return ends
}

type anchorFault struct {
	name   string
	image  func(t testing.TB) string
	damage func(t testing.TB, dir string) string // the file the error must name
}

var anchorFaults = []anchorFault{
	{"write-ahead log removed after a crash", func(t testing.TB) string { return smallCrashImage(t, smallRecords) },
		func(t testing.TB, dir string) string {
			p := filesWith(t, dir, ".mem")[0]
			os.Remove(p)
			return filepath.Base(p)
		}},
	{"write-ahead log cut short after a crash", func(t testing.TB) string { return smallCrashImage(t, smallRecords) },
		func(t testing.TB, dir string) string {
			p := filesWith(t, dir, ".mem")[0]
			cutLog(t, p)
			return filepath.Base(p)
		}},
	{"MANIFEST cut on a record boundary, its last table gone", twoTableStore,
		func(t testing.TB, dir string) string {
			m := filepath.Join(dir, manifestName)
			before, err := readManifest(m)
			if err != nil {
				t.Fatal(err)
			}
			ends := manifestRecordEnds(t, m)
			os.Truncate(m, ends[len(ends)-2])
			after, err := readManifest(m)
			if err != nil {
				t.Fatal(err)
			}
			for id := range before.live {
				if !after.live[id] {
					os.Remove(filepath.Join(dir, tableName(id)))
				}
			}
			return manifestName
		}},
	{"Badger's files put back from an older copy", func(t testing.TB) string {
		dir := filepath.Join(t.TempDir(), "store")
		s := openT(t, dir)
		for i := range smallRecords {
			s.Audit(AuditRecord{User: "alice", Kind: "step", QueryID: fmt.Sprint(i)})
		}
		s.Close()
		copyDir(t, dir, dir+".old")
		s = openT(t, dir)
		s.Audit(AuditRecord{User: "alice", Kind: "step", QueryID: "later"})
		s.Close()
		return dir
	}, func(t testing.TB, dir string) string {
		old := dir + ".old"
		os.Rename(filepath.Join(dir, anchorName), filepath.Join(old, anchorName))
		os.RemoveAll(dir)
		os.Rename(old, dir)
		return manifestName
	}},
	{"newest value log removed after a crash", func(t testing.TB) string { return smallCrashImage(t, smallRecords) },
		func(t testing.TB, dir string) string {
			vlogs := filesWith(t, dir, ".vlog")
			p := vlogs[len(vlogs)-1]
			os.Remove(p)
			return filepath.Base(p)
		}},
	{"newest value log removed after a clean close", twoTableStore,
		func(t testing.TB, dir string) string {
			vlogs := filesWith(t, dir, ".vlog")
			p := vlogs[len(vlogs)-1]
			os.Remove(p)
			return filepath.Base(p)
		}},
	{"anchor removed from a store that had one", func(t testing.TB) string { return smallCrashImage(t, 5) },
		func(t testing.TB, dir string) string {
			os.Remove(filepath.Join(dir, anchorName))
			return anchorName
		}},
	{"anchor garbled", func(t testing.TB) string { return smallCrashImage(t, 5) },
		func(t testing.TB, dir string) string {
			overwrite(t, filepath.Join(dir, anchorName), 100, garbage(8))
			return anchorName
		}},
}

// twoTableStore is a store closed twice, a table written at each close.
func twoTableStore(t testing.TB) string {
	dir := filepath.Join(t.TempDir(), "store")
	for round := range 2 {
		s := openT(t, dir)
		for i := range smallRecords {
			s.Audit(AuditRecord{User: "alice", Kind: "step", QueryID: fmt.Sprint(round, i)})
		}
		s.Close()
	}
	return dir
}

// TestAnchorFindsLostData: data the anchor recorded and the store lost is
// a DamageError naming the file, for every kind of open and for Check,
// and nothing in the folder changes. With the check off, the same store
// opens short and says nothing: the fault is real.
func TestAnchorFindsLostData(t *testing.T) {
	for _, f := range anchorFaults {
		t.Run(f.name, func(t *testing.T) {
			dir := f.image(t)
			whole := countStore(t, dir)
			name := f.damage(t, dir)
			before := folderSums(t, dir)
			for _, ro := range []bool{true, false} {
				s, err := Open(dir, Options{ReadOnly: ro, MinFree: -1})
				var d *DamageError
				if !errors.As(err, &d) || !strings.Contains(d.File, name) {
					if s != nil {
						s.Close()
					}
					t.Fatalf("read-only=%v: %v, want a DamageError naming %s", ro, err, name)
				}
				if !strings.Contains(err.Error(), "store restore") {
					t.Errorf("no recovery command: %v", err)
				}
			}
			r, err := Check(dir, nil)
			if err != nil || len(r.Damaged) == 0 || !strings.Contains(r.Damaged[0], name) {
				t.Errorf("Check: %+v, %v, want damage naming %s", r, err, name)
			}
			if after := folderSums(t, dir); !mapsEqual(before, after) {
				t.Fatalf("a refused open changed the folder:\nbefore %v\nafter  %v", before, after)
			}
			if name == anchorName {
				return // without the anchor check there is nothing to miss
			}
			anchorChecks = false
			defer func() { anchorChecks = true }()
			if strings.HasSuffix(name, ".vlog") {
				// Small values are not in the value log: what goes unseen
				// with the check off is the missing file itself.
				s, err := Open(dir, Options{MinFree: -1})
				if err != nil {
					t.Fatalf("with the anchor check off: %v", err)
				}
				s.Close()
				t.Logf("anchor check off: %s missing, the store opened for writing without a word", name)
				return
			}
			s, err := Open(dir, Options{ReadOnly: true, MinFree: -1})
			if err != nil {
				t.Fatalf("with the anchor check off: %v", err)
			}
			n := countAudit(t, s)
			s.Close()
			if n >= whole {
				t.Fatalf("with the anchor check off the store still holds %d of %d records: the fault loses nothing", n, whole)
			}
			t.Logf("anchor check off: opened silently with %d of %d records", n, whole)
		})
	}
}

// countStore counts alice's records in a whole store, read-only.
func countStore(t testing.TB, dir string) int {
	t.Helper()
	s, err := Open(dir, Options{ReadOnly: true, MinFree: -1})
	if err != nil {
		t.Fatalf("the undamaged store: %v", err)
	}
	defer s.Close()
	return countAudit(t, s)
}

// TestAnchorLagIsNoDamage: an anchor behind the store (a crash between a
// commit and the anchor's write) is fine, and so is a store from before
// the anchor, which gets one at its first read-write open.
func TestAnchorLagIsNoDamage(t *testing.T) {
	dir := smallCrashImage(t, smallRecords)
	a, err := readAnchor(dir)
	if err != nil || a == nil || a.Committed.Seq == 0 {
		t.Fatalf("anchor of a store in use: %+v, %v", a, err)
	}
	lag := *a
	lag.Committed, lag.Synced = anchorMark{Gen: 3}, anchorMark{Gen: 2}
	if err := writeAnchorFile(dir, &lag); err != nil {
		t.Fatal(err)
	}
	if n := countStore(t, dir); n != smallRecords {
		t.Fatalf("lagging anchor: %d records", n)
	}

	// A store from before the anchor: no generation, no ANCHOR.
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(txn *badger.Txn) error { return txn.Delete(keyGeneration) })
	db.Close()
	os.Remove(filepath.Join(dir, anchorName))
	if n := countStore(t, dir); n != smallRecords {
		t.Fatalf("store from before the anchor, read-only: %d records", n)
	}
	if _, err := os.Stat(filepath.Join(dir, anchorName)); err == nil {
		t.Fatal("a read-only open created the anchor")
	}
	s := openT(t, dir)
	s.Close()
	a, err = readAnchor(dir)
	if err != nil || a == nil || a.Synced.Gen == 0 || a.Synced.Seq == 0 {
		t.Fatalf("after the first read-write open: anchor %+v, %v", a, err)
	}
	if n := countStore(t, dir); n != smallRecords {
		t.Fatalf("after: %d records", n)
	}
}

// TestRestoreWritesAnchor: a restored store has an anchor that matches it.
func TestRestoreWritesAnchor(t *testing.T) {
	src := smallCrashImage(t, smallRecords)
	s, err := Open(src, Options{ReadOnly: true, MinFree: -1})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "backup.bin")
	if _, err := s.Backup(file); err != nil {
		t.Fatal(err)
	}
	s.Close()
	dst := filepath.Join(t.TempDir(), "store")
	if _, err := Restore(file, dst, false, nil); err != nil {
		t.Fatal(err)
	}
	a, err := readAnchor(dst)
	if err != nil || a == nil || a.Synced.Gen == 0 {
		t.Fatalf("restored anchor: %+v, %v", a, err)
	}
	if n := countStore(t, dst); n != smallRecords {
		t.Fatalf("restored: %d records", n)
	}
}

func TestAnchorEncoding(t *testing.T) {
	a := &anchorState{Boot: "b", Committed: anchorMark{Gen: 9, Seq: 4, Hash: strings.Repeat("ab", 32), User: "alice"},
		Synced: anchorMark{Gen: 7, Seq: 3, Hash: strings.Repeat("cd", 32), User: SystemUser}, Files: []string{"00001.mem", "000001.vlog"}}
	b, err := decodeAnchor(a.encode())
	if err != nil || b.Committed != a.Committed || b.Synced != a.Synced || len(b.Files) != 2 || b.Boot != "b" {
		t.Fatalf("round trip: %+v, %v", b, err)
	}
	raw := a.encode()
	raw[70] ^= 1
	if _, err := decodeAnchor(raw); err == nil {
		t.Fatal("a flipped bit was accepted")
	}
}
