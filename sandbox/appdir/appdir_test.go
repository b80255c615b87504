package appdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func openB(b *testing.B, dir string) *os.File {
	f, err := os.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}

func writeB(b *testing.B, p, s string) {
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		b.Fatal(err)
	}
}

func open(t *testing.T, dir string) *os.File {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// tree lists a folder as "path kind[:content]" lines.
func tree(t *testing.T, root string) string {
	t.Helper()
	var out []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			to, _ := os.Readlink(p)
			out = append(out, rel+" link:"+to)
		case fi.IsDir():
			out = append(out, rel+" dir")
		default:
			b, _ := os.ReadFile(p)
			out = append(out, rel+" file:"+string(b))
		}
		return nil
	})
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFillThenCommitMirrors(t *testing.T) {
	host, box := t.TempDir(), t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret")
	write(t, secret, "outside")
	write(t, filepath.Join(host, "mailbox.json"), "{}")
	write(t, filepath.Join(host, "files", "a.txt"), "a")
	if err := os.Symlink(secret, filepath.Join(host, "planted")); err != nil {
		t.Fatal(err)
	}
	me := Owner{UID: os.Getuid(), GID: os.Getgid()}
	seen, err := Fill(open(t, box), host, me)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tree(t, box), tree(t, host); got != want {
		t.Fatalf("filled:\n%s\nwant:\n%s", got, want)
	}
	// The app works in its folder: changes a file, removes one, makes a
	// folder, plants links; a file it does not touch keeps its time.
	write(t, filepath.Join(box, "mailbox.json"), `{"sent":1}`)
	os.Remove(filepath.Join(box, "files", "a.txt"))
	write(t, filepath.Join(box, "new", "deep", "b.txt"), "b")
	os.Remove(filepath.Join(box, "planted"))
	os.Mkdir(filepath.Join(box, "planted"), 0o700)
	os.Symlink("/etc", filepath.Join(box, "etc"))
	before, _ := os.Stat(filepath.Join(host, "files"))
	time.Sleep(10 * time.Millisecond)
	if err := Commit(open(t, box), host, Owner{UID: -1}, Limits{}, seen); err != nil {
		t.Fatal(err)
	}
	if got, want := tree(t, host), tree(t, box); got != want {
		t.Fatalf("committed:\n%s\nwant:\n%s", got, want)
	}
	if b, _ := os.ReadFile(secret); string(b) != "outside" {
		t.Errorf("a file outside the folder changed: %q", b)
	}
	if after, _ := os.Stat(filepath.Join(host, "files")); !after.IsDir() || before == nil {
		t.Errorf("files/ is gone")
	}
	// A second commit with nothing changed changes nothing.
	st1, _ := os.Stat(filepath.Join(host, "mailbox.json"))
	if err := Commit(open(t, box), host, Owner{UID: -1}, Limits{}, seen); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(filepath.Join(host, "mailbox.json"))
	if !os.SameFile(st1, st2) {
		t.Error("an unchanged file was copied again")
	}
	// A folder replaced by a file, and the other way round.
	os.RemoveAll(filepath.Join(box, "new"))
	write(t, filepath.Join(box, "new"), "now a file")
	if err := Commit(open(t, box), host, Owner{UID: -1}, Limits{}, seen); err != nil {
		t.Fatal(err)
	}
	if got, want := tree(t, host), tree(t, box); got != want {
		t.Fatalf("committed:\n%s\nwant:\n%s", got, want)
	}
}

// TestCommitIsBounded: sparse files and hard links take no room in a
// tmpfs, but would on the host; the copy stops at the limits and leaves
// the rest of the host's folder as it was.
func TestCommitIsBounded(t *testing.T) {
	box, host := t.TempDir(), t.TempDir()
	write(t, filepath.Join(host, "keep"), "old")
	write(t, filepath.Join(box, "keep"), "old")
	sparse := filepath.Join(box, "a-sparse")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 40); err != nil {
		t.Fatal(err)
	}
	f.Close()
	err = Commit(open(t, box), host, Owner{UID: -1}, Limits{Bytes: 1 << 20, Entries: 100}, Seen{})
	if !errors.Is(err, ErrFull) {
		t.Fatalf("a 1 TiB sparse file was committed under a 1 MiB limit: %v", err)
	}
	if st, err := os.Stat(filepath.Join(host, "a-sparse")); err == nil {
		t.Errorf("the sparse file reached the host: %d bytes", st.Size())
	}
	os.Remove(sparse)
	write(t, filepath.Join(box, "x"), "x")
	for i := range 200 {
		if err := os.Link(filepath.Join(box, "x"), filepath.Join(box, fmt.Sprint("link", i))); err != nil {
			t.Fatal(err)
		}
	}
	err = Commit(open(t, box), host, Owner{UID: -1}, Limits{Bytes: 1 << 20, Entries: 100}, Seen{})
	if !errors.Is(err, ErrFull) {
		t.Fatalf("200 hard links were committed under a 100-entry limit: %v", err)
	}
	if n, _ := os.ReadDir(host); len(n) > 101 {
		t.Errorf("%d entries on the host", len(n))
	}
	if b, _ := os.ReadFile(filepath.Join(host, "keep")); string(b) != "old" {
		t.Errorf("a file the copy did not reach changed: %q", b)
	}
}

// TestTwoWorkersOneFolder: an app in two sessions has two copies of its
// folder; neither commit removes what the other made or changed.
func TestTwoWorkersOneFolder(t *testing.T) {
	host, a, b := t.TempDir(), t.TempDir(), t.TempDir()
	write(t, filepath.Join(host, "shared"), "v1")
	write(t, filepath.Join(host, "old"), "old")
	write(t, filepath.Join(host, "dir", "x"), "x")
	me := Owner{UID: -1}
	seenA, err := Fill(open(t, a), host, me)
	if err != nil {
		t.Fatal(err)
	}
	seenB, err := Fill(open(t, b), host, me)
	if err != nil {
		t.Fatal(err)
	}
	// B makes a file and changes one; A removes that one, and another.
	write(t, filepath.Join(b, "new-by-b"), "b")
	time.Sleep(10 * time.Millisecond)
	write(t, filepath.Join(b, "shared"), "v2 by b")
	if err := Commit(open(t, b), host, me, Limits{}, seenB); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(a, "shared"))
	os.Remove(filepath.Join(a, "old"))
	os.RemoveAll(filepath.Join(a, "dir"))
	if err := Commit(open(t, a), host, me, Limits{}, seenA); err != nil {
		t.Fatal(err)
	}
	want := "new-by-b file:b\nshared file:v2 by b"
	if got := tree(t, host); got != want {
		t.Errorf("host after both commits:\n%s\nwant:\n%s", got, want)
	}
}

func TestFillOfAMissingFolderIsEmpty(t *testing.T) {
	box := t.TempDir()
	if _, err := Fill(open(t, box), filepath.Join(t.TempDir(), "none"), Owner{UID: -1}); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, box); got != "" {
		t.Errorf("filled %q", got)
	}
}

func TestPipesAreNotCopied(t *testing.T) {
	box, host := t.TempDir(), t.TempDir()
	if err := unix.Mkfifo(filepath.Join(box, "pipe"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Commit(open(t, box), host, Owner{UID: -1}, Limits{}, Seen{}) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("commit hangs on a pipe")
	}
	if got := tree(t, host); got != "" {
		t.Errorf("committed %q", got)
	}
}
