package launch

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"sort"
	"testing"
	"time"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/sandbox/wire"
)

// unconfinedStage is the baseline: the same binary, forked and executed
// with no namespaces, limits, landlock or seccomp, serving the same app.
// Only this test binary knows it.
const unconfinedStage = "bench-unconfined"

func serveUnconfined() int {
	h, _ := probeHandler()
	if err := wire.Serve(context.Background(), os.Stdin, os.Stdout, h, wire.Options{}); err != nil {
		return 1
	}
	return 0
}

// unconfined starts the baseline worker and completes the handshake.
func unconfined(ctx context.Context) (sandbox.Conn, *exec.Cmd, error) {
	cmd := exec.Command("/proc/self/exe", unconfinedStage)
	cmd.Env = []string{}
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	c := wire.NewClient(out, in, wire.Options{})
	if _, err := wire.Initialize(ctx, c, "bench", "0"); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, nil, err
	}
	return wire.NewConn(c), cmd, nil
}

func report(b *testing.B, ds []time.Duration, unit string) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds()), unit+"-p50-µs")
	b.ReportMetric(float64(ds[len(ds)*9/10].Microseconds()), unit+"-p90-µs")
}

// BenchmarkColdStart measures spawn, all confinement and the initialize
// handshake, against an unconfined fork/exec of the same binary with the
// same handshake, interleaved in one run.
func BenchmarkColdStart(b *testing.B) {
	benchStarts(b, &Launcher{}, "sandboxed", nil)
}

// benchStarts times b.N launches of probeApp with l, each beside an
// unconfined start doing the same handshake, and reports both under
// name and "unconfined"; before, if set, runs ahead of each launch,
// untimed.
func benchStarts(b *testing.B, l *Launcher, name string, before func()) {
	dir := b.TempDir()
	var conf, base []time.Duration
	for i := 0; i < b.N; i++ {
		if before != nil {
			before()
		}
		start := time.Now()
		c, err := l.Launch(b.Context(), probeApp, dir)
		if err != nil {
			b.Fatal(err)
		}
		conf = append(conf, time.Since(start))
		c.Close()

		start = time.Now()
		bc, cmd, err := unconfined(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		base = append(base, time.Since(start))
		bc.Close()
		cmd.Process.Kill()
		cmd.Wait()
	}
	report(b, conf, name)
	report(b, base, "unconfined")
}

// BenchmarkWarmCall measures one tools/call round trip to a running worker,
// sandboxed and unconfined.
func BenchmarkWarmCall(b *testing.B) {
	c, err := (&Launcher{}).Launch(b.Context(), probeApp, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	bc, cmd, err := unconfined(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { bc.Close(); cmd.Process.Kill(); cmd.Wait() }()
	args, _ := json.Marshal(probeArgs{Action: "whoami"})
	var conf, base []time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := c.CallTool(b.Context(), "try", args); err != nil {
			b.Fatal(err)
		}
		conf = append(conf, time.Since(start))
		start = time.Now()
		if _, err := bc.CallTool(b.Context(), "try", args); err != nil {
			b.Fatal(err)
		}
		base = append(base, time.Since(start))
	}
	report(b, conf, "sandboxed")
	report(b, base, "unconfined")
}

// BenchmarkColdStartBinary measures the cold start of a built-in app in a
// built isolategpt binary (ISOLATEGPT_BENCH_EXE, e.g. from `go build -o`),
// whose many packages take longer to initialise than this test binary's,
// beside a plain fork/exec/exit of the same binary (`isolategpt help`).
func BenchmarkColdStartBinary(b *testing.B) {
	exe := os.Getenv("ISOLATEGPT_BENCH_EXE")
	if exe == "" {
		b.Skip("set ISOLATEGPT_BENCH_EXE to a built isolategpt binary")
	}
	l := &Launcher{Exe: exe}
	dir := b.TempDir()
	app := sandbox.App{ID: "metro_hail", Kind: sandbox.KindBuiltin}
	var conf, base []time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		c, err := l.Launch(b.Context(), app, dir)
		if err != nil {
			b.Fatal(err)
		}
		conf = append(conf, time.Since(start))
		c.Close()

		start = time.Now()
		if err := exec.Command(exe, "help").Run(); err != nil {
			b.Fatal(err)
		}
		base = append(base, time.Since(start))
	}
	report(b, conf, "sandboxed")
	report(b, base, "exec-exit")
}
