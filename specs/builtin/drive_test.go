package builtin

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func fileNames(v map[string]any) []string {
	var out []string
	for _, f := range v["files"].([]any) {
		out = append(out, f.(map[string]any)["name"].(string))
	}
	return out
}

func TestDriveSeedAndList(t *testing.T) {
	dir := t.TempDir()
	app := start(t, "drive", dir)
	got := call(t, app, "list", map[string]any{})
	want := []string{"annual_report.pdf", "budget_2025.csv", "meeting_notes.txt"}
	if !slices.Equal(fileNames(got), want) {
		t.Fatalf("list = %v, want %v", got, want)
	}
	if got := call(t, app, "list", map[string]any{"query": "REPORT"}); !slices.Equal(fileNames(got), []string{"annual_report.pdf"}) {
		t.Errorf("list(REPORT) = %v", got)
	}
	// A folder that exists is the user's: emptied, it is not seeded again.
	for _, n := range want {
		if err := os.Remove(filepath.Join(dir, driveFiles, n)); err != nil {
			t.Fatal(err)
		}
	}
	again := start(t, "drive", dir)
	if got := call(t, again, "list", map[string]any{}); len(fileNames(got)) != 0 {
		t.Errorf("an emptied drive was seeded again: %v", got)
	}
}

func TestDriveRetrieve(t *testing.T) {
	app := start(t, "drive", t.TempDir())
	pdf, err := seed.ReadFile("seed/drive/annual_report.pdf")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ query, want string }{
		{"annual_report.pdf", "annual_report.pdf"},
		{"Annual_Report.PDF", "annual_report.pdf"},
		{"budget", "budget_2025.csv"},
		{"board meeting", "meeting_notes.txt"}, // in the text, not the name
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got := call(t, app, "retrieve", map[string]any{"query": tt.query})
			if got["name"] != tt.want {
				t.Errorf("retrieve(%q) = %v, want %s", tt.query, got["name"], tt.want)
			}
		})
	}
	got := call(t, app, "retrieve", map[string]any{"query": "annual_report.pdf"})
	content, err := base64.StdEncoding.DecodeString(got["content_base64"].(string))
	if err != nil || string(content) != string(pdf) || got["size"] != float64(len(pdf)) || got["mime_type"] != "application/pdf" {
		t.Errorf("retrieve returned %v", got)
	}
	if !strings.HasPrefix(string(content), "%PDF-1.4") {
		t.Error("the seeded report is not a PDF")
	}
	callErr(t, app, "retrieve", map[string]any{"query": "zebra"}, `no file in the drive matches "zebra"`)
}

func TestDriveSave(t *testing.T) {
	dir := t.TempDir()
	app := start(t, "drive", dir)
	if got := call(t, app, "save", map[string]any{"name": "notes.md", "content": "# hi"}); got["size"] != float64(4) || got["status"] != "saved" {
		t.Fatalf("save = %v", got)
	}
	if got := call(t, app, "retrieve", map[string]any{"query": "notes.md"}); got["content_base64"] != base64.StdEncoding.EncodeToString([]byte("# hi")) || got["mime_type"] != "text/markdown" {
		t.Errorf("retrieve after save = %v", got)
	}
	call(t, app, "save", map[string]any{"name": "notes.md", "content_base64": "AAEC"})
	if data, err := os.ReadFile(filepath.Join(dir, driveFiles, "notes.md")); err != nil || string(data) != "\x00\x01\x02" {
		t.Errorf("replaced file holds %q, %v", data, err)
	}
	info, err := os.Stat(filepath.Join(dir, driveFiles, "notes.md"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("saved file mode %v, %v", info.Mode(), err)
	}
}

// TestDriveStaysInItsFolder tries to make drive write or read outside its
// files folder.
func TestDriveStaysInItsFolder(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "drive")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(parent, "secret.txt")
	if err := os.WriteFile(secret, []byte("the other app's secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	app := start(t, "drive", dir)
	for _, name := range []string{"../secret.txt", "../../x", "a/b", `a\b`, ".hidden", " lead", "trail ", "bad\x00name", "bad\u202Ename"} {
		t.Run("save "+name, func(t *testing.T) {
			callErr(t, app, "save", map[string]any{"name": name, "content": "x"}, "file name")
		})
	}
	if data, _ := os.ReadFile(secret); string(data) != "the other app's secret" {
		t.Fatal("a save reached outside the drive")
	}
	// A link planted in the folder is no file of the drive: it is neither
	// listed nor handed out.
	if err := os.Symlink(secret, filepath.Join(dir, driveFiles, "link.txt")); err != nil {
		t.Fatal(err)
	}
	if got := call(t, app, "list", map[string]any{}); slices.Contains(fileNames(got), "link.txt") {
		t.Errorf("list shows the link: %v", got)
	}
	callErr(t, app, "retrieve", map[string]any{"query": "link.txt"}, "no file")
	callErr(t, app, "retrieve", map[string]any{"query": "secret"}, "no file")
	// Saving over the link does not write through it.
	call(t, app, "save", map[string]any{"name": "link.txt", "content": "overwritten"})
	if data, _ := os.ReadFile(secret); string(data) != "the other app's secret" {
		t.Error("a save wrote through a planted link")
	}
}

func TestDriveBadSaves(t *testing.T) {
	big := strings.Repeat("a", MaxFileBytes+1)
	tests := []struct {
		name string
		args map[string]any
		text string
	}{
		{"neither content", map[string]any{"name": "a.txt"}, "exactly one of content and content_base64"},
		{"both contents", map[string]any{"name": "a.txt", "content": "x", "content_base64": "eA=="}, "exactly one"},
		{"bad base64", map[string]any{"name": "a.txt", "content_base64": "e A=="}, "not base64"},
		{"too big", map[string]any{"name": "a.txt", "content": big}, "maxLength"},
		{"too big in base64", map[string]any{"name": "a.txt", "content_base64": base64.StdEncoding.EncodeToString(make([]byte, MaxFileBytes+1))}, "at most 32768 allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			app := start(t, "drive", dir)
			callErr(t, app, "save", tt.args, tt.text)
			if _, err := os.Stat(filepath.Join(dir, driveFiles, "a.txt")); err == nil {
				t.Error("a refused save wrote a file")
			}
		})
	}
}

func TestDriveRefusesOversizedFiles(t *testing.T) {
	dir := t.TempDir()
	app := start(t, "drive", dir)
	if err := os.WriteFile(filepath.Join(dir, driveFiles, "huge.bin"), make([]byte, MaxFileBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	callErr(t, app, "retrieve", map[string]any{"query": "huge.bin"}, "more than the 32768 drive hands out")
}
