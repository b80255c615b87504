package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/badger/v4/table"
	"google.golang.org/protobuf/proto"
)

// Badger's file names and MANIFEST layout (manifest.go in Badger v4): an
// 8-byte header — "Bdgr", external magic, format version — then records of
// length (4 bytes BE), CRC-32C (4 bytes BE) and a ManifestChangeSet.
const (
	manifestName    = "MANIFEST"
	keyRegistryName = "KEYREGISTRY"
	manifestVersion = 8
	// maxManifestRecord bounds one record; Badger's own bound is the
	// file's size.
	maxManifestRecord = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// RecoveryHint is what every damage error tells the user to do.
const RecoveryHint = "nothing in the store was changed; see what is damaged with `isolategpt store check`, " +
	"and restore a backup with `isolategpt store restore FILE --replace` (the damaged folder is kept aside)"

// DamageError reports a store file that is missing, damaged or does not
// match the others. errors.Is(err, ErrDamaged) holds for it.
type DamageError struct {
	Dir     string // the store folder
	File    string // the file at fault, relative to Dir
	Problem string // what is wrong with it
	Err     error  // the underlying error, if any
}

func (e *DamageError) Error() string {
	msg := fmt.Sprintf("store %s: %s %s", e.Dir, e.File, e.Problem)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg + "; " + RecoveryHint
}

// Unwrap lets errors.Is find ErrDamaged and the cause.
func (e *DamageError) Unwrap() []error { return []error{ErrDamaged, e.Err} }

func damaged(dir, file, problem string, err error) *DamageError {
	return &DamageError{Dir: dir, File: file, Problem: problem, Err: err}
}

// folderPlan is what the pre-check found in a store folder.
type folderPlan struct {
	// fresh: the folder holds no store yet; Badger may create one.
	fresh bool
	// tables are the table files the MANIFEST references, with how
	// their blocks are compressed.
	tables map[uint64]options.CompressionType
	// compacted are table files the MANIFEST created and later deleted:
	// leftovers of a compaction a crash interrupted, which Badger removes.
	compacted []string
	// unrecorded are table files the MANIFEST never mentions, with
	// numbers above every one it does: written by a flush or compaction
	// a crash interrupted before it was recorded. Their data is still in
	// the write-ahead log or the tables they were compacted from.
	unrecorded []string
	// logs are the write-ahead (.mem) and value (.vlog) logs.
	logs []string
	// crashed: a write-ahead log with data is left, as after a crash (a
	// clean close removes it).
	crashed bool
	// emptyLogs are logs a crash left created but empty (zero bytes):
	// not read, removed before Badger opens the store for writing.
	emptyLogs []string
}

// precheck inspects a store folder before Badger opens it, because Badger
// "repairs" what it finds: with no MANIFEST it starts a new, empty store
// beside the old tables; with a truncated one it keeps what it can read
// and deletes the tables the lost part referenced. It returns a
// DamageError for anything a crash cannot have left.
func precheck(dir string) (*folderPlan, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", dir, err)
	}
	var (
		tables               []uint64
		haveManifest, haveKR bool
		haveAnchor           bool
		plan                 = &folderPlan{tables: map[uint64]options.CompressionType{}}
	)
	for _, e := range ents {
		name := e.Name()
		switch {
		case name == manifestName:
			haveManifest = true
		case name == keyRegistryName:
			haveKR = true
		case name == anchorName:
			haveAnchor = true
		case strings.HasSuffix(name, ".sst"):
			id, err := strconv.ParseUint(strings.TrimSuffix(name, ".sst"), 10, 64)
			if err != nil {
				return nil, damaged(dir, name, "is not a table file name Badger writes", err)
			}
			tables = append(tables, id)
		case strings.HasSuffix(name, ".mem"), strings.HasSuffix(name, ".vlog"):
			info, err := e.Info()
			if err == nil && info.Size() == 0 {
				// Created, not yet sized: a kill between the two. It holds
				// nothing, and Badger refuses to open it.
				plan.emptyLogs = append(plan.emptyLogs, name)
				plan.crashed = true
				continue
			}
			plan.logs = append(plan.logs, name)
			if err == nil && info.Size() > logHeaderSize && strings.HasSuffix(name, ".mem") {
				plan.crashed = true
			}
		}
	}
	if !haveManifest {
		if len(tables) > 0 || len(plan.logs) > 0 || haveKR || haveAnchor {
			return nil, damaged(dir, manifestName, "is missing while the store holds data files (Badger would start an empty store beside them)", nil)
		}
		plan.fresh = true
		return plan, nil
	}
	m, err := readManifest(filepath.Join(dir, manifestName))
	if err != nil {
		return nil, damaged(dir, manifestName, "is damaged", err)
	}
	if !haveKR && (len(m.live) > 0 || len(tables) > 0 || len(plan.logs) > 0) {
		return nil, damaged(dir, keyRegistryName, "is missing", nil)
	}
	for id := range m.live {
		plan.tables[id] = m.compression[id]
	}
	onDisk := map[uint64]bool{}
	for _, id := range tables {
		onDisk[id] = true
	}
	var missing []uint64
	for id := range m.live {
		if !onDisk[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, damaged(dir, tableName(missing[0]), fmt.Sprintf("is missing (the MANIFEST references it%s)", more(len(missing))), nil)
	}
	var foreign []uint64
	slices.Sort(tables)
	for _, id := range tables {
		switch {
		case m.live[id]:
		case m.deleted[id]:
			plan.compacted = append(plan.compacted, tableName(id))
		case id > m.maxID:
			plan.unrecorded = append(plan.unrecorded, tableName(id))
		default:
			foreign = append(foreign, id)
		}
	}
	// Only a crash leaves unrecorded tables, and a crash leaves the
	// write-ahead log it was flushing or writing (a clean close removes
	// it): without one, the MANIFEST lost the records of these tables —
	// unless a table is empty or unreadable (no valid footer): then it is
	// one Badger was still writing when the process died, and holds
	// nothing the store had (the anchor catches real loss).
	if !plan.crashed {
		for _, n := range plan.unrecorded {
			if !leftoverTable(dir, n) {
				return nil, damaged(dir, n,
					fmt.Sprintf("is not in the MANIFEST, and no crash explains it: the MANIFEST lost records (Badger would delete the table)%s", more(len(plan.unrecorded))), nil)
			}
		}
	}
	if len(foreign) > 0 {
		return nil, damaged(dir, tableName(foreign[0]),
			fmt.Sprintf("is not in the MANIFEST, which records later tables: the MANIFEST lost records (Badger would delete the table)%s", more(len(foreign))), nil)
	}
	return plan, nil
}

// leftoverTable says whether the unrecorded table n is empty or cannot
// be read as a table: a crash leftover, never a table the MANIFEST lost.
func leftoverTable(dir, n string) bool {
	if !leftoverChecks {
		return false
	}
	id, err := strconv.ParseUint(strings.TrimSuffix(n, ".sst"), 10, 64)
	if err != nil {
		return false
	}
	return verifyTable(filepath.Join(dir, n), id, options.Snappy) != nil
}

// leftoverChecks switches the leftover test off, for the test that shows
// what it is for.
var leftoverChecks = true

func more(n int) string {
	if n <= 1 {
		return ""
	}
	return fmt.Sprintf("; %d tables in all", n)
}

func tableName(id uint64) string { return fmt.Sprintf("%06d.sst", id) }

// manifestState is what a MANIFEST records.
type manifestState struct {
	live map[uint64]bool // tables that exist
	// compression is how each live table's blocks are compressed.
	compression map[uint64]options.CompressionType
	deleted     map[uint64]bool // tables created and deleted since
	maxID       uint64          // the highest table number it mentions
}

// readManifest replays a MANIFEST strictly: unlike Badger, which stops at
// the first short record and truncates the file there, it takes a file
// that does not end exactly at a record's end as damaged.
func readManifest(path string) (*manifestState, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size == 0 {
		return nil, errors.New("it is empty")
	}
	r := bufio.NewReader(f)
	var head [8]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, fmt.Errorf("%d bytes, shorter than its header", size)
	}
	if !bytes.Equal(head[:4], []byte("Bdgr")) {
		return nil, errors.New("bad magic: not a Badger MANIFEST")
	}
	if v := binary.BigEndian.Uint16(head[6:8]); v != manifestVersion {
		return nil, fmt.Errorf("format version %d, this Badger reads %d", v, manifestVersion)
	}
	m := &manifestState{live: map[uint64]bool{}, deleted: map[uint64]bool{}, compression: map[uint64]options.CompressionType{}}
	off := int64(8)
	for off < size {
		var lc [8]byte
		if _, err := io.ReadFull(r, lc[:]); err != nil {
			return nil, fmt.Errorf("truncated: ends inside a record header at byte %d of %d", off, size)
		}
		n := binary.BigEndian.Uint32(lc[:4])
		if n > maxManifestRecord || int64(n) > size-off-8 {
			return nil, fmt.Errorf("truncated or overwritten: the record at byte %d says %d bytes, %d are left", off, n, size-off-8)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("record at byte %d: %w", off, err)
		}
		if crc32.Checksum(buf, castagnoli) != binary.BigEndian.Uint32(lc[4:]) {
			return nil, fmt.Errorf("checksum mismatch in the record at byte %d", off)
		}
		var cs pb.ManifestChangeSet
		if err := proto.Unmarshal(buf, &cs); err != nil {
			return nil, fmt.Errorf("record at byte %d: %w", off, err)
		}
		for _, c := range cs.Changes {
			m.maxID = max(m.maxID, c.Id)
			switch c.Op {
			case pb.ManifestChange_CREATE:
				if m.live[c.Id] {
					return nil, fmt.Errorf("record at byte %d creates table %d twice", off, c.Id)
				}
				m.live[c.Id] = true
				m.compression[c.Id] = options.CompressionType(c.Compression)
			case pb.ManifestChange_DELETE:
				if !m.live[c.Id] {
					return nil, fmt.Errorf("record at byte %d deletes table %d, which does not exist", off, c.Id)
				}
				delete(m.live, c.Id)
				m.deleted[c.Id] = true
			default:
				return nil, fmt.Errorf("record at byte %d: unknown change %d", off, c.Op)
			}
		}
		off += 8 + int64(n)
	}
	return m, nil
}

// verifyTables reads every table the MANIFEST references and checks the
// checksum of each of its blocks, before Badger sees them: Badger opens
// tables on goroutines of its own, where a damaged one can panic the
// process, and it drops a table whose checksum does not match with no
// more than a log line.
func verifyTables(dir string, plan *folderPlan) error {
	ids := make([]uint64, 0, len(plan.tables))
	for id := range plan.tables {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if err := verifyTable(filepath.Join(dir, tableName(id)), id, plan.tables[id]); err != nil {
			return damaged(dir, tableName(id), "is damaged", err)
		}
	}
	return nil
}

// verifyTable checks one table, read into memory (a memory map would turn
// a file shrinking under it into SIGBUS).
func verifyTable(path string, id uint64, c options.CompressionType) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("unreadable: %v", r)
		}
	}()
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(data) == 0 {
		return errors.New("it is empty")
	}
	t, err := table.OpenInMemoryTable(data, id, &table.Options{ReadOnly: true, ChkMode: options.OnTableRead, Compression: c, BlockSize: 4 << 10})
	if err != nil {
		return err
	}
	return t.VerifyChecksum()
}
