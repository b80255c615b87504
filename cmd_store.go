// The store commands: check a store for damage, back it up and restore
// it (README.md, "Store").

package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/isolategpt/isolategpt/engine"
	"github.com/isolategpt/isolategpt/engine/store"
)

var storeCmd = &cmdSpec{
	name:    "store",
	summary: "check the store for damage, back it up, restore a backup",
	folder:  true,
	subs: []*cmdSpec{
		{name: "check", folder: true, summary: "verify every table, log, record and checksum; exit 6 if anything is damaged",
			help: `Reads the whole store without writing to it: the MANIFEST and KEYREGISTRY,
the checksum of every block of every table, the write-ahead and value logs,
then every record and the checksum of every value. Each damaged file is
named. Exit 0: the store is whole; 6: it is damaged (restore a backup with
isolategpt store restore); 1: the check could not run.`,
			new: func() options { return &storeOpts{cmd: "check"} }},
		{name: "backup", args: "FILE", folder: true, summary: "write every record of the store to FILE (Badger's stream backup, checksummed)",
			help: `FILE is replaced atomically: a failed backup leaves an earlier FILE as it
was. The store is opened read-only, or, while another isolategpt holds the
data folder, backed up by that process as it runs.`,
			new: func() options { return &storeOpts{cmd: "backup"} }},
		{name: "restore", args: "FILE", folder: true, summary: "build a new store from a backup FILE",
			help: `The backup is verified whole (length and SHA-256) before anything is
loaded, and the store is built in a new folder beside the old one. A data
folder that holds a store is refused unless --replace is given; even then
the old store is kept, renamed to store.replaced-TIME, for you to delete.
Runs only while no other isolategpt uses the data folder.`,
			new: func() options { return &storeOpts{cmd: "restore"} }},
	},
}

type storeOpts struct {
	c       common
	cmd     string
	replace bool
}

func (o *storeOpts) flags(fs *flag.FlagSet, stdio IO) {
	o.c.registerData(fs, stdio.Getenv)
	if o.cmd == "restore" {
		fs.BoolVar(&o.replace, "replace", false, "restore in place of the data folder's store, which is kept aside as store.replaced-TIME")
	}
}

// Store runs `isolategpt store check | backup FILE | restore FILE`.
func Store(args []string, stdio IO) int { return runCommand(stdio, "store", args...) }

func (o *storeOpts) run(args []string, stdio IO) int {
	c := &o.c
	name := "store " + o.cmd
	c.readOnly = o.cmd != "restore"
	fail := func(err error) int {
		fmt.Fprintf(stdio.Err, "isolategpt %s: %v\n", name, err)
		return storeExit(err, ExitFailed)
	}
	dir := func() string { return filepath.Join(stdio.path(c.data), "store") }
	var file string
	if len(args) > 0 {
		file = stdio.path(args[0])
	}
	if o.cmd != "restore" && stdio.served == nil {
		if _, err := os.Stat(dir()); err != nil {
			return fail(fmt.Errorf("no store in %s: %w", c.data, err))
		}
	}
	switch o.cmd {
	case "check":
		return c.withEngine(stdio, name, holdOptions{alone: func() int {
			r, err := store.Check(dir(), nil)
			if err != nil {
				return fail(err)
			}
			return checkReport(r, dir(), stdio)
		}}, func(e *engine.Engine) int {
			r, err := e.Store().CheckLive()
			if err != nil {
				return fail(err)
			}
			return checkReport(r, dir(), stdio)
		})
	case "backup":
		backup := func(s *store.Store) int {
			n, err := s.Backup(file)
			if err != nil {
				return fail(err)
			}
			fmt.Fprintf(stdio.Out, "backed up the store of %s to %s (%d bytes of records)\n", c.data, file, n)
			return ExitOK
		}
		return c.withEngine(stdio, name, holdOptions{alone: func() int {
			s, err := store.Open(dir(), store.Options{ReadOnly: true, MinFree: c.minFreeBytes()})
			if err != nil {
				return fail(err)
			}
			defer s.Close()
			return backup(s)
		}}, func(e *engine.Engine) int { return backup(e.Store()) })
	default:
		if stdio.served != nil {
			stdio.served.session.Unserved("it has the store open, and a restore needs the data folder to itself")
			return ExitUsage
		}
		return c.withEngine(stdio, name, holdOptions{alone: func() int {
			res, err := store.Restore(file, dir(), o.replace, slog.New(slog.DiscardHandler))
			if err != nil {
				return fail(err)
			}
			fmt.Fprintf(stdio.Out, "restored the store of %s from %s\n", c.data, file)
			if res.Aside != "" {
				fmt.Fprintf(stdio.Out, "the store it replaced is kept at %s; delete it when you no longer need it\n", res.Aside)
			}
			return ExitOK
		}}, func(*engine.Engine) int { return ExitUsage })
	}
}

func checkReport(r *store.CheckReport, dir string, stdio IO) int {
	if len(r.Damaged) == 0 {
		fmt.Fprintf(stdio.Out, "store %s is whole: %d tables, %d logs, %d records, every checksum verified\n", dir, r.Tables, r.Logs, r.Keys)
		return ExitOK
	}
	fmt.Fprintf(stdio.Out, "store %s is damaged:\n", dir)
	for _, d := range r.Damaged {
		fmt.Fprintf(stdio.Out, "  %s\n", d)
	}
	fmt.Fprintln(stdio.Out, "Nothing was changed. Restore a backup with: isolategpt store restore FILE --replace")
	return ExitStore
}

// storeExit is ExitStore for an error about the store (damaged, full,
// not closed cleanly), else def.
func storeExit(err error, def int) int {
	if errors.Is(err, store.ErrDamaged) || errors.Is(err, store.ErrDiskFull) || errors.Is(err, store.ErrNeedsReplay) {
		return ExitStore
	}
	return def
}

// registerMinFree defines --min-free.
func registerMinFree(fs *flag.FlagSet, v *int64, env func(string) string) {
	def := int64(store.DefaultMinFree >> 20)
	if n, err := strconv.ParseInt(envOr(env, "ISOLATEGPT_MIN_FREE", ""), 10, 64); err == nil {
		def = n
	}
	fs.Int64Var(v, "min-free", def, "the store refuses writes while its disk has less than `MiB` free (0: never refuse); env ISOLATEGPT_MIN_FREE")
}

// minFreeBytes is --min-free for store.Options.MinFree.
func (c *common) minFreeBytes() int64 {
	if c.minFree <= 0 {
		return -1
	}
	return c.minFree << 20
}
