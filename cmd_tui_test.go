package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// term is an isolategpt TUI in a real terminal: a tmux session.
type term struct {
	t    *testing.T
	name string
}

// tmuxTUI opens the TUI in a detached tmux session of w×h cells.
func tmuxTUI(t *testing.T, w, h int, args ...string) *term {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatalf("tmux is needed for the terminal tests (scripts/test.sh installs it): %v", err)
	}
	tm := &term{t: t, name: fmt.Sprintf("isolategpt-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	cmd := append([]string{"-L", tm.name, "new-session", "-d", "-s", tm.name, "-x", fmt.Sprint(w), "-y", fmt.Sprint(h),
		"-e", asMain + "=1", "-e", "TERM=xterm-256color", os.Args[0]}, args...)
	if out, err := exec.Command("tmux", cmd...).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v: %s", err, out)
	}
	// Keep the pane after the TUI exits, to read what it left.
	_ = exec.Command("tmux", "-L", tm.name, "set-option", "-t", tm.name, "remain-on-exit", "on").Run()
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", tm.name, "kill-server").Run() })
	return tm
}

// screen is what the terminal shows now.
func (tm *term) screen() string {
	out, err := exec.Command("tmux", "-L", tm.name, "capture-pane", "-p", "-t", tm.name).Output()
	if err != nil {
		tm.t.Fatalf("capture-pane: %v", err)
	}
	return string(out)
}

// until waits for the screen to show every one of want.
func (tm *term) until(want ...string) string {
	tm.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := tm.screen()
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(s, w)
		}
		if ok {
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("the screen never showed %q:\n%s", want, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exited waits for the TUI's process to end (tmux keeps its dead pane).
func (tm *term) exited() {
	tm.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.Command("tmux", "-L", tm.name, "list-panes", "-t", tm.name, "-F", "#{pane_dead}").Output()
		if err == nil && strings.TrimSpace(string(out)) == "1" {
			return
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("the TUI did not end: %q %v\n%s", out, err, tm.screen())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (tm *term) keys(k ...string) {
	tm.t.Helper()
	if out, err := exec.Command("tmux", append([]string{"-L", tm.name, "send-keys", "-t", tm.name}, k...)...).CombinedOutput(); err != nil {
		tm.t.Fatalf("send-keys: %v: %s", err, out)
	}
}

// The TUI in real terminals of 60×15 and 200×60: a permission dialog
// shows its choices and warning, is answered by its letter, and while the
// TUI holds the data folder, other isolategpt processes run audit and ask
// through it — and the TUI shows their queries and answers.
func TestTUIInARealTerminal(t *testing.T) {
	for _, sz := range []struct{ w, h int }{{60, 15}, {200, 60}} {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			data := t.TempDir()
			tm := tmuxTUI(t, sz.w, sz.h, "--data", data)
			tm.until("F1 Chat", "ask something")
			tm.keys("-l", "send an email to John Doe with annual_report.pdf from drive as an attachment")
			tm.keys("Enter")
			// Four prompts in plan order, each answered with o and Enter;
			// the last is the warned data flow.
			for i, title := range []string{"run mail.find_contact", "run drive.retrieve", "run mail.send", "give data from drive.retrieve"} {
				want := []string{title, "[o] allow once", "[d] deny"}
				if i == 3 {
					want = append(want, "Data produced by drive.retrieve")
				}
				s := tm.until(want...)
				for _, l := range strings.Split(s, "\n") {
					if len([]rune(l)) > sz.w {
						t.Errorf("a row wider than the terminal: %q", l)
					}
				}
				time.Sleep(500 * time.Millisecond) // the dialog's grace period
				tm.keys("o")
				tm.keys("Enter")
			}
			tm.until("mail sent message")

			// Other processes, while the TUI holds the folder.
			a := start(t, "", "ask", "--data", data, "--yes", fareAB)
			if code := a.wait(t); code != ExitOK || !strings.Contains(a.out.String(), "metro_hail estimate fare") {
				t.Fatalf("ask through the TUI: %v", a)
			}
			tm.until(fmt.Sprintf("(answered for pid %d)", a.cmd.Process.Pid), `metro_hail estimate fare: currency "USD"`)
			au := start(t, "", "audit", "--data", data, "--kind", "answer")
			if code := au.wait(t); code != ExitOK || strings.Count(au.out.String(), "\n") != 2 {
				t.Fatalf("audit through the TUI: %v", au)
			}
			// Quitting hands the folder on: an ask started as the TUI
			// closes gets it, with no lock error.
			tm.keys("C-c")
			late := start(t, "", "ask", "--data", data, "--yes", fareAB)
			tm.exited()
			if code := late.wait(t); code != ExitOK || strings.Contains(late.err.String(), "lock") {
				t.Errorf("ask as the TUI quit: %v", late)
			}
		})
	}
}
