package builtin

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/isolategpt/isolategpt/specs/atomicfile"
)

// A data file an app made — mail's mailbox, drive's files folder, a
// booking ledger — is kept track of by a marker beside it (NAME.made,
// written atomically once the file exists). A missing file whose marker
// is there is a file lost — deleted, or a backup restored without it —
// and the app refuses to start, naming it, instead of re-seeding the demo
// data or starting empty in its place, which would silently drop every
// mail, file or booking it held (and renumber the bookings after it).

// madeSuffix names a marker: mailbox.json.made.
const madeSuffix = ".made"

// checkMade switches the check off for the tests that show what it
// prevents; nothing else sets it.
var checkMade = true

// lostFile is an error naming p when p is missing but its marker says
// the app made it, nil otherwise.
func lostFile(p string) error {
	if !checkMade {
		return nil
	}
	_, err := os.Lstat(p + madeSuffix)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("%s: %w", filepath.Base(p)+madeSuffix, err)
	}
	name := filepath.Base(p)
	return fmt.Errorf("%s is missing, but the app made it in this folder before (%s is there): restore %s from a backup, or remove %s to start over from nothing: %w",
		name, name+madeSuffix, name, name+madeSuffix, fs.ErrNotExist)
}

// markMade writes p's marker, once p exists, if it is not there yet.
func markMade(p string) error {
	if _, err := os.Lstat(p + madeSuffix); err == nil {
		return nil
	}
	line := fmt.Sprintf("{\"file\":%q,\"made\":%q}\n", filepath.Base(p), time.Now().UTC().Format(time.RFC3339))
	if err := atomicfile.WriteFile(p+madeSuffix, []byte(line), 0o600); err != nil {
		return fmt.Errorf("mark %s as made: %w", filepath.Base(p), err)
	}
	return nil
}

// markExisting writes the marker of a file that was there before markers
// were (a folder from an earlier version); a failure (a full disk) only
// postpones it to the next start.
func markExisting(p string) {
	if err := markMade(p); err != nil {
		slog.Warn("builtin app: data file marker", "err", err)
	}
}
