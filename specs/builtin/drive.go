package builtin

import (
	"context"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"unicode"
	"unicode/utf8"

	"github.com/isolategpt/isolategpt/specs"
	"github.com/isolategpt/isolategpt/specs/atomicfile"
)

// seed is what mail and drive hold on their first start: a fixed mailbox
// and a few files, the same for every user, so runs are reproducible.
//
//go:embed seed
var seed embed.FS

// driveFiles is the folder, inside the drive app's data folder, that holds
// the user's files, one regular file per drive file.
const driveFiles = "files"

// MaxFileBytes is the largest file drive saves or retrieves: its base64
// form must fit in another app's arguments (MaxArgsBytes) with room to spare.
const MaxFileBytes = 32 << 10

type driveApp struct {
	mu  sync.Mutex
	m   *specs.Manifest
	dir string
}

func newDrive(dataDir string) (App, error) {
	m, err := manifest("drive")
	if err != nil {
		return nil, err
	}
	a := &driveApp{m: m, dir: filepath.Join(dataDir, driveFiles)}
	if err := a.seedOnce(); err != nil {
		return nil, fmt.Errorf("start drive: %w", err)
	}
	return a, nil
}

// seedOnce fills the files folder from the seed when the folder does not
// exist yet; a folder that exists is the user's, even when empty.
func (a *driveApp) seedOnce() error {
	if _, err := os.Lstat(a.dir); err == nil {
		markExisting(a.dir)
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("files folder: %w", err)
	}
	if err := lostFile(a.dir); err != nil {
		return fmt.Errorf("files folder: %w", err)
	}
	entries, err := seed.ReadDir("seed/drive")
	if err != nil {
		return fmt.Errorf("seed drive: %w", err)
	}
	// Filled under a temporary name and renamed, so an interrupted seed is
	// redone rather than taken for the user's folder.
	tmp := a.dir + ".seeding"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("seed drive: %w", err)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("seed drive: %w", err)
	}
	for _, e := range entries {
		data, err := seed.ReadFile(path.Join("seed/drive", e.Name()))
		if err != nil {
			return fmt.Errorf("seed drive: %w", err)
		}
		if err := atomicfile.WriteFile(filepath.Join(tmp, e.Name()), data, 0o600); err != nil {
			return fmt.Errorf("seed drive: %w", err)
		}
	}
	if err := os.Rename(tmp, a.dir); err != nil {
		return fmt.Errorf("seed drive: %w", err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(a.dir)); err != nil {
		return fmt.Errorf("seed drive: %w", err)
	}
	return markMade(a.dir)
}

type fileInfo struct {
	Name     string `json:"name"`
	MimeType string `json:"mime_type"`
	Size     int    `json:"size"`
}

func (a *driveApp) Call(ctx context.Context, function string, raw json.RawMessage) (json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	args, err := decodeArgs(a.m, function, raw)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch function {
	case "list":
		files, err := a.list()
		if err != nil {
			return nil, err
		}
		q := strings.ToLower(str(args, "query"))
		out := []fileInfo{}
		for _, f := range files {
			if strings.Contains(strings.ToLower(f.Name), q) {
				out = append(out, f)
			}
		}
		return result(map[string]any{"files": out})
	case "retrieve":
		return a.retrieve(str(args, "query"))
	case "save":
		return a.save(args)
	}
	return nil, toolError("drive has no function %q", function)
}

// list returns the drive's files sorted by name. Names that are not plain
// file names, hidden files and anything but regular files are not files of
// the drive.
func (a *driveApp) list() ([]fileInfo, error) {
	entries, err := os.ReadDir(a.dir)
	if err != nil {
		return nil, fmt.Errorf("list files: %w", err)
	}
	var out []fileInfo
	for _, e := range entries {
		if !e.Type().IsRegular() || checkFileName(e.Name()) != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed since ReadDir
		}
		out = append(out, fileInfo{Name: e.Name(), MimeType: mimeType(e.Name()), Size: int(info.Size())})
	}
	return out, nil // ReadDir sorts by name
}

// retrieve finds the relevant file: the one of that name (ignoring case),
// or else the first by name whose name contains the query, or else the
// first whose text contains it.
func (a *driveApp) retrieve(query string) (json.RawMessage, error) {
	files, err := a.list()
	if err != nil {
		return nil, err
	}
	q := strings.ToLower(strings.TrimSpace(query))
	pick := func(match func(fileInfo) bool) (fileInfo, bool) {
		i := slices.IndexFunc(files, match)
		if i < 0 {
			return fileInfo{}, false
		}
		return files[i], true
	}
	f, ok := pick(func(f fileInfo) bool { return strings.ToLower(f.Name) == q })
	if !ok {
		f, ok = pick(func(f fileInfo) bool { return strings.Contains(strings.ToLower(f.Name), q) })
	}
	if !ok {
		f, ok = pick(func(f fileInfo) bool {
			if !strings.HasPrefix(f.MimeType, "text/") || f.Size > MaxFileBytes {
				return false
			}
			data, err := a.read(f.Name)
			return err == nil && strings.Contains(strings.ToLower(string(data)), q)
		})
	}
	if !ok {
		return nil, toolError("no file in the drive matches %q", query)
	}
	data, err := a.read(f.Name)
	if err != nil {
		return nil, err
	}
	return result(attachment{Name: f.Name, MimeType: f.MimeType, Size: len(data), ContentBase64: base64.StdEncoding.EncodeToString(data)})
}

// read opens a file without following a symbolic link, so a link planted
// in the folder cannot make drive hand out a file from elsewhere.
func (a *driveApp) read(name string) ([]byte, error) {
	f, err := os.OpenFile(filepath.Join(a.dir, name), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, toolError("cannot open %s", name)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		return nil, toolError("%s is not a file", name)
	}
	if info.Size() > MaxFileBytes {
		return nil, toolError("%s has %d bytes, more than the %d drive hands out", name, info.Size(), MaxFileBytes)
	}
	data := make([]byte, info.Size())
	if _, err := f.ReadAt(data, 0); err != nil && info.Size() > 0 {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return data, nil
}

func (a *driveApp) save(args map[string]any) (json.RawMessage, error) {
	name := str(args, "name")
	if err := checkFileName(name); err != nil {
		return nil, toolError("%v", err)
	}
	text, hasText := args["content"].(string)
	b64, hasB64 := args["content_base64"].(string)
	if hasText == hasB64 {
		return nil, toolError("give exactly one of content and content_base64")
	}
	data := []byte(text)
	if hasB64 {
		var err error
		if data, err = decodeContent(b64); err != nil {
			return nil, toolError("%s: %v", name, err)
		}
	}
	if len(data) > MaxFileBytes {
		return nil, toolError("%s: %d bytes, at most %d allowed", name, len(data), MaxFileBytes)
	}
	if err := atomicfile.WriteFile(filepath.Join(a.dir, name), data, 0o600); err != nil {
		return nil, fmt.Errorf("save %s: %w", name, err)
	}
	return result(map[string]any{"name": name, "size": len(data), "status": "saved"})
}

// checkFileName accepts plain, visible file names: no folders, no leading
// dot, no control or bidirectional characters.
func checkFileName(name string) error {
	switch {
	case name == "" || len(name) > 128 || !utf8.ValidString(name):
		return fmt.Errorf("file name %q must be 1 to 128 bytes of UTF-8", name)
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("file name %q may not start with a dot", name)
	case strings.ContainsAny(name, `/\`):
		return fmt.Errorf("file name %q may not name a folder", name)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("file name %q may not start or end with a space", name)
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return fmt.Errorf("file name %q holds a control character", name)
		}
	}
	return nil
}

func decodeContent(b64 string) ([]byte, error) {
	data, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil {
		return nil, errors.New("content_base64 is not base64")
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("content of %d bytes, at most %d allowed", len(data), MaxFileBytes)
	}
	return data, nil
}

// mimeTypes is a fixed table, not the system's: the same name gives the
// same type on every machine.
var mimeTypes = map[string]string{
	".pdf": "application/pdf", ".txt": "text/plain", ".md": "text/markdown", ".csv": "text/csv",
	".json": "application/json", ".html": "text/html", ".png": "image/png", ".jpg": "image/jpeg",
	".jpeg": "image/jpeg", ".doc": "application/msword",
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}

func mimeType(name string) string {
	if t, ok := mimeTypes[strings.ToLower(filepath.Ext(name))]; ok {
		return t
	}
	return "application/octet-stream"
}

// intArg returns an integer argument; the input schema has checked its type.
func intArg(args map[string]any, name string) (int, bool) {
	switch v := args[name].(type) {
	case json.Number:
		n, err := v.Int64()
		return int(n), err == nil
	case float64:
		return int(v), true
	}
	return 0, false
}
