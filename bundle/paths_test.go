package bundle

import (
	"strings"
	"testing"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// TestFoldKey: the ASCII shortcut gives what NFC and Unicode case folding
// give, and paths differing only in case or normal form share a key.
func TestFoldKey(t *testing.T) {
	for _, p := range []string{"", "a", "ABC/def.TXT", "packages/App/Main.GO", "x~!@#$%^&()_+-=[]{};',", "Ünïcode/Straße", "e\u0301", "K", "\u212a", "ǅ"} {
		want := cases.Fold().String(norm.NFC.String(p))
		if got := foldKey(p); got != want {
			t.Errorf("foldKey(%q) = %q, want %q", p, got, want)
		}
	}
	for _, pair := range [][2]string{{"A/B", "a/b"}, {"é", "e\u0301"}, {"STRASSE", "straße"}, {"k", "\u212a"}} {
		if foldKey(pair[0]) != foldKey(pair[1]) {
			t.Errorf("%q and %q do not collide", pair[0], pair[1])
		}
	}
}

// TestReservedWindowsNames: the device names, whatever their case, with
// an extension or trailing spaces, and spellings that upper-case to them;
// not longer names.
func TestReservedWindowsNames(t *testing.T) {
	for _, s := range []string{"CON", "con", "Nul.txt", "aux.tar.gz", "prn  ", "COM1", "lpt9.log", "conin$", "CONOUT$", "conın$"} {
		if !isReservedWindowsName(s) {
			t.Errorf("%q is not reported reserved", s)
		}
	}
	for _, s := range []string{"CONSOLE", "com10", "COMX", "lpt", "nul1", "a.con", "conin$$", strings.Repeat("x", 300)} {
		if isReservedWindowsName(s) {
			t.Errorf("%q is reported reserved", s)
		}
	}
}
