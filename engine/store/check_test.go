package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestCheckFindsEachDamage(t *testing.T) {
	clean := buildStore(t)
	r, err := Check(clean, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Damaged) > 0 || r.Keys < faultRecords || r.Tables == 0 {
		t.Fatalf("clean store: %+v", r)
	}
	for _, f := range storeFaults {
		t.Run(f.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "store")
			copyDir(t, clean, dir)
			file := f.damage(t, dir)
			before := folderSums(t, dir)
			r, err := Check(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Damaged) == 0 {
				t.Fatalf("check found nothing: %+v", r)
			}
			if !strings.Contains(strings.Join(r.Damaged, "\n"), file) {
				t.Errorf("check does not name %s: %v", file, r.Damaged)
			}
			if after := folderSums(t, dir); !mapsEqual(before, after) {
				t.Fatal("check changed the folder")
			}
		})
	}
}

func TestBackupRestore(t *testing.T) {
	src := buildStore(t)
	s, err := Open(src, Options{ReadOnly: true, MinFree: -1})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "backup.bin")
	if _, err := s.Backup(file); err != nil {
		t.Fatal(err)
	}
	s.Close()

	dst := filepath.Join(t.TempDir(), "data", "store")
	if _, err := Restore(file, dst, false, nil); err != nil {
		t.Fatal(err)
	}
	r := openT(t, dst)
	if n := countAudit(t, r); n != faultRecords {
		t.Fatalf("restored %d records, want %d", n, faultRecords)
	}
	// The sequences go on past the restored records.
	rec, err := r.Audit(AuditRecord{User: "alice", Kind: "step"})
	if err != nil || rec.Seq <= faultRecords {
		t.Fatalf("audit after restore: seq %d, %v", rec.Seq, err)
	}
	r.Close()

	// A store in the way: refused without --replace, set aside with it.
	if _, err := Restore(file, dst, false, nil); err == nil {
		t.Fatal("restore over a store without replace succeeded")
	}
	res, err := Restore(file, dst, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Aside == "" {
		t.Fatal("the old store was not kept")
	}
	old := openT(t, res.Aside)
	if n := countAudit(t, old); n != faultRecords+1 {
		t.Errorf("the store set aside has %d records, want %d", n, faultRecords+1)
	}

	// A truncated or altered backup is refused before anything is loaded.
	b, _ := os.ReadFile(file)
	for name, bad := range map[string][]byte{
		"truncated": b[:len(b)/2],
		"altered":   append(append([]byte{}, b[:len(b)/2]...), append([]byte{b[len(b)/2] ^ 1}, b[len(b)/2+1:]...)...),
	} {
		p := filepath.Join(t.TempDir(), name)
		os.WriteFile(p, bad, 0o600)
		into := filepath.Join(t.TempDir(), "store")
		if _, err := Restore(p, into, false, nil); !errors.Is(err, ErrBadBackup) {
			t.Errorf("%s backup: %v, want ErrBadBackup", name, err)
		}
		if _, err := os.Stat(into); err == nil {
			t.Errorf("%s backup: a store was created", name)
		}
	}
}

// fakeFree is a settable free-space reading.
type fakeFree struct{ free atomic.Uint64 }

func (f *fakeFree) read(string) (uint64, error) { return f.free.Load(), nil }

func newFakeFree(n uint64) *fakeFree {
	f := &fakeFree{}
	f.free.Store(n)
	return f
}

func TestDiskGuardRefusesAndRecovers(t *testing.T) {
	ff := newFakeFree(1 << 30)
	dir := t.TempDir()
	s, err := Open(dir, Options{FreeSpace: ff.read, MinFree: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Audit(AuditRecord{User: "alice", Kind: "step"}); err != nil {
		t.Fatal(err)
	}
	ff.free.Store(10 << 20)
	if err := s.Writable(); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Writable on a full disk: %v", err)
	}
	if _, err := s.Audit(AuditRecord{User: "alice", Kind: "step"}); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Audit on a full disk: %v", err)
	}
	if err := s.AppendTurn("alice", Turn{Query: "q"}); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("AppendTurn on a full disk: %v", err)
	}
	if err := s.PutGrant("alice", Grant{Key: "exec:a.b"}); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("PutGrant on a full disk: %v", err)
	}
	// Reads go on.
	if n := 0; s.AuditLog("alice", func(AuditRecord) error { n++; return nil }) != nil || n != 1 {
		t.Fatal("reads failed on a full disk")
	}
	ff.free.Store(1 << 30)
	if err := s.Writable(); err != nil {
		t.Fatalf("space back, still refused: %v", err)
	}
	if _, err := s.Audit(AuditRecord{User: "alice", Kind: "step"}); err != nil {
		t.Fatal(err)
	}
	// Opening on a full disk is refused too (it writes).
	s.Close()
	ff.free.Store(0)
	if _, err := Open(dir, Options{FreeSpace: ff.read}); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Open on a full disk: %v", err)
	}
}

// TestDiskGuardOff: with the guard off the same writes go through the
// fake full disk — the guard, not anything else, refused them.
func TestDiskGuardOff(t *testing.T) {
	ff := newFakeFree(0)
	s, err := Open(t.TempDir(), Options{FreeSpace: ff.read, MinFree: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Writable(); err != nil {
		t.Fatalf("guard off: %v", err)
	}
	if _, err := s.Audit(AuditRecord{User: "alice", Kind: "step"}); err != nil {
		t.Fatalf("guard off: %v", err)
	}
}
