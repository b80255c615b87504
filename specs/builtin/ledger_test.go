package builtin

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/isolategpt/isolategpt/specs/jsonlog"
	"github.com/isolategpt/isolategpt/specs/jsonlog/jsonlogtest"
)

// A crash mid-write leaves a torn last line: the app moves it aside when
// it starts, and the next booking is a whole line of its own.
func TestLedgerTornTailIsMovedAside(t *testing.T) {
	for _, id := range slices.Sorted(maps.Keys(bookingFunction)) {
		t.Run(id, func(t *testing.T) {
			dir := t.TempDir()
			fn := bookingFunction[id]
			call(t, start(t, id, dir), fn, sampleArgs[fn])
			p := filepath.Join(dir, ledgerFile[id])
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			torn := `{"reference":"XX-12345678","na`
			if _, err := f.WriteString(torn); err != nil {
				t.Fatal(err)
			}
			f.Close()
			call(t, start(t, id, dir), fn, sampleArgs[fn])
			if recs := readLedger(t, p); len(recs) != 2 {
				t.Errorf("%d records after the repair, want 2", len(recs))
			}
			if kept, err := os.ReadFile(p + jsonlog.TornSuffix); err != nil || string(kept) != torn+"\n" {
				t.Errorf("torn record kept as %q, %v", kept, err)
			}
		})
	}
}

// A damaged line in the middle is not a torn tail: the app refuses to
// start, naming the file and the line, instead of renumbering bookings.
func TestLedgerDamagedLineStopsTheApp(t *testing.T) {
	for name, content := range map[string]string{
		"not JSON":      "{\"a\":1}\nxx\n{\"a\":2}\n",
		"duplicate key": "{\"a\":1,\"a\":2}\n",
		"not an object": "null\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "bookings.jsonl"), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			f, _ := Lookup("metro_hail")
			_, err := f(dir)
			if !errors.Is(err, jsonlog.ErrDamaged) || !strings.Contains(err.Error(), "bookings.jsonl: line") {
				t.Fatalf("start on a damaged ledger: %v", err)
			}
		})
	}
}

// A booking whose line cannot be written (a full disk) is not reported
// booked, leaves no partial line, and its number is used by the next one.
func TestBookingThatCannotBeWrittenIsNotBooked(t *testing.T) {
	dir := t.TempDir()
	fn := bookingFunction["travel_mate"]
	app := start(t, "travel_mate", dir)
	call(t, app, fn, sampleArgs[fn])
	p := filepath.Join(dir, "bookings.jsonl")
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(sampleArgs[fn])
	var out json.RawMessage
	jsonlogtest.WithFileSizeLimit(t, uint64(st.Size())+40, func() {
		out, err = app.Call(t.Context(), fn, raw)
	})
	if err == nil || !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("booking on a full disk = %s, %v; want the write error", out, err)
	}
	if after, _ := os.Stat(p); after.Size() != st.Size() {
		t.Errorf("a failed booking left %d bytes behind", after.Size()-st.Size())
	}
	second := bookingRef(call(t, app, fn, sampleArgs[fn]))
	if recs := readLedger(t, p); len(recs) != 2 {
		t.Errorf("%d records, want 2", len(recs))
	}
	// The same two bookings in a fresh folder: the failed one took no number.
	fresh := start(t, "travel_mate", t.TempDir())
	call(t, fresh, fn, sampleArgs[fn])
	if want := bookingRef(call(t, fresh, fn, sampleArgs[fn])); second != want {
		t.Errorf("booking after a failed one is %s, want %s (number 2)", second, want)
	}
}
