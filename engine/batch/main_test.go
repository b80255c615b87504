package batch

import (
	"os"
	"testing"

	"github.com/isolategpt/isolategpt/sandbox/worker"
)

// TestMain lets this test binary serve as the sandbox worker when the
// engine re-executes it for an app.
func TestMain(m *testing.M) {
	if code, ok := worker.Dispatch(os.Args[1:]); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}
