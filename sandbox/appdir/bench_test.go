package appdir

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkCommitUnchanged is the cost a call pays when it changed nothing
// in an app folder of a few files.
func BenchmarkCommitUnchanged(b *testing.B) {
	for _, n := range []int{0, 10} {
		b.Run(fmt.Sprint(n, "files"), func(b *testing.B) {
			box, host := b.TempDir(), b.TempDir()
			for i := range n {
				writeB(b, filepath.Join(box, fmt.Sprint("f", i)), "data")
			}
			src := openB(b, box)
			seen := Seen{}
			if err := Commit(src, host, Owner{UID: -1}, Limits{}, seen); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if err := Commit(src, host, Owner{UID: -1}, Limits{}, seen); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
