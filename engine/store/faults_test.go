package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// faultRecords is how many audit records the fault tests write: enough
// for a memtable flush and a second table at Close.
const faultRecords = 12000

// bigKey holds a value above Badger's value threshold, so the value log
// holds data too.
var bigKey = []byte("manifest/zz-big")

// buildStore writes a store with tables, a value log entry, and returns
// its folder after a clean Close.
func buildStore(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	s, err := Open(dir, Options{MinFree: -1})
	if err != nil {
		t.Fatal(err)
	}
	fillStore(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func fillStore(t testing.TB, s *Store) {
	t.Helper()
	detail := []byte(fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", 700)))
	for i := range faultRecords {
		if _, err := s.Audit(AuditRecord{User: "alice", Kind: "step", Outcome: "ok", Detail: detail, QueryID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	big := bytes.Repeat([]byte("v"), 3<<20)
	if err := s.update(func(txn *badger.Txn) error { return txn.Set(bigKey, big) }); err != nil {
		t.Fatal(err)
	}
}

// countAudit counts alice's records.
func countAudit(t testing.TB, s *Store) int {
	t.Helper()
	n := 0
	if err := s.AuditLog("alice", func(AuditRecord) error { n++; return nil }); err != nil {
		t.Fatalf("AuditLog: %v", err)
	}
	return n
}

// folderSums is every file of dir with its SHA-256.
func folderSums(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == "LOCK" {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		io.Copy(h, f)
		f.Close()
		out[e.Name()] = hex.EncodeToString(h.Sum(nil))
	}
	return out
}

func filesWith(t testing.TB, dir, ext string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*"+ext))
	slices.Sort(m)
	if len(m) == 0 {
		t.Fatalf("no %s file in %s", ext, dir)
	}
	return m
}

func overwrite(t testing.TB, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if off < 0 {
		st, _ := f.Stat()
		off = st.Size() / 2
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func truncateHalf(t testing.TB, path string) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, st.Size()/2); err != nil {
		t.Fatal(err)
	}
}

func garbage(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// storeFault damages a store folder and names the file it damaged.
type storeFault struct {
	name   string
	damage func(t testing.TB, dir string) string
}

var storeFaults = []storeFault{
	{"manifest removed", func(t testing.TB, dir string) string {
		os.Remove(filepath.Join(dir, "MANIFEST"))
		return "MANIFEST"
	}},
	{"manifest emptied", func(t testing.TB, dir string) string {
		os.Truncate(filepath.Join(dir, "MANIFEST"), 0)
		return "MANIFEST"
	}},
	{"manifest truncated to half", func(t testing.TB, dir string) string {
		truncateHalf(t, filepath.Join(dir, "MANIFEST"))
		return "MANIFEST"
	}},
	{"manifest truncated to its header", func(t testing.TB, dir string) string {
		os.Truncate(filepath.Join(dir, "MANIFEST"), 8)
		return ".sst"
	}},
	{"manifest garbage", func(t testing.TB, dir string) string {
		overwrite(t, filepath.Join(dir, "MANIFEST"), 8, garbage(16))
		return "MANIFEST"
	}},
	{"sst zeroed 4KiB", func(t testing.TB, dir string) string {
		p := filesWith(t, dir, ".sst")[0]
		overwrite(t, p, -1, make([]byte, 4096))
		return filepath.Base(p)
	}},
	{"sst garbage 4KiB", func(t testing.TB, dir string) string {
		p := filesWith(t, dir, ".sst")[0]
		overwrite(t, p, -1, garbage(4096))
		return filepath.Base(p)
	}},
	{"sst truncated to half", func(t testing.TB, dir string) string {
		p := filesWith(t, dir, ".sst")[0]
		truncateHalf(t, p)
		return filepath.Base(p)
	}},
	{"sst removed", func(t testing.TB, dir string) string {
		p := filesWith(t, dir, ".sst")[0]
		os.Remove(p)
		return filepath.Base(p)
	}},
	{"keyregistry removed", func(t testing.TB, dir string) string {
		os.Remove(filepath.Join(dir, "KEYREGISTRY"))
		return "KEYREGISTRY"
	}},
	{"keyregistry garbage", func(t testing.TB, dir string) string {
		overwrite(t, filepath.Join(dir, "KEYREGISTRY"), 0, garbage(32))
		return "KEYREGISTRY"
	}},
	{"keyregistry truncated", func(t testing.TB, dir string) string {
		truncateHalf(t, filepath.Join(dir, "KEYREGISTRY"))
		return "KEYREGISTRY"
	}},
	{"vlog garbage 4KiB", func(t testing.TB, dir string) string {
		p := filesWith(t, dir, ".vlog")[0]
		overwrite(t, p, 1<<20, garbage(4096))
		return filepath.Base(p)
	}},
}

// TestDamageIsAnErrorNamingTheFile damages each store file in turn: Open,
// read-write and read-only, must return a DamageError naming the file and
// change nothing in the folder.
func TestDamageIsAnErrorNamingTheFile(t *testing.T) {
	clean := buildStore(t)
	for _, f := range storeFaults {
		t.Run(f.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "store")
			copyDir(t, clean, dir)
			file := f.damage(t, dir)
			before := folderSums(t, dir)
			for _, ro := range []bool{false, true} {
				s, err := Open(dir, Options{ReadOnly: ro, MinFree: -1})
				if err == nil {
					n := countAudit(t, s)
					s.Close()
					t.Fatalf("read-only=%v: Open succeeded on a damaged store (%d of %d records)", ro, n, faultRecords)
				}
				var d *DamageError
				if !errors.As(err, &d) || !errors.Is(err, ErrDamaged) {
					t.Fatalf("read-only=%v: error %v is not a DamageError", ro, err)
				}
				if !strings.Contains(d.File, file) {
					t.Errorf("read-only=%v: error names %q, want %q: %v", ro, d.File, file, err)
				}
				if !strings.Contains(err.Error(), "isolategpt store restore") {
					t.Errorf("error does not name the recovery command: %v", err)
				}
				if after := folderSums(t, dir); !mapsEqual(before, after) {
					t.Fatalf("read-only=%v: the folder changed:\nbefore %v\nafter  %v", ro, before, after)
				}
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == "LOCK" || e.IsDir() {
			continue
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCleanStoreOpensWhole is the baseline: the undamaged store opens,
// read-write and read-only, with every record, and a read-only open
// changes nothing.
func TestCleanStoreOpensWhole(t *testing.T) {
	dir := buildStore(t)
	before := folderSums(t, dir)
	s, err := Open(dir, Options{ReadOnly: true, MinFree: -1})
	if err != nil {
		t.Fatal(err)
	}
	if n := countAudit(t, s); n != faultRecords {
		t.Errorf("read-only: %d records, want %d", n, faultRecords)
	}
	if err := s.Writable(); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Writable on a read-only store: %v", err)
	}
	if _, err := s.Audit(AuditRecord{User: "alice", Kind: "step"}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Audit on a read-only store: %v", err)
	}
	s.Close()
	if after := folderSums(t, dir); !mapsEqual(before, after) {
		t.Fatalf("a read-only open changed the folder:\nbefore %v\nafter  %v", before, after)
	}
	s = openT(t, dir)
	if n := countAudit(t, s); n != faultRecords {
		t.Errorf("read-write: %d records, want %d", n, faultRecords)
	}
}

// crashImage copies a store while it is open, as a kill -9 leaves it.
func crashImage(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "live")
	s, err := Open(dir, Options{MinFree: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fillStore(t, s)
	img := filepath.Join(t.TempDir(), "store")
	copyDir(t, dir, img)
	return img
}

// TestCrashImageOpens: what a kill leaves (logs to replay) opens with
// every record, read-only from a private copy without touching the
// folder, and read-write.
func TestCrashImageOpens(t *testing.T) {
	dir := crashImage(t)
	if m, _ := filepath.Glob(filepath.Join(dir, "*.mem")); len(m) == 0 {
		t.Fatal("the crash image has no write-ahead log to replay")
	}
	before := folderSums(t, dir)
	s, err := Open(dir, Options{ReadOnly: true, MinFree: -1})
	if err != nil {
		t.Fatalf("read-only open of a crash image: %v", err)
	}
	if n := countAudit(t, s); n != faultRecords {
		t.Errorf("read-only: %d records, want %d", n, faultRecords)
	}
	s.Close()
	if after := folderSums(t, dir); !mapsEqual(before, after) {
		t.Fatalf("a read-only open changed the folder")
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".store-shadow-*")); len(m) > 0 {
		t.Errorf("private copies left behind: %v", m)
	}
	s = openT(t, dir)
	if n := countAudit(t, s); n != faultRecords {
		t.Errorf("read-write: %d records, want %d", n, faultRecords)
	}
}

// TestWALGarbageRefused: garbage in the middle of a write-ahead log a
// crash left is damage, not a torn tail to cut.
func TestWALGarbageRefused(t *testing.T) {
	dir := crashImage(t)
	mems := filesWith(t, dir, ".mem")
	// The log holds records after 64 KiB.
	p := mems[len(mems)-1]
	overwrite(t, p, 64<<10, garbage(4096))
	before := folderSums(t, dir)
	for _, ro := range []bool{false, true} {
		_, err := Open(dir, Options{ReadOnly: ro, MinFree: -1})
		var d *DamageError
		if !errors.As(err, &d) || d.File != filepath.Base(p) {
			t.Fatalf("read-only=%v: got %v, want a DamageError naming %s", ro, err, filepath.Base(p))
		}
	}
	if after := folderSums(t, dir); !mapsEqual(before, after) {
		t.Fatal("the folder changed")
	}
}

// TestDamageCheckOff shows what the checks stop: Badger itself, opened
// the way the store opened it before, takes a store with a truncated
// MANIFEST as a smaller one and deletes the tables it lost track of.
func TestDamageCheckOff(t *testing.T) {
	dir := buildStore(t)
	os.Truncate(filepath.Join(dir, "MANIFEST"), 8)
	tables := len(filesWith(t, dir, ".sst"))
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatalf("plain Badger refused it (the check would be redundant): %v", err)
	}
	n := 0
	db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	db.Close()
	left, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if n >= faultRecords || len(left) >= tables {
		t.Fatalf("plain Badger kept the data (%d keys, %d of %d tables): the fault is not one", n, len(left), tables)
	}
	t.Logf("without the checks: %d keys of %d+ readable, %d of %d tables deleted, no error", n, faultRecords, tables-len(left), tables)
}
