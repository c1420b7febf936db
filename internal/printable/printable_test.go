package printable

import (
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	tests := []struct{ in, str, text string }{
		{"plain text, ünïcode ✓", "plain text, ünïcode ✓", "plain text, ünïcode ✓"},
		{"rm -rf /\rls -l", `rm -rf /\rls -l`, `rm -rf /\rls -l`},
		{"a\x1b[2K\x1b[1Ab", `a\x1b[2K\x1b[1Ab`, `a\x1b[2K\x1b[1Ab`},
		{"line1\nline2", `line1\nline2`, "line1\nline2"},
		{"tab\there", `tab\there`, `tab\there`},
		{"bell\a del\x7f nul\x00", `bell\x07 del\x7f nul\x00`, `bell\x07 del\x7f nul\x00`},
		{"c1 \u009b31m", `c1 \x9b31m`, `c1 \x9b31m`},
		{"safe \u202eexe.txt", `safe \u202eexe.txt`, `safe \u202eexe.txt`},
		{"zero\u200bwidth", `zero\u200bwidth`, `zero\u200bwidth`},
		{"bad \xff utf8", `bad \xff utf8`, `bad \xff utf8`},
		{`back\slash`, `back\slash`, `back\slash`},
		{"", "", ""},
	}
	for _, tt := range tests {
		if got := String(tt.in); got != tt.str {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.str)
		}
		if got := Text(tt.in); got != tt.text {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.text)
		}
	}
}

func FuzzString(f *testing.F) {
	f.Add("a\rb\x1b[0m\u202e\xff\n")
	f.Fuzz(func(t *testing.T, s string) {
		for _, out := range []string{String(s), Text(s)} {
			if !utf8.ValidString(out) {
				t.Fatalf("output %q is not valid UTF-8", out)
			}
			for _, r := range out {
				if unsafeRune(r) && r != '\n' {
					t.Fatalf("output %q keeps %U", out, r)
				}
			}
		}
		if clean(s, false) && String(s) != s {
			t.Fatalf("clean input %q changed", s)
		}
	})
}
