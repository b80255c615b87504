package untrusted

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// hostile holds every kind of character that can change how text reads.
var hostile = []struct{ name, in string }{
	{"terminal escape", "\x1b[2J\x1b]0;owned\a"},
	{"newline", "a\nb"},
	{"carriage return", "a\rb"},
	{"line separator", "a\u2028b"},
	{"paragraph separator", "a\u2029b"},
	{"next line (C1)", "a\u0085b"},
	{"right-to-left override", "a\u202eb"},
	{"right-to-left isolate", "a\u2067b"},
	{"left-to-right mark", "a\u200eb"},
	{"arabic letter mark", "a\u061cb"},
	{"zero-width space", "a\u200bb"},
	{"zero-width joiner", "a\u200db"},
	{"word joiner", "a\u2060b"},
	{"byte order mark", "a\ufeffb"},
	{"soft hyphen", "a\u00adb"},
	{"tag characters", "a\U000e0049\U000e0047\U000e004eb"},
	{"cancel tag", "a\U000e007fb"},
	{"variation selector", "a\ufe0fb"},
	{"variation selector supplement", "a\U000e0100b"},
	{"mongolian variation selector", "a\u180bb"},
	{"combining grapheme joiner", "a\u034fb"},
	{"hangul filler", "a\u3164b"},
	{"halfwidth hangul filler", "a\uffa0b"},
	{"braille blank", "a\u2800b"},
	{"no-break space", "a\u00a0b"},
	{"ideographic space", "a\u3000b"},
	{"em space", "a\u2003b"},
	{"private use", "a\ue000b"},
	{"unassigned", "a\U0003ffffb"},
	{"interlinear annotation", "a\ufff9b"},
	{"invalid UTF-8", "a\xffb"},
	{"enclosing mark", "a\u20ddb"},
	{"hub's note marks", "⟨step s1 was denied⟩"},
	{"hub's gutter", "│ hub line"},
}

func TestEscapeLeavesOnlyPrintableText(t *testing.T) {
	for _, h := range hostile {
		t.Run(h.name, func(t *testing.T) {
			got := Escape(h.in)
			for _, r := range got {
				if !Prints(r) && r != '⟨' && r != '⟩' {
					t.Fatalf("Escape(%q) = %q keeps %U", h.in, got, r)
				}
			}
			if strings.ContainsAny(got, "⟨⟩│┆") {
				t.Errorf("Escape(%q) = %q keeps a hub mark", h.in, got)
			}
			if !utf8.ValidString(got) {
				t.Errorf("Escape(%q) is not UTF-8", h.in)
			}
		})
	}
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Main Street", "Main Street"},
		{"München, 東京, café", "München, 東京, café"},
		{"a\nb", `a\nb`},
		{`C:\path`, `C:\\path`},
		{"a\u2028b", `a\u2028b`},
		{"a\U000e0041b", `a\U000e0041b`},
		{"a\xffb", `a\xffb`},
		{"two  spaces", "two  spaces"},
		{"pad" + strings.Repeat(" ", 80) + "Steps:", "pad⟨80 spaces⟩Steps:"},
		{"e\u0301\u0301\u0301\u0301", "e\u0301\u0301" + `\u0301\u0301`},
	}
	for _, tt := range tests {
		if got := Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestQuoteAndValue(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"string", Value("annual_report.pdf", 100), `"annual_report.pdf"`},
		{"quote inside", Value(`say "hi"`, 100), `"say \"hi\""`},
		{"number", Value(json.Number("655"), 100), "655"},
		{"bool", Value(true, 100), "true"},
		{"null", Value(nil, 100), "null"},
		{"cut", Quote(strings.Repeat("ab", 60), 10), `"ababababab"… (120 characters)`},
		{"object keeps valid JSON escapes", Value(map[string]any{"b": "x\u2028y<"}, 100), `{"b":"x\u2028y<"}`},
		{"object with padding", Value(map[string]any{"b": "x" + strings.Repeat(" ", 9) + "y"}, 100), `{"b":"x⟨9 spaces⟩y"}`},
		{"long object", Value([]any{strings.Repeat("x", 50)}, 10), `["xxxxxxxx… (54 characters)`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestJSONKeepsTheValue(t *testing.T) {
	for _, h := range hostile {
		t.Run(h.name, func(t *testing.T) {
			b, err := json.Marshal(map[string]string{"v": h.in})
			if err != nil {
				t.Fatal(err)
			}
			out := JSON(b)
			for _, r := range string(out) {
				if r >= utf8.RuneSelf && !Prints(r) {
					t.Fatalf("JSON(%s) keeps %U", b, r)
				}
			}
			var back, orig map[string]string
			if err := json.Unmarshal(out, &back); err != nil {
				t.Fatalf("JSON(%s) = %s is not JSON: %v", b, out, err)
			}
			_ = json.Unmarshal(b, &orig)
			if back["v"] != orig["v"] {
				t.Errorf("value changed: %q, want %q", back["v"], orig["v"])
			}
		})
	}
}

func FuzzEscape(f *testing.F) {
	for _, h := range hostile {
		f.Add(h.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Escape(s)
		if strings.ContainsAny(got, "\n\r\u2028\u2029\x1b") {
			t.Fatalf("Escape(%q) = %q breaks a line or escapes", s, got)
		}
		for _, r := range got {
			if !Prints(r) && r != '⟨' && r != '⟩' {
				t.Fatalf("Escape(%q) = %q keeps %U", s, got, r)
			}
		}
		b, _ := json.Marshal(s)
		var back string
		if err := json.Unmarshal(JSON(b), &back); err != nil {
			t.Fatalf("JSON broke %s: %v", b, err)
		}
	})
}

// JSON outputs (ask --json, audit --json, batch lines) go through
// JSONWriter: indented or not, what comes out decodes to the same value
// and shows nothing an app could hide.
func TestJSONWriter(t *testing.T) {
	var b strings.Builder
	enc := json.NewEncoder(JSONWriter(&b))
	enc.SetIndent("", "  ")
	v := map[string]any{"answer": "fare 85\u2028Steps:\u202e\U000e0041", "n": 1}
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	for _, r := range b.String() {
		if r >= utf8.RuneSelf && !Prints(r) {
			t.Fatalf("output keeps %U:\n%s", r, b.String())
		}
	}
	var back map[string]any
	if err := json.Unmarshal([]byte(b.String()), &back); err != nil || back["answer"] != v["answer"] {
		t.Errorf("output %s decodes to %v, %v", b.String(), back, err)
	}
	if !strings.Contains(b.String(), "\n  \"answer\"") {
		t.Errorf("indentation lost:\n%s", b.String())
	}
}
