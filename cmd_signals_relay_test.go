package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Ctrl+C at the prompt of an ask another process runs (it holds the data
// folder; this one relays): the holder is told, the prompt and the later
// one are denied and audited, the answer is relayed and printed, and the
// ask exits 5. With the interrupt not relayed (as before) the ask hangs up
// at once and prints no answer. As root and as nobody.
func TestSignalAtRelayedAskPrompt(t *testing.T) {
	for _, relayed := range []bool{true, false} {
		t.Run(map[bool]string{true: "relayed", false: "not relayed"}[relayed], func(t *testing.T) {
			asUsers(t, func(t *testing.T, data string, run func(o procOptions, args ...string) *proc) {
				if err := os.WriteFile(filepath.Join(data, "policy.json"), []byte(allowRides), 0o644); err != nil {
					t.Fatal(err)
				}
				// The holder: a batch waiting for its first line.
				holder := run(procOptions{stdin: "pipe", dir: data}, "batch", "--data", data, "--policy", "policy.json")
				waitFor(t, "the holder", func() string {
					_, err := os.Stat(filepath.Join(data, "control.sock"))
					if err != nil {
						return ""
					}
					return "up"
				}, "up")
				var env []string
				if !relayed {
					env = []string{noRelayInterrupts + "=1"}
				}
				a := run(procOptions{stdin: "pipe", env: env}, "ask", "--data", data, rideQuery)
				waitFor(t, "the relayed prompt", a.err.String, "(Enter = deny): ")
				if err := a.cmd.Process.Signal(os.Interrupt); err != nil {
					t.Fatal(err)
				}
				exitedBy(t, a, ExitInterrupted)
				out := a.out.String()
				answered := strings.Contains(out, "metro_hail.estimate_fare: denied") && strings.Contains(out, "quick_ride.estimate_fare: denied") && !strings.Contains(out, "booking_id")
				if !relayed {
					if answered {
						t.Fatalf("interrupt not relayed, and still the answer came: the test proves nothing\n%s", out)
					}
				} else {
					if !answered {
						t.Errorf("answer:\n%s\nstderr:\n%s", out, a.err)
					}
					for _, want := range []string{"(interrupted: denied)", "isolategpt ask: interrupted:"} {
						if !strings.Contains(a.err.String(), want) {
							t.Errorf("stderr lacks %q:\n%s", want, a.err)
						}
					}
				}
				holder.stdin.Close()
				if code := holder.wait(t); code != ExitOK {
					t.Fatalf("holder: %v", holder)
				}
				if !relayed {
					return
				}
				denied, closed := deniedAndClosed(t, auditOf(t, run, data))
				if denied != 2 || closed != 1 {
					t.Errorf("audit: %d permissions denied, %d sessions closed; want 2 and 1 (the ask's; the batch ran no line)", denied, closed)
				}
			})
		})
	}
}

// SIGTERM to a batch another process runs: the holder is told, the line
// done is written, the summary says interrupted, and the batch exits 5 —
// not hung up with nothing said (as it is with the interrupt not relayed).
func TestSignalRelayedBatch(t *testing.T) {
	for _, relayed := range []bool{true, false} {
		t.Run(map[bool]string{true: "relayed", false: "not relayed"}[relayed], func(t *testing.T) {
			asUsers(t, func(t *testing.T, data string, run func(o procOptions, args ...string) *proc) {
				if err := os.WriteFile(filepath.Join(data, "policy.json"), []byte(allowRides), 0o644); err != nil {
					t.Fatal(err)
				}
				holder := run(procOptions{stdin: "pipe", dir: data}, "batch", "--data", data, "--policy", "policy.json")
				waitFor(t, "the holder", func() string {
					if _, err := os.Stat(filepath.Join(data, "control.sock")); err != nil {
						return ""
					}
					return "up"
				}, "up")
				var env []string
				if !relayed {
					env = []string{noRelayInterrupts + "=1"}
				}
				b := run(procOptions{stdin: "pipe", dir: data, env: env}, "batch", "--data", data, "--policy", "policy.json")
				if _, err := b.stdin.Write([]byte(`{"id": "1", "query": "` + strings.ReplaceAll(fareAB, `"`, `\"`) + `"}` + "\n")); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "the first line's result", b.out.String, "\n")
				if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
				exitedBy(t, b, ExitInterrupted)
				if !strings.Contains(b.out.String(), `"status":"done"`) {
					t.Errorf("first line: %s", b.out)
				}
				want := "interrupted, the rest of the input was not read"
				if !relayed {
					if strings.Contains(b.err.String(), want) {
						t.Fatalf("interrupt not relayed, and still the summary came: the test proves nothing\n%s", b.err)
					}
				} else if !strings.Contains(b.err.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, b.err)
				}
				holder.stdin.Close()
				if code := holder.wait(t); code != ExitOK {
					t.Fatalf("holder: %v", holder)
				}
			})
		})
	}
}
