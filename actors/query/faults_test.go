package query

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/store"
)

// Store errors are told apart through any wrapping, so that a full disk
// mid-query exits 6 wherever it was met.
func TestIsStoreError(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("audit log: step s1: %w", &store.DiskFullError{Dir: "d", Free: 1, Need: 2}), true},
		{fmt.Errorf("open: %w", &store.DamageError{Dir: "d", File: "MANIFEST", Problem: "is damaged"}), true},
		{fmt.Errorf("x: %w", store.ErrNeedsReplay), true},
		{fmt.Errorf("commit: %w", &fs.PathError{Op: "write", Path: "000001.vlog", Err: syscall.ENOSPC}), true},
		{fmt.Errorf("x: %w", syscall.EDQUOT), true},
		{errors.New("disk full"), false}, // words are not the error
		{fmt.Errorf("x: %w", store.ErrClosed), false},
		{nil, false},
	} {
		if got := IsStoreError(tt.err); got != tt.want {
			t.Errorf("IsStoreError(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// The status of a query whose records are not all on disk: interrupted
// once a write step started (something may have changed), else failed;
// and never an error when every record is there.
func TestAuditFaults(t *testing.T) {
	var f auditFaults
	if f.failure(nil) != nil || f.status() != msg.Failed || f.store() != nil {
		t.Fatalf("clean: %v %v %v", f.failure(nil), f.status(), f.store())
	}
	f.started()
	full := fmt.Errorf("outcome: %w", &store.DiskFullError{})
	f.outcomeFailed(full)
	if !errors.Is(f.failure(nil), store.ErrDiskFull) || f.status() != msg.Interrupted || f.store() != full {
		t.Fatalf("outcome lost: %v %v %v", f.failure(nil), f.status(), f.store())
	}
	restore := SwitchOutcomeCheck(false)
	defer restore()
	var g auditFaults
	g.outcomeFailed(full)
	if g.failure(nil) != nil {
		t.Fatalf("check off, and still the outcome failure counts: the check is not what TestNoDoneWithoutTheOutcomeRecord shows")
	}
}
