package evaluation

import (
	"os"
	"testing"

	"github.com/isolategpt/isolategpt/evaluation/attackapps"
	"github.com/isolategpt/isolategpt/sandbox/worker"
)

// TestMain lets this test binary serve as the sandbox worker, scenario
// apps included, when a test runs apps in the real sandbox.
func TestMain(m *testing.M) {
	attackapps.RegisterWorker()
	if code, ok := worker.Dispatch(os.Args[1:]); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}
