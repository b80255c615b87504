package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// l0CrashImage is a folder as a kill -9 leaves it with many level-0
// tables (more than Badger lets stand before it compacts) and a
// write-ahead log: a Badger that opens it read-write compacts at once.
func l0CrashImage(t testing.TB) string {
	t.Helper()
	live := filepath.Join(t.TempDir(), "live")
	// Small memtables: a table per MiB (what matters is their number).
	db, err := badger.Open(badger.DefaultOptions(live).WithLogger(nil).
		WithNumCompactors(0).WithMemTableSize(1 << 20).WithValueThreshold(100 << 10).WithValueLogFileSize(valueLogFileSize))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v := bytes.Repeat([]byte("t"), 64<<10)
	for i := 0; len(db.Tables()) < 7; i++ {
		if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(fmt.Sprintf("k%06d", i)), v) }); err != nil {
			t.Fatal(err)
		}
	}
	// Let the flushes in flight finish (nothing compacts): each memtable
	// waiting for its flush keeps its write-ahead log.
	for i := 0; len(filesWith(t, live, ".mem")) > 1; i++ {
		if i > 600 {
			t.Fatal("flushes did not finish")
		}
		time.Sleep(50 * time.Millisecond)
	}
	img := filepath.Join(t.TempDir(), "store")
	copyDir(t, live, img)
	if len(filesWith(t, img, ".sst")) < 6 {
		t.Fatalf("only %d tables", len(filesWith(t, img, ".sst")))
	}
	return img
}

// TestShadowNeverEmptiesTables: reading a crashed folder replays its logs
// in a private copy whose tables are hard links. With compaction on in
// the copy (the defence off), Badger compacts there and truncates the
// tables it replaced — through the links, the store's own tables become
// empty ("000014.sst is damaged: it is empty" at the next open).
func TestShadowNeverEmptiesTables(t *testing.T) {
	for _, on := range []bool{true, false} {
		dir := l0CrashImage(t)
		before := folderSums(t, dir)
		shadowNoCompaction = on
		s, err := Open(dir, Options{ReadOnly: true, MinFree: -1})
		if err == nil {
			if err = s.view(func(txn *badger.Txn) error { _, err := txn.Get([]byte("k000009")); return err }); err != nil {
				t.Fatal(err)
			}
			// Give a compaction, if the copy runs one, time to finish.
			for i := 0; i < 30 && mapsEqual(before, folderSums(t, dir)); i++ {
				time.Sleep(100 * time.Millisecond)
			}
			s.Close()
		}
		shadowNoCompaction = true
		if err != nil {
			t.Fatalf("compaction off=%v: %v", on, err)
		}
		changed := !mapsEqual(before, folderSums(t, dir))
		if on && changed {
			t.Fatal("a read changed the folder")
		}
		if !on {
			if !changed {
				t.Fatal("with compaction on in the private copy, the folder is unchanged: the test shows nothing")
			}
			_, err := Open(dir, Options{ReadOnly: true, MinFree: -1})
			t.Logf("defence off: a read emptied tables through the links; the next open: %v", err)
		}
	}
}

// TestCrashLeftoverTables: an unrecorded table that is empty or cut short
// (Badger was writing it when the process died) does not make the folder
// unusable, even with no write-ahead log beside it: a read ignores it and
// changes nothing, a read-write open moves it aside. A whole unrecorded
// table with no crash to explain it stays damage.
func TestCrashLeftoverTables(t *testing.T) {
	dir := twoTableStore(t)
	tables := filesWith(t, dir, ".sst")
	half, err := os.ReadFile(tables[0])
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "000998.sst"), nil, 0o600)
	os.WriteFile(filepath.Join(dir, "000999.sst"), half[:len(half)/2], 0o600)
	before := folderSums(t, dir)
	s, err := Open(dir, Options{ReadOnly: true, MinFree: -1})
	if err != nil {
		t.Fatalf("read-only: %v", err)
	}
	if n := countAudit(t, s); n != 2*smallRecords {
		t.Errorf("read-only: %d records", n)
	}
	s.Close()
	if !mapsEqual(before, folderSums(t, dir)) {
		t.Fatal("a read changed the folder")
	}
	leftoverChecks = false
	_, err = Open(dir, Options{ReadOnly: true, MinFree: -1})
	leftoverChecks = true
	var d *DamageError
	if !errors.As(err, &d) {
		t.Fatalf("with the leftover test off: %v, want the folder refused (the fault)", err)
	}
	t.Logf("leftover test off: %v", d.short())
	s = openT(t, dir)
	if n := countAudit(t, s); n != 2*smallRecords {
		t.Errorf("read-write: %d records", n)
	}
	s.Close()
	for _, n := range []string{"000998.sst", "000999.sst"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			t.Errorf("%s still in the folder", n)
		}
	}
}

// TestCopySparse: a private copy of a log has the log's bytes, and its
// zero blocks are holes (a crashed store's logs are mostly zeros).
func TestCopySparse(t *testing.T) {
	src := filepath.Join(t.TempDir(), "00001.mem")
	b := make([]byte, 4<<20)
	copy(b[100:], "head")
	copy(b[len(b)-3:], "end")
	os.WriteFile(src, b, 0o600)
	dst := filepath.Join(t.TempDir(), "copy")
	if err := copyFile(src, dst); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst)
	if !bytes.Equal(got, b) {
		t.Fatal("the copy differs")
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dst, &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 >= int64(len(b)) {
		t.Logf("the copy takes %d bytes of %d: this file system keeps no holes", st.Blocks*512, len(b))
	}
}
