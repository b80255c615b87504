package jsonlog

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/isolategpt/isolategpt/specs/jsonlog/jsonlogtest"
	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// strict is the decoder the apps use: one JSON value per line.
func strict(line []byte) error {
	_, err := strictjson.Value(line, 1<<20)
	return err
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(string(data), "\n")
}

func TestAppendAndReopen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "l.jsonl")
	l, err := Open(p, Options{}, strict)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := l.Append(fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	var got []string
	l, err = Open(p, Options{}, func(b []byte) error { got = append(got, string(b)); return strict(b) })
	if err != nil {
		t.Fatal(err)
	}
	if l.Len() != 3 || strings.Join(got, ",") != `{"n":0},{"n":1},{"n":2}` {
		t.Fatalf("reopened: %d records %v", l.Len(), got)
	}
	if err := l.Append([]byte("a\nb")); err == nil {
		t.Error("a record with a newline was appended")
	}
}

// A crash in the middle of a write leaves a torn last line: the next Open
// moves it aside, logs it, and the next record is whole.
func TestTornTailIsMovedAside(t *testing.T) {
	for _, repair := range []bool{true, false} {
		t.Run(fmt.Sprintf("repair=%v", repair), func(t *testing.T) {
			repairTorn = repair
			t.Cleanup(func() { repairTorn = true })
			p := filepath.Join(t.TempDir(), "bookings.jsonl")
			torn := `{"booking_id":"MH-1","fa`
			if err := os.WriteFile(p, []byte(`{"booking_id":"MH-0"}`+"\n"+torn), 0o600); err != nil {
				t.Fatal(err)
			}
			var logged bytes.Buffer
			l, err := Open(p, Options{Logger: slog.New(slog.NewTextHandler(&logged, nil))}, strict)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Append([]byte(`{"booking_id":"MH-2"}`)); err != nil {
				t.Fatal(err)
			}
			l.Close()
			_, err = Open(p, Options{}, strict)
			if !repair {
				// Without the repair the next booking is glued to the torn
				// bytes: the record reported written cannot be read back.
				if !errors.Is(err, ErrDamaged) {
					t.Fatalf("with the repair off, reopening gave %v; want the damage the repair prevents", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("reopen after repair: %v", err)
			}
			if got := readLines(t, p); len(got) != 3 || got[1] != `{"booking_id":"MH-2"}`+"\n" {
				t.Errorf("log after repair and append: %q", got)
			}
			kept, err := os.ReadFile(p + TornSuffix)
			if err != nil || string(kept) != torn+"\n" {
				t.Errorf("torn bytes kept as %q, %v", kept, err)
			}
			if !strings.Contains(logged.String(), "torn record moved aside") || !strings.Contains(logged.String(), p) {
				t.Errorf("repair not logged: %q", logged.String())
			}
		})
	}
}

// A damaged whole line is not a torn tail: the file is refused, untouched,
// with the line's number.
func TestDamagedLineIsRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "l.jsonl")
	content := "{\"a\":1}\n{\"a\":1,\"a\":2}\n{\"b\":2}\n{\"c\""
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(p, Options{}, strict)
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "line 2") || !errors.Is(err, strictjson.ErrDuplicateKey) {
		t.Fatalf("Open = %v; want line 2 refused as a duplicate key", err)
	}
	if got, _ := os.ReadFile(p); string(got) != content {
		t.Errorf("a refused file was changed: %q", got)
	}
	if _, err := os.Stat(p + TornSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused file had its tail moved: %v", err)
	}
}

// A write that fails half-way (a full disk: here a file size limit, so
// the write is really short) is cut off again: the file still ends on a
// whole line and the next append after space returns is whole.
func TestFailedAppendIsCutOff(t *testing.T) {
	p := filepath.Join(t.TempDir(), "l.jsonl")
	l, err := Open(p, Options{}, strict)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	first := `{"n":"` + strings.Repeat("x", 90) + `"}`
	if err := l.Append([]byte(first)); err != nil {
		t.Fatal(err)
	}
	size := l.Size()
	jsonlogtest.WithFileSizeLimit(t, uint64(size)+20, func() {
		err = l.Append([]byte(`{"n":"` + strings.Repeat("y", 60) + `"}`))
	})
	if !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("append past the limit: %v, want EFBIG", err)
	}
	if got, _ := os.ReadFile(p); string(got) != first+"\n" {
		t.Fatalf("after a failed append the file is %q", got)
	}
	if l.Len() != 1 || l.Size() != size {
		t.Errorf("counted %d records, %d bytes after a failed append", l.Len(), l.Size())
	}
	if err := l.Append([]byte(`{"n":2}`)); err != nil {
		t.Fatal(err)
	}
	if got := readLines(t, p); len(got) != 3 || got[1] != `{"n":2}`+"\n" {
		t.Errorf("next append: %q", got)
	}
}

func TestReset(t *testing.T) {
	p := filepath.Join(t.TempDir(), "l.jsonl")
	l, err := Open(p, Options{}, strict)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 2 {
		if err := l.Append([]byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append([]byte(`[]`)); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "[]\n" || l.Len() != 1 {
		t.Errorf("after reset and append: %q, %d records", got, l.Len())
	}
}

func TestLimits(t *testing.T) {
	p := filepath.Join(t.TempDir(), "l.jsonl")
	if err := os.WriteFile(p, bytes.Repeat([]byte("{}\n"), 100), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p, Options{MaxBytes: 200}, strict); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Open of an over-long log = %v", err)
	}
	l, err := Open(p, Options{MaxBytes: 302}, strict)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Append([]byte(`{"a":1}`)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Append past the limit = %v", err)
	}
}

// FuzzOpen opens arbitrary bytes as a log: either it is refused, or every
// record read is valid JSON, the file then ends on a whole line, and an
// append reads back.
func FuzzOpen(f *testing.F) {
	f.Add([]byte("{}\n[1]\n"))
	f.Add([]byte("{}\n{\"a\":"))
	f.Add([]byte("{\"a\":1,\"a\":1}\n"))
	f.Add([]byte("\n\n"))
	f.Add([]byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "l.jsonl")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := Open(p, Options{MaxBytes: 1 << 16}, strict)
		if err != nil {
			return
		}
		n := l.Len()
		if err := l.Append([]byte(`{"last":true}`)); err != nil {
			t.Fatal(err)
		}
		l.Close()
		var last string
		l, err = Open(p, Options{MaxBytes: 1 << 17}, func(b []byte) error { last = string(b); return strict(b) })
		if err != nil {
			t.Fatalf("reopen after an append: %v", err)
		}
		if l.Len() != n+1 || last != `{"last":true}` {
			t.Fatalf("reopened %d records (want %d), last %q", l.Len(), n+1, last)
		}
	})
}

// A link planted in place of the log is never followed, to read or to
// append: the records of another file are not the app's.
func TestLinkIsNotFollowed(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "l.jsonl")
	if err := os.Symlink(other, p); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p, Options{}, strict); !errors.Is(err, syscall.ELOOP) {
		t.Fatalf("Open through a link = %v, want ELOOP", err)
	}
}
