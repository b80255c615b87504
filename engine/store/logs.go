package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// Badger's write-ahead logs (.mem) and value logs (.vlog) share a layout
// (memtable.go and value.go in Badger v4): a 20-byte header, then entries
// of a header (meta, user meta, then klen, vlen and expiry as uvarints),
// key, value and a CRC-32C of all three. A file is created at its full
// size, so its unwritten tail is zeros.
//
// Badger replays a log up to its first entry that does not check out and
// cuts the file there: right for the entry a crash tore, silent loss for
// damage in the middle. checkLog tells them apart: after the last good
// entry there may be one torn entry and zeros, nothing else (a torn entry
// is a header with at most its own length of body, or, a large copy cut
// short, a zero header with body bytes within the longest entry).
const (
	logHeaderSize = 20
	maxLogKey     = 1 << 16 // Badger's bound on a key
	maxTornHeader = 2 + 3*binary.MaxVarintLen64
)

// checkLogs checks every log of the plan.
func checkLogs(dir string, plan *folderPlan) error {
	for _, n := range plan.logs {
		maxValue := int64(valueLogFileSize)
		if filepath.Ext(n) == ".mem" {
			// Larger values go to the value log; the WAL holds a pointer.
			maxValue = 1<<20 + 64
		}
		// A torn entry at the end of a log is what a crash leaves; after a
		// clean close nothing is torn.
		if err := checkLog(filepath.Join(dir, n), maxValue, plan.crashed); err != nil {
			return damaged(dir, n, "is damaged (Badger would drop every record after the damage)", err)
		}
	}
	return nil
}

// checkLog reads a log and reports data after its last good entry that a
// torn write cannot explain.
func checkLog(path string, maxValue int64, mayBeTorn bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if size < logHeaderSize {
		if size == 0 {
			return nil // created, never written
		}
		return fmt.Errorf("%d bytes, shorter than its header", size)
	}
	r := bufio.NewReaderSize(f, 1<<16)
	if _, err := r.Discard(logHeaderSize); err != nil {
		return err
	}
	off := int64(logHeaderSize)
	for {
		n, ok := readEntry(r, maxValue)
		if !ok {
			break
		}
		off += n
	}
	// off is where Badger would stop. Allow one torn entry there.
	var torn int64
	if mayBeTorn {
		if torn, err = tornLength(path, off, size, maxValue); err != nil {
			return err
		}
	}
	last, err := lastNonZero(path, off+torn, size)
	if err != nil {
		return err
	}
	if last >= 0 && mayBeTorn && last < off+maxEntry(maxValue) {
		// Go's memmove stores a large copy's first bytes last, so a kill
		// in the middle of one entry's copy leaves a zero header with some
		// of the entry's body after it (seen after kill -9: zeros at the
		// entry, body bytes up to a page end). That is one torn entry too,
		// if its header is still zero and nothing lies beyond the longest
		// entry Badger writes. A record lost behind real damage of this
		// shape is the anchor's to find (verifyAnchor): every committed
		// record is anchored.
		if zero, err := zeroAt(path, off, tornHeadZero, size); err != nil {
			return err
		} else if zero {
			last = -1
		}
	}
	if last >= 0 {
		return fmt.Errorf("unreadable entry at byte %d, and %d more bytes of data up to byte %d after it", off, last-off+1, last)
	}
	return nil
}

// tornHeadZero is how many bytes at a torn entry's start must be zero for
// the rest of it to count as a copy cut short; Go's memmove keeps at least
// the first 32 bytes of a large copy for its last store.
const tornHeadZero = 16

// maxEntry is the longest entry a log with values up to maxValue holds.
func maxEntry(maxValue int64) int64 {
	return maxTornHeader + maxLogKey + maxValue + 4
}

// zeroAt says whether the n bytes at off (or up to size) are all zero.
func zeroAt(path string, off, n, size int64) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	buf := make([]byte, min(n, size-off))
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	for _, b := range buf {
		if b != 0 {
			return false, nil
		}
	}
	return true, nil
}

// readEntry reads one entry and says how long it was, or false at the
// first entry that is zero, short or fails its checksum.
func readEntry(r *bufio.Reader, maxValue int64) (int64, bool) {
	h := crc32.New(castagnoli)
	tr := &countReader{r: io.TeeReader(r, h)}
	var meta [2]byte
	if _, err := io.ReadFull(tr, meta[:]); err != nil {
		return 0, false
	}
	klen, err1 := binary.ReadUvarint(tr)
	vlen, err2 := binary.ReadUvarint(tr)
	_, err3 := binary.ReadUvarint(tr)
	if err1 != nil || err2 != nil || err3 != nil || klen == 0 || klen > maxLogKey || vlen > uint64(maxValue) {
		return 0, false
	}
	if _, err := io.CopyN(io.Discard, tr, int64(klen+vlen)); err != nil {
		return 0, false
	}
	sum := h.Sum32()
	var crc [4]byte
	if _, err := io.ReadFull(r, crc[:]); err != nil || binary.BigEndian.Uint32(crc[:]) != sum {
		return 0, false
	}
	return tr.n + 4, true
}

// countReader counts bytes and reads them one at a time for ReadUvarint.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countReader) ReadByte() (byte, error) {
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return 0, err
	}
	return b[0], nil
}

// tornLength is how long the entry at off claims to be: at most what a
// torn write of one entry can have left, however little of its header
// made it to the file.
func tornLength(path string, off, size, maxValue int64) (int64, error) {
	if off >= size {
		return 0, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, min(int64(maxTornHeader), size-off))
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	if len(buf) < 2 {
		return int64(len(buf)), nil
	}
	rest := buf[2:]
	klen, n1 := binary.Uvarint(rest)
	if n1 <= 0 {
		return int64(len(buf)), nil
	}
	vlen, n2 := binary.Uvarint(rest[n1:])
	if n2 <= 0 {
		return int64(len(buf)), nil
	}
	_, n3 := binary.Uvarint(rest[n1+n2:])
	if n3 <= 0 {
		return int64(len(buf)), nil
	}
	if klen > maxLogKey || vlen > uint64(maxValue) {
		// No entry Badger writes has such a header: not a torn entry.
		return int64(len(buf)), nil
	}
	return int64(2+n1+n2+n3) + int64(klen+vlen) + 4, nil
}

// lastNonZero returns the offset of the last non-zero byte in [from,
// size), or -1.
func lastNonZero(path string, from, size int64) (int64, error) {
	if from >= size {
		return -1, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<16)
	last := int64(-1)
	for off := from; off < size; {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		for i := range n {
			if buf[i] != 0 {
				last = off + int64(i)
			}
		}
		off += int64(n)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return 0, err
		}
	}
	return last, nil
}
