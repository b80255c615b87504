// Package jsonlogtest holds what the tests of the logs' writers share: a
// disk that fills up, made by a file size limit.
package jsonlogtest

import (
	"syscall"
	"testing"
)

// WithFileSizeLimit runs f with RLIMIT_FSIZE at n bytes: a write past it
// is short and the next fails with EFBIG, as on a full disk (the sandboxed
// tests in sandbox/launch fill a real tmpfs). The limit is the process's:
// the tests that use it do not run in parallel.
func WithFileSizeLimit(t testing.TB, n uint64, f func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: n, Max: old.Max}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
			t.Fatal(err)
		}
	}()
	f()
}
