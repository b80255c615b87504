package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/tui/chat"
)

// warnedFlow is a data prompt with many values and a long warning: the
// kind that did not fit a small terminal.
func warnedFlow() *msg.PromptRequest {
	p := msg.Prompt{
		Kind: msg.Data, App: "mail", Function: "send", Origin: "drive.retrieve", Effect: "write", InPlan: true,
		Warning: "Data produced by drive.retrieve (app drive) would be given to mail.send (app mail).",
	}
	for _, f := range []string{"name", "mime_type", "size", "content_base64", "modified", "owner", "checksum"} {
		p.Data = append(p.Data, msg.DataItem{Name: "attachment." + f, Value: strings.Repeat(f+" ", 12), Origin: "drive.retrieve"})
	}
	return &msg.PromptRequest{Prompt: p}
}

// frame sizes the TUI asks to be drawn in.
var sizes = []struct{ w, h int }{{60, 15}, {200, 60}, {100, 30}}

// At every size the frame is exactly the terminal's size, and the dialog
// shows its title, its warning and every choice; what does not fit
// scrolls, and PgDn brings it into view.
func TestDialogFitsEverySize(t *testing.T) {
	for _, sz := range sizes {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			m, clk, _ := frameModel(t)
			m.Update(tea.WindowSizeMsg{Width: sz.w, Height: sz.h})
			reply := make(chan msg.Decision, 1)
			m.Update(PromptMsg{ID: 1, Reply: reply, Req: warnedFlow()})
			clk.Advance(time.Second)
			v := m.View()
			checkFrame(t, v, sz.w, sz.h)
			plain := ansi.Strip(v)
			want := []string{"Permission needed", "Data produced by", "(app mail)"}
			for _, d := range warnedFlow().Prompt.Choices() {
				want = append(want, "["+d.Key()+"] "+d.Label())
			}
			for _, w := range want {
				if !strings.Contains(flat(plain), w) {
					t.Errorf("frame lacks %q:\n%s", w, plain)
				}
			}
			if sz.h >= 60 {
				if strings.Contains(plain, "(PgDn)") {
					t.Errorf("a tall terminal scrolls the dialog:\n%s", plain)
				}
			} else {
				if !strings.Contains(plain, "more (PgDn)") {
					t.Fatalf("a short terminal shows no hidden lines:\n%s", plain)
				}
				// The last fact is hidden at first; PgDn shows it.
				const last = "part of the plan for your query"
				if strings.Contains(plain, last) {
					t.Fatalf("nothing is hidden at %dx%d:\n%s", sz.w, sz.h, plain)
				}
				for range 10 {
					m.Update(tea.KeyMsg{Type: tea.KeyPgDown})
				}
				after := ansi.Strip(m.View())
				checkFrame(t, m.View(), sz.w, sz.h)
				if !strings.Contains(after, last) || !strings.Contains(after, "above (PgUp)") || !strings.Contains(after, "[d] deny") {
					t.Errorf("after PgDn the end of the facts, the choices and the way back are not all shown:\n%s", after)
				}
			}
			golden(t, fmt.Sprintf("dialog-%dx%d", sz.w, sz.h), v)
		})
	}
}

// flat joins wrapped lines, so a phrase broken across rows is found.
func flat(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		b.WriteString(strings.Trim(l, " │╭╮╰╯─") + " ")
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// checkFrame: exactly h rows, none wider than w.
func checkFrame(t *testing.T, v string, w, h int) {
	t.Helper()
	rows := strings.Split(v, "\n")
	if len(rows) != h {
		t.Errorf("frame has %d rows, want %d", len(rows), h)
	}
	for i, r := range rows {
		if lipgloss.Width(r) > w {
			t.Errorf("row %d is %d cells wide, more than %d: %q", i+1, lipgloss.Width(r), w, ansi.Strip(r))
		}
	}
}

// The whole flow in a terminal of each size: the collaboration query's
// four prompts answered with their letters (PgDn in the warned one), each
// decision reaching the permission manager, and the mail sent.
func TestPromptFlowAtEachSize(t *testing.T) {
	for _, sz := range sizes[:2] {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			e := newEngine(t, t.TempDir())
			decided := decisions(t, e)
			tm, clk := programSized(t, e, sz.w, sz.h)
			ask(tm, "send an email to John Doe with annual_report.pdf from drive as an attachment")
			for i := range 4 {
				waitOutput(t, tm, "Permission needed")
				clk.Advance(time.Second)
				if i == 3 {
					keys(tm, tea.KeyPgDown, tea.KeyPgDown)
				}
				tm.Type("o")
				keys(tm, tea.KeyEnter)
				d := nextDecision(t, decided)
				if d.Decision != msg.AllowOnce || !d.Asked {
					t.Fatalf("prompt %d (%s): %s, asked %v; want allow_once from the letter o", i+1, d.Prompt.Key(), d.Decision, d.Asked)
				}
			}
			waitOutput(t, tm, "mail sent message")
		})
	}
}

// A 100 KB paste is cut to the line at once, and says so; a flood of
// single keys (a paste without bracketed paste) costs almost nothing once
// the line is full.
func TestLargePasteIsCut(t *testing.T) {
	big := strings.Repeat("abcdefgh ", 100_000/9)
	t.Run("bracketed", func(t *testing.T) {
		m, _, _ := frameModel(t)
		start := time.Now()
		m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(big), Paste: true})
		v := ansi.Strip(m.View())
		if d := time.Since(start); d > time.Second {
			t.Errorf("the paste took %s", d)
		}
		if !m.chat.Full() || !strings.Contains(v, fmt.Sprintf("cut at %d characters", chat.MaxQuery)) {
			t.Errorf("input not cut with a note:\n%s", v)
		}
	})
	t.Run("key by key", func(t *testing.T) {
		m, _, _ := frameModel(t)
		start := time.Now()
		// As the program's loop does: the filter, then an update and a
		// frame for each message it lets through. The cost is counted in
		// those updates, not in wall time, which a loaded machine stretches.
		words := strings.Fields(big)
		typed, updates := 0, 0
		for _, w := range words {
			for _, k := range []tea.KeyMsg{{Type: tea.KeyRunes, Runes: []rune(w)}, {Type: tea.KeySpace, Runes: []rune{' '}}} {
				typed += len(k.Runes)
				if Filter(m, k) != nil {
					updates++
					m.Update(k)
					_ = m.View()
				}
			}
		}
		d := time.Since(start)
		v := ansi.Strip(m.View())
		// Only the keys that fill the line reach the model: a word and a
		// space for each 9 characters, the last word cut.
		if most := 2 * ((chat.MaxQuery + 8) / 9); updates > most {
			t.Errorf("%d of %d key messages reached the model, want at most %d (those that fill the line)", updates, 2*len(words), most)
		}
		if !m.chat.Full() {
			t.Errorf("the line is not full after %d characters", typed)
		}
		if want := fmt.Sprintf("%d more were dropped", typed-chat.MaxQuery); !strings.Contains(v, want) {
			t.Errorf("no note %q of the dropped characters:\n%s", want, v)
		}
		t.Logf("%d key messages, %d updates, in %s", 2*len(words), updates, d)
	})
}
