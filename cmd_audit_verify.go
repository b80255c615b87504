package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/isolategpt/isolategpt/engine"
	"github.com/isolategpt/isolategpt/engine/store"
	ut "github.com/isolategpt/isolategpt/engine/untrusted"
)

// auditSubs are `audit verify` and `audit head`.
var auditSubs = []*cmdSpec{
	{name: "verify", folder: true, summary: "check the audit log's hash chain: missing, altered or reordered records",
		help: `Reads every audit record of every user and checks the chain from its start
to its head: each number present, each record where it was written, each
record holding the hash of the one before it, the last one the head, nothing
beyond the head. With --head FILE (the output of an earlier "audit head"),
also checks that the log still extends that head, which catches a tail cut
off together with a rewritten head. Records written before the log was
chained are counted, not verified. Exits 0 when the chain holds and 6 when
it does not, naming the first broken link.`,
		new: func() options { return &auditVerifyOpts{} }},
	{name: "head", folder: true, summary: "print the audit chain's head (seq and hash) to keep somewhere else",
		help: `Prints one JSON line: {"seq":N,"hash":"…","start":S}. Keep it outside the
data folder (mail it, print it, commit it); "audit verify --head FILE" then
shows whether the log still extends it.`,
		new: func() options { return &auditHeadOpts{} }},
}

type auditVerifyOpts struct {
	c      common
	head   string
	asJSON bool
}

func (o *auditVerifyOpts) flags(fs *flag.FlagSet, stdio IO) {
	o.c.registerData(fs, stdio.Getenv)
	fs.StringVar(&o.head, "head", "", "a `FILE` holding a head printed earlier by audit head, which the log must still extend")
	fs.BoolVar(&o.asJSON, "json", false, "print the report as JSON")
}

// maxHeadFile bounds an exported head file.
const maxHeadFile = 4096

func (o *auditVerifyOpts) run(_ []string, stdio IO) int {
	c := &o.c
	var anchor *store.ChainHead
	if o.head != "" {
		b, err := readSmallFile(stdio.path(o.head), maxHeadFile)
		if err == nil {
			var h store.ChainHead
			h, err = store.ParseHead(b)
			anchor = &h
		}
		if err != nil {
			fmt.Fprintf(stdio.Err, "isolategpt audit verify: --head %s: %v\n", o.head, err)
			return ExitUsage
		}
	}
	if code, ok := needStore(c, stdio, "audit verify"); !ok {
		return code
	}
	return c.withEngine(stdio, "audit verify", holdOptions{}, func(e *engine.Engine) int {
		rep, err := e.Store().VerifyAudit(store.VerifyOptions{Anchor: anchor})
		if err != nil {
			fmt.Fprintf(stdio.Err, "isolategpt audit verify: %v\n", err)
			return ExitStore
		}
		if o.asJSON {
			if err := json.NewEncoder(stdio.Out).Encode(rep); err != nil {
				return ExitFailed
			}
		} else {
			printVerify(stdio, rep, anchor)
		}
		if !rep.OK() {
			return ExitStore
		}
		return ExitOK
	})
}

func printVerify(stdio IO, rep store.VerifyReport, anchor *store.ChainHead) {
	h := rep.Head
	if rep.OK() {
		fmt.Fprintf(stdio.Out, "audit log verified: %d chained records (#%d to #%d), head #%d %s\n", rep.Checked, h.Start, h.Seq, h.Seq, h.Hash)
		if anchor != nil {
			fmt.Fprintf(stdio.Out, "it extends the exported head #%d\n", anchor.Seq)
		}
	} else {
		p := rep.Problems[0]
		fmt.Fprintf(stdio.Out, "audit log BROKEN: %d problems; the first at #%d (%s): %s\n", len(rep.Problems), p.Seq, p.Kind, ut.Escape(p.Text))
		for _, p := range rep.Problems {
			fmt.Fprintf(stdio.Out, "  #%d %-11s %s\n", p.Seq, p.Kind, ut.Escape(p.Text))
		}
		if rep.Truncated {
			fmt.Fprintf(stdio.Out, "  … and more\n")
		}
	}
	if rep.Legacy > 0 {
		fmt.Fprintf(stdio.Out, "%d records written before the log was chained (below #%d) are not verified; the chain's first record lists their gaps\n", rep.Legacy, h.Start)
	}
}

type auditHeadOpts struct{ c common }

func (o *auditHeadOpts) flags(fs *flag.FlagSet, stdio IO) { o.c.registerData(fs, stdio.Getenv) }

func (o *auditHeadOpts) run(_ []string, stdio IO) int {
	c := &o.c
	if code, ok := needStore(c, stdio, "audit head"); !ok {
		return code
	}
	return c.withEngine(stdio, "audit head", holdOptions{}, func(e *engine.Engine) int {
		h, err := e.Store().ChainHead()
		if err != nil {
			fmt.Fprintf(stdio.Err, "isolategpt audit head: %v\n", err)
			return ExitStore
		}
		if err := json.NewEncoder(stdio.Out).Encode(h); err != nil {
			return ExitFailed
		}
		return ExitOK
	})
}

// needStore refuses to create a data folder for a command that only reads.
func needStore(c *common, stdio IO, name string) (int, bool) {
	if _, err := os.Stat(filepath.Join(stdio.path(c.data), "store")); err != nil && stdio.served == nil {
		fmt.Fprintf(stdio.Err, "isolategpt %s: no store in %s: %v\n", name, c.data, err)
		return ExitUsage, false
	}
	return 0, true
}

// readSmallFile reads a file of at most limit bytes.
func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("longer than %d bytes", limit)
	}
	return b, nil
}
