package builtin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// ledger is an append-only JSON-lines file of an app's bookings in its data
// folder. Its sequence number makes booking ids deterministic for a given
// history yet distinct across bookings and restarts.
type ledger struct {
	mu   sync.Mutex
	path string
	seq  int // records already in the file
}

func openLedger(dataDir, name string) (*ledger, error) {
	path := filepath.Join(dataDir, name)
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	return &ledger{path: path, seq: bytes.Count(data, []byte("\n"))}, nil
}

// record appends the record build makes for the next sequence number. The
// lock is held from numbering to writing, so concurrent bookings get
// distinct numbers and whole lines.
func (l *ledger) record(build func(seq int) any) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	line, err := json.Marshal(build(l.seq + 1))
	if err != nil {
		return fmt.Errorf("record booking: %w", err)
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("record booking: %w", err)
	}
	_, werr := f.Write(append(line, '\n'))
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("record booking: %w", err)
	}
	l.seq++
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
