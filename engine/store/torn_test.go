package store

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// entryEnds lists where each good entry of a log ends, from the header on.
func entryEnds(t testing.TB, path string) []int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	if _, err := r.Discard(logHeaderSize); err != nil {
		t.Fatal(err)
	}
	var ends []int64
	off := int64(logHeaderSize)
	for {
		n, ok := readEntry(r, 1<<20+64)
		if !ok {
			return ends
		}
		off += n
		ends = append(ends, off)
	}
}

// TestTornCopyIsACrash: a kill in the middle of one entry's copy leaves a
// zero header with body bytes after it (Go's memmove stores a large
// copy's head last). A crashed folder with such a tail opens whole; the
// same bytes after a clean close, or data beyond the longest entry, are
// damage.
func TestTornCopyIsACrash(t *testing.T) {
	dir := crashImage(t)
	mems := filesWith(t, dir, ".mem")
	p := mems[len(mems)-1]
	ends := entryEnds(t, p)
	end := ends[len(ends)-1]
	body := make([]byte, 381)
	for i := range body {
		body[i] = byte(i%251 + 1)
	}
	overwrite(t, p, end+32, body)
	before := folderSums(t, dir)
	s, err := Open(dir, Options{ReadOnly: true, MinFree: -1})
	if err != nil {
		t.Fatalf("a crashed folder with a torn copy at its log's end: %v", err)
	}
	if n := countAudit(t, s); n != faultRecords {
		t.Errorf("%d records, want %d", n, faultRecords)
	}
	s.Close()
	if after := folderSums(t, dir); !mapsEqual(before, after) {
		t.Fatal("a read-only open changed the folder")
	}
	if err := checkLog(p, 1<<20+64, false); err == nil {
		t.Error("the same tail in a cleanly closed log passed the check")
	}
	if err := checkLog(p, 1<<20+64, true); err != nil {
		t.Errorf("checkLog of the torn copy: %v", err)
	}
	if st, _ := os.Stat(p); st.Size() > end+maxEntry(1<<20+64)+8 {
		overwrite(t, p, end+maxEntry(1<<20+64)+4, []byte{1})
		if err := checkLog(p, 1<<20+64, true); err == nil {
			t.Error("data past the longest entry passed as a torn copy")
		}
	}
}

// TestZeroedEntryIsFoundByTheAnchor: an entry's header zeroed in the
// middle of a crashed log has the shape of a torn copy, so the log check
// lets it by, and Badger would drop every record after it; the anchor
// finds the loss. With the anchor check off the store opens short.
func TestZeroedEntryIsFoundByTheAnchor(t *testing.T) {
	dir := crashImage(t)
	mems := filesWith(t, dir, ".mem")
	p := mems[len(mems)-1]
	ends := entryEnds(t, p)
	end := ends[len(ends)-1]
	// An entry about 64 KiB before the end: well within the longest entry.
	var at int64 = -1
	for _, e := range ends {
		if end-e > 64<<10 {
			at = e
		}
	}
	if at < 0 {
		t.Fatalf("log %s holds too little (%d bytes)", p, end)
	}
	overwrite(t, p, at, make([]byte, 32))
	if err := checkLog(p, 1<<20+64, true); err != nil {
		t.Fatalf("the zeroed entry is not taken for a torn copy (this test then shows nothing): %v", err)
	}
	before := folderSums(t, dir)
	for _, ro := range []bool{true, false} {
		s, err := Open(dir, Options{ReadOnly: ro, MinFree: -1})
		var d *DamageError
		if !errors.As(err, &d) {
			if s != nil {
				s.Close()
			}
			t.Fatalf("read-only=%v: %v, want a DamageError", ro, err)
		}
	}
	if after := folderSums(t, dir); !mapsEqual(before, after) {
		t.Fatal("a refused open changed the folder")
	}
	anchorChecks = false
	defer func() { anchorChecks = true }()
	s, err := Open(dir, Options{ReadOnly: true, MinFree: -1})
	if err != nil {
		t.Fatalf("with the anchor check off: %v", err)
	}
	defer s.Close()
	if n := countAudit(t, s); n >= faultRecords {
		t.Fatalf("with the anchor check off the store holds %d of %d records: the zeroed entry lost nothing", n, faultRecords)
	} else {
		t.Logf("anchor check off: opened silently with %d of %d records", n, faultRecords)
	}
}

// TestEmptyLogIsACrashLeftover: a kill between Badger creating a
// write-ahead log and sizing it leaves an empty .mem. A read opens the
// store whole from a private copy (Badger cannot open such a log
// read-only: it would size it), changing nothing; a write opens it too.
func TestEmptyLogIsACrashLeftover(t *testing.T) {
	dir := crashImage(t)
	mems := filesWith(t, dir, ".mem")
	last := filepath.Base(mems[len(mems)-1])
	fid, err := strconv.Atoi(strings.TrimSuffix(last, ".mem"))
	if err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, fmt.Sprintf("%05d.mem", fid+1))
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, m := range mems {
		// Only the empty log is left to replay, as when the kill came
		// right after a memtable was flushed and the next one created.
		_ = m
	}
	before := folderSums(t, dir)
	s, err := Open(dir, Options{ReadOnly: true, MinFree: -1})
	if err != nil {
		t.Fatalf("read-only open with an empty log a crash left: %v", err)
	}
	if n := countAudit(t, s); n != faultRecords {
		t.Errorf("read-only: %d records, want %d", n, faultRecords)
	}
	s.Close()
	if after := folderSums(t, dir); !mapsEqual(before, after) {
		t.Fatal("a read-only open changed the folder")
	}
	s = openT(t, dir)
	if n := countAudit(t, s); n != faultRecords {
		t.Errorf("read-write: %d records, want %d", n, faultRecords)
	}
}

// TestEmptyValueLogIsACrashLeftover: a kill while a read-write open
// created the next value log leaves it empty beside a cleanly closed
// store. A read opens the store whole from a private copy, changing
// nothing; a write opens it too.
func TestEmptyValueLogIsACrashLeftover(t *testing.T) {
	dir := buildStore(t)
	vlogs := filesWith(t, dir, ".vlog")
	last := filepath.Base(vlogs[len(vlogs)-1])
	fid, err := strconv.Atoi(strings.TrimSuffix(last, ".vlog"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%06d.vlog", fid+1)), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	before := folderSums(t, dir)
	s, err := Open(dir, Options{ReadOnly: true, MinFree: -1})
	if err != nil {
		t.Fatalf("read-only open with an empty value log a crash left: %v", err)
	}
	n := countAudit(t, s)
	s.Close()
	if after := folderSums(t, dir); !mapsEqual(before, after) {
		t.Fatal("a read-only open changed the folder")
	}
	s = openT(t, dir)
	if m := countAudit(t, s); m != n || n == 0 {
		t.Errorf("read-write: %d records, read-only %d", m, n)
	}
}
