package main

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/isolategpt/isolategpt/engine"
	"github.com/isolategpt/isolategpt/engine/store"
)

var grantsCmd = &cmdSpec{
	name:    "grants",
	summary: "list or revoke your permanent permission grants",
	subs: []*cmdSpec{
		{name: "list", folder: true, summary: "the flows you allowed always, which queries use without asking",
			new: func() options { return &grantsOpts{} }},
		{name: "revoke", args: "KEY...", folder: true, summary: "take grants back: you will be asked again",
			new: func() options { return &grantsOpts{revoke: true} }},
	},
	folder: true,
}

type grantsOpts struct {
	c      common
	revoke bool
	all    bool
}

func (o *grantsOpts) flags(fs *flag.FlagSet, stdio IO) {
	o.c.registerData(fs, stdio.Getenv)
	if o.revoke {
		fs.BoolVar(&o.all, "all", false, "revoke every grant of the user")
	}
}

// Grants runs `isolategpt grants list|revoke`.
func Grants(args []string, stdio IO) int { return runCommand(stdio, "grants", args...) }

func (o *grantsOpts) run(keys []string, stdio IO) int {
	c := &o.c
	name := "grants list"
	if o.revoke {
		name = "grants revoke"
		if o.all != (len(keys) == 0) {
			fmt.Fprintln(stdio.Err, "isolategpt grants revoke: give the KEYs to revoke (see isolategpt grants list), or --all")
			return ExitUsage
		}
	}
	if err := store.ValidUser(c.user); err != nil {
		fmt.Fprintf(stdio.Err, "isolategpt %s: --user: %v\n", name, err)
		return ExitUsage
	}
	c.readOnly = !o.revoke
	return c.withEngine(stdio, name, holdOptions{}, func(e *engine.Engine) int {
		gs, err := e.Store().Grants(c.user)
		if err != nil {
			fmt.Fprintf(stdio.Err, "isolategpt %s: %v\n", name, err)
			return ExitFailed
		}
		if !o.revoke {
			if len(gs) == 0 {
				fmt.Fprintf(stdio.Err, "no permanent grants for user %q: every flow is asked\n", c.user)
				return ExitOK
			}
			fmt.Fprintf(stdio.Out, "%-25s  %s\n", "GRANTED", "KEY")
			for _, g := range gs {
				fmt.Fprintf(stdio.Out, "%-25s  %s\n", g.At.Local().Format(time.RFC3339), g.Key)
			}
			return ExitOK
		}
		if o.all {
			for _, g := range gs {
				keys = append(keys, g.Key)
			}
		}
		code := ExitOK
		for _, k := range keys {
			err := e.Store().RevokeGrant(c.user, k)
			switch {
			case errors.Is(err, store.ErrNotFound):
				fmt.Fprintf(stdio.Err, "isolategpt grants revoke: %q: no such grant for user %q (see isolategpt grants list)\n", k, c.user)
				code = ExitFailed
			case err != nil:
				fmt.Fprintf(stdio.Err, "isolategpt grants revoke: %v\n", err)
				code = ExitFailed
			default:
				fmt.Fprintf(stdio.Out, "revoked %s: you will be asked again\n", k)
			}
		}
		return code
	})
}
