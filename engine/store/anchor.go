package store

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/isolategpt/isolategpt/specs/atomicfile"
)

// The anchor. Badger cannot tell that one of its logs is missing or
// short, or that its MANIFEST lost its last records: it opens what is
// left as the whole store. So the store keeps, outside Badger's files, a
// small fixed-size file (ANCHOR) that says how far the store had got:
//
//   - every transaction the store commits sets gen/store, a store-wide
//     generation counter, to one more than the last;
//   - after each commit, the anchor's "committed" mark is rewritten in
//     place (one pwrite) with the generation and the audit chain head
//     (user, seq, hash); after each sync of Badger's logs, its "synced"
//     mark gets what was committed before that sync.
//
// At every open, read-only or not, before Badger may write anything, the
// store must hold at least the synced mark — and the committed mark too
// when the machine has not restarted since it was written (same boot id:
// the page cache survived, so a committed record cannot have been lost
// by the crash of a process). Otherwise the store is damaged: a log, a
// table or the MANIFEST lost data, or the folder was put back from an
// older copy. The anchor may lag the store (a crash between a commit and
// its pwrite) but never leads it: a mark is written only after what it
// records was committed (or synced).
//
// The file is created, empty, before the first generation is committed,
// so a store with gen/store and no ANCHOR lost its anchor: damage. A
// store from before the anchor (no gen/store, no ANCHOR) gets one at its
// next read-write open.
const (
	anchorName  = "ANCHOR"
	anchorSize  = 512
	anchorMagic = "isolategpt anchor 1\n"
	bootIDLen   = 36
	markSize    = 8 + 8 + 32 + 1 + maxUserLen
	// anchorFiles caps the log names the anchor lists (to name the
	// suspect files when data is missing).
	anchorFiles   = 10
	fileNameLen   = 16
	filesRefresh  = 250 * time.Millisecond
	anchorMarkOff = 64
)

// anchorChecks switches the check at open off, for the test that shows
// what it catches.
var anchorChecks = true

// keyGeneration holds the store's generation, 8 bytes big-endian.
var keyGeneration = []byte("gen/store")

// anchorMark is how far the store had got: its generation and its audit
// chain head.
type anchorMark struct {
	Gen  uint64
	Seq  uint64
	Hash string // hex SHA-256, "" with Seq 0
	User string // the owner of audit record Seq
}

func (m anchorMark) behind(o anchorMark) bool { return m.Gen < o.Gen || m.Seq < o.Seq }

// anchorState is what the file holds.
type anchorState struct {
	Boot      string
	Committed anchorMark
	Synced    anchorMark
	Files     []string // the logs in the folder, for error messages
}

func (a *anchorState) encode() []byte {
	b := make([]byte, anchorSize)
	copy(b, anchorMagic)
	copy(b[len(anchorMagic):], a.Boot)
	for i, m := range []anchorMark{a.Committed, a.Synced} {
		p := b[anchorMarkOff+i*markSize:]
		binary.BigEndian.PutUint64(p, m.Gen)
		binary.BigEndian.PutUint64(p[8:], m.Seq)
		h, _ := hex.DecodeString(m.Hash)
		copy(p[16:48], h)
		p[48] = byte(len(m.User))
		copy(p[49:], m.User)
	}
	p := b[anchorMarkOff+2*markSize:]
	files := a.Files
	if len(files) > anchorFiles {
		files = files[len(files)-anchorFiles:]
	}
	p[0] = byte(len(files))
	for i, f := range files {
		copy(p[1+i*fileNameLen:1+(i+1)*fileNameLen], f)
	}
	binary.BigEndian.PutUint32(b[anchorSize-4:], crc32.Checksum(b[:anchorSize-4], castagnoli))
	return b
}

func decodeAnchor(b []byte) (*anchorState, error) {
	if len(b) != anchorSize {
		return nil, fmt.Errorf("%d bytes, want %d", len(b), anchorSize)
	}
	if crc32.Checksum(b[:anchorSize-4], castagnoli) != binary.BigEndian.Uint32(b[anchorSize-4:]) {
		return nil, errors.New("checksum mismatch")
	}
	if string(b[:len(anchorMagic)]) != anchorMagic {
		return nil, errors.New("not an isolategpt anchor")
	}
	a := &anchorState{Boot: strings.TrimRight(string(b[len(anchorMagic):len(anchorMagic)+bootIDLen]), "\x00")}
	for i, m := range []*anchorMark{&a.Committed, &a.Synced} {
		p := b[anchorMarkOff+i*markSize:]
		m.Gen = binary.BigEndian.Uint64(p)
		m.Seq = binary.BigEndian.Uint64(p[8:])
		n := int(p[48])
		if n > maxUserLen {
			return nil, errors.New("bad user length")
		}
		m.User = string(p[49 : 49+n])
		if m.Seq > 0 {
			m.Hash = hex.EncodeToString(p[16:48])
			if err := validAuditOwner(m.User); err != nil {
				return nil, err
			}
		}
	}
	p := b[anchorMarkOff+2*markSize:]
	if int(p[0]) > anchorFiles {
		return nil, errors.New("bad file count")
	}
	for i := range int(p[0]) {
		a.Files = append(a.Files, strings.TrimRight(string(p[1+i*fileNameLen:1+(i+1)*fileNameLen]), "\x00"))
	}
	return a, nil
}

func validAuditOwner(user string) error {
	if user == SystemUser {
		return nil
	}
	return validUser(user)
}

// bootID names this boot of the machine; "" if unknown (then only the
// synced mark binds).
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// readAnchor reads dir's anchor; nil, nil if there is none. A checksum
// that does not match is read again a few times: a process writing the
// anchor may be in the middle of its copy.
func readAnchor(dir string) (*anchorState, error) {
	var a *anchorState
	var err error
	for try := range 3 {
		if try > 0 {
			time.Sleep(5 * time.Millisecond)
		}
		var b []byte
		b, err = os.ReadFile(filepath.Join(dir, anchorName))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if a, err = decodeAnchor(b); err == nil {
			return a, nil
		}
	}
	return nil, err
}

// writeAnchorFile replaces dir's anchor atomically (a new one, or one for
// a restored store).
func writeAnchorFile(dir string, a *anchorState) error {
	return atomicfile.WriteFile(filepath.Join(dir, anchorName), a.encode(), 0o600)
}

// storeMark reads the generation and chain head a store holds.
func storeMark(txn *badger.Txn) (anchorMark, bool, error) {
	var m anchorMark
	item, err := txn.Get(keyGeneration)
	found := err == nil
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
	case err != nil:
		return m, false, fmt.Errorf("read generation: %w", err)
	default:
		err = item.Value(func(b []byte) error {
			if len(b) != 8 {
				return fmt.Errorf("generation is %d bytes", len(b))
			}
			m.Gen = binary.BigEndian.Uint64(b)
			return nil
		})
		if err != nil {
			return m, false, err
		}
	}
	head, _, err := readHead(txn)
	if err != nil {
		return m, found, err
	}
	m.Seq, m.Hash = head.Seq, head.Hash
	return m, found, nil
}

// verifyAnchor checks that the store db (opened from dir, or from a
// private copy of it) holds everything dir's anchor records.
func verifyAnchor(dir string, db *badger.DB) error {
	if !anchorChecks {
		return nil
	}
	a, err := readAnchor(dir)
	if err != nil {
		return damaged(dir, anchorName, "is damaged", err)
	}
	return db.View(func(txn *badger.Txn) error {
		have, hasGen, err := storeMark(txn)
		if err != nil {
			return damaged(dir, "a file", "cannot be read", err)
		}
		if a == nil {
			if hasGen {
				return damaged(dir, anchorName, fmt.Sprintf("is missing, but the store wrote one (it is at generation %d): "+
					"nothing can show that no log or table is missing", have.Gen), nil)
			}
			return nil // a store from before the anchor, or a new one
		}
		marks := []anchorMark{a.Synced}
		if b := bootID(); b != "" && b == a.Boot {
			marks = append(marks, a.Committed)
		}
		for _, m := range marks {
			if problem := missingFrom(txn, have, m); problem != "" {
				return lostData(dir, a, problem)
			}
		}
		return missingValueLog(dir, a)
	})
}

// missingValueLog checks the newest value log the anchor lists. Badger
// deletes a value log only when it is empty and a newer one exists (the
// store runs no value log GC), so that one, or a newer one, must be there.
func missingValueLog(dir string, a *anchorState) error {
	newest := ""
	for _, f := range a.Files {
		if strings.HasSuffix(f, ".vlog") && f > newest {
			newest = f
		}
	}
	if newest == "" {
		return nil
	}
	for _, f := range listLogs(dir) {
		if strings.HasSuffix(f, ".vlog") && f >= newest {
			return nil
		}
	}
	return damaged(dir, newest, "is missing: the anchor ("+anchorName+") lists it as the newest value log, and none newer is there", nil)
}

// missingFrom says what of mark m the store (at have) does not hold.
func missingFrom(txn *badger.Txn, have, m anchorMark) string {
	if have.Gen < m.Gen {
		return fmt.Sprintf("the store is at write generation %d, its anchor (%s) recorded %d", have.Gen, anchorName, m.Gen)
	}
	if m.Seq == 0 {
		return ""
	}
	item, err := txn.Get(auditKey(m.User, m.Seq))
	if err != nil {
		return fmt.Sprintf("audit record #%d, which its anchor (%s) recorded, is missing (the log ends at #%d)", m.Seq, anchorName, have.Seq)
	}
	var sum string
	if err := item.Value(func(b []byte) error { sum = chainHash(b); return nil }); err != nil {
		return fmt.Sprintf("audit record #%d cannot be read: %v", m.Seq, err)
	}
	if sum != m.Hash {
		return fmt.Sprintf("audit record #%d is not the one its anchor (%s) recorded", m.Seq, anchorName)
	}
	return ""
}

// lostData names the files that may have lost the data: the logs the
// anchor listed that are gone, every log left, and the MANIFEST.
func lostData(dir string, a *anchorState, problem string) error {
	var names []string
	for _, f := range a.Files {
		if _, err := os.Stat(filepath.Join(dir, f)); errors.Is(err, fs.ErrNotExist) {
			names = append(names, f+" (missing)")
		}
	}
	names = append(names, listLogs(dir)...)
	names = append(names, manifestName)
	return damaged(dir, strings.Join(names, ", "),
		"lost data (deleted, truncated, cut on a record boundary, or put back from an older copy): "+problem, nil)
}

// listLogs is the write-ahead and value logs in dir, sorted.
func listLogs(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, ".mem") || strings.HasSuffix(n, ".vlog") {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// anchorWriter keeps a read-write store's anchor up to date; its fields
// are guarded by Store.genMu.
type anchorWriter struct {
	f *os.File
	// mem maps the file: a write is a copy into the page cache, which a
	// killed process leaves behind; nil if it could not be mapped, and
	// then each write is a pwrite.
	mem     []byte
	state   anchorState
	filesAt time.Time
	dir     string
	err     error // the last write error, reported at Close
}

// openAnchor sets up the anchor of a read-write store just opened. A
// missing anchor (a new store, or one from before the anchor: the
// read-only open before checked which) is created first, empty. The marks
// read move on with the next commit.
func openAnchor(dir string) (*anchorWriter, bool, error) {
	a, err := readAnchor(dir)
	if err != nil {
		return nil, false, damaged(dir, anchorName, "is damaged", err)
	}
	created := a == nil
	if created {
		a = &anchorState{Boot: bootID()}
		if err := writeAnchorFile(dir, a); err != nil {
			return nil, false, fmt.Errorf("store %s: create anchor: %w", dir, err)
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, anchorName), os.O_RDWR, 0)
	if err != nil {
		return nil, false, fmt.Errorf("store %s: anchor: %w", dir, err)
	}
	w := &anchorWriter{f: f, state: *a, dir: dir}
	if mem, err := syscall.Mmap(int(f.Fd()), 0, anchorSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED); err == nil {
		w.mem = mem
	}
	if b := bootID(); b != a.Boot {
		// The machine restarted: only the synced mark held, and the
		// committed one must not bind under this boot's id.
		w.state.Boot, w.state.Committed = b, a.Synced
	}
	return w, created, nil
}

// write rewrites the file in place. Errors are kept for Close: the
// commit itself succeeded, and an anchor that lags is still true.
func (w *anchorWriter) write(refresh bool) {
	if refresh || time.Since(w.filesAt) > filesRefresh {
		w.state.Files, w.filesAt = listLogs(w.dir), time.Now()
	}
	if w.mem != nil {
		copy(w.mem, w.state.encode())
		return
	}
	if _, err := w.f.WriteAt(w.state.encode(), 0); err != nil {
		w.err = fmt.Errorf("write anchor: %w", err)
	}
}

func (w *anchorWriter) close() error {
	err := w.err
	if w.mem != nil {
		// fsync below writes the mapped page too.
		defer syscall.Munmap(w.mem)
	}
	if serr := w.f.Sync(); serr != nil && err == nil {
		err = fmt.Errorf("sync anchor: %w", serr)
	}
	if cerr := w.f.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// commitTxn commits txn as the store's next generation, with the new
// audit head if it carries audit records, and records it in the anchor.
func (s *Store) commitTxn(txn *badger.Txn, head *ChainHead, user string) error {
	s.genMu.Lock()
	defer s.genMu.Unlock()
	var g [8]byte
	binary.BigEndian.PutUint64(g[:], s.gen+1)
	if err := txn.Set(keyGeneration, g[:]); err != nil {
		return err
	}
	if err := txn.Commit(); err != nil {
		return err
	}
	s.gen++
	if s.anchor == nil {
		return nil
	}
	c := &s.anchor.state.Committed
	c.Gen = s.gen
	if head != nil {
		c.Seq, c.Hash, c.User = head.Seq, head.Hash, user
	}
	s.anchor.write(false)
	return nil
}

// syncAnchored syncs Badger's logs and then marks what was committed
// before the sync as synced in the anchor.
func (s *Store) syncAnchored() error {
	s.genMu.Lock()
	var snap anchorMark
	if s.anchor != nil {
		snap = s.anchor.state.Committed
	}
	s.genMu.Unlock()
	if err := s.db.Sync(); err != nil {
		return err
	}
	s.genMu.Lock()
	defer s.genMu.Unlock()
	if s.anchor != nil && s.anchor.state.Synced.behind(snap) {
		s.anchor.state.Synced = snap
		s.anchor.write(true)
	}
	return nil
}

// anchorNow commits a new generation holding the current audit head and
// syncs it, so a store whose anchor was just created is anchored at once.
func (s *Store) anchorNow() error {
	var head ChainHead
	user := ""
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		if head, _, err = readHead(txn); err != nil || head.Seq == 0 {
			return err
		}
		user, err = auditOwner(txn, head.Seq)
		return err
	})
	if err != nil {
		return fmt.Errorf("anchor: %w", err)
	}
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	h := &head
	if user == "" {
		h = nil
	}
	if err := s.commitTxn(txn, h, user); err != nil {
		return fmt.Errorf("anchor: %w", err)
	}
	return s.syncAnchored()
}

// auditOwner finds the owner of audit record seq by its key; "" if none.
func auditOwner(txn *badger.Txn, seq uint64) (string, error) {
	pfx := prefix(kindAudit)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: pfx})
	defer it.Close()
	for it.Seek(pfx); it.Valid(); it.Next() {
		k := it.Item().Key()
		if len(k) >= len(pfx)+9 && binary.BigEndian.Uint64(k[len(k)-8:]) == seq {
			return string(k[len(pfx) : len(k)-9]), nil
		}
	}
	return "", nil
}

// anchorOf is the anchor for a store holding m (a restored one).
func anchorOf(m anchorMark, dir string) *anchorState {
	return &anchorState{Boot: bootID(), Committed: m, Synced: m, Files: listLogs(dir)}
}
