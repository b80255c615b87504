package builtin

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/isolategpt/isolategpt/specs/jsonlog"
	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// ledger is an append-only JSON-lines file of an app's bookings in its data
// folder. Its sequence number makes booking ids deterministic for a given
// history yet distinct across bookings and restarts. A booking is reported
// only once its line is synced; a torn last line left by a crash is moved
// aside when the app starts (jsonlog), and a damaged line stops the app
// from starting rather than renumbering the bookings after it.
type ledger struct {
	mu   sync.Mutex
	log  *jsonlog.Log
	path string
}

// maxLedgerBytes bounds a ledger file (the app's folder is bounded too).
const maxLedgerBytes = 32 << 20

func openLedger(dataDir, name string) (*ledger, error) {
	p := filepath.Join(dataDir, name)
	// A ledger lost is refused, not started over: its bookings would be
	// gone and the next ones numbered like them (kept.go).
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		if err := lostFile(p); err != nil {
			return nil, fmt.Errorf("open ledger %s: %w", name, err)
		}
	} else if err == nil {
		markExisting(p)
	}
	l, err := jsonlog.Open(p, jsonlog.Options{MaxBytes: maxLedgerBytes}, func(line []byte) error {
		v, err := strictjson.Value(line, maxLedgerBytes)
		if err != nil {
			return err
		}
		if _, ok := v.(map[string]any); !ok {
			return errors.New("a booking is a JSON object")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	return &ledger{log: l, path: p}, nil
}

// record appends the record build makes for the next sequence number. The
// lock is held from numbering to writing, so concurrent bookings get
// distinct numbers and whole lines; a failed write leaves the number free.
func (l *ledger) record(build func(seq int) any) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	line, err := json.Marshal(build(l.log.Len() + 1))
	if err != nil {
		return fmt.Errorf("record booking: %w", err)
	}
	if err := l.log.Append(line); err != nil {
		return fmt.Errorf("record booking: %w", err)
	}
	// The booking is made; its ledger's marker comes with the first.
	markExisting(l.path)
	return nil
}

// bookingID is prefix-xxxxxxxx: the first 8 hex digits of a SHA-256 over
// the prefix, the booking's sequence number and its fields.
func bookingID(prefix string, seq int, fields ...string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d", prefix, seq)
	for _, f := range fields {
		h.Write([]byte{0})
		h.Write([]byte(f))
	}
	return prefix + "-" + hex.EncodeToString(h.Sum(nil))[:8]
}

// slot picks a deterministic time between 08:00 and 17:45 on the quarter
// hour from an id, as the original apps picked a random one.
func slot(id string) string {
	sum := sha256.Sum256([]byte(id))
	return fmt.Sprintf("%02d:%02d", 8+int(sum[0])%10, 15*(int(sum[1])%4))
}
