// Package printable makes untrusted text safe to show a person on a
// terminal. A bundle's statement and manifest, a receipt and an error that
// quotes them are written by someone else: a carriage return, an escape
// sequence or a bidirectional override in them could make a screen show a
// different command than the one that was signed. Every string airlock
// prints from such a source goes through String or Text, which replace
// each such character by a visible escape (\r, \x1b, \u202e) and leave
// everything else as it is.
package printable

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// String returns s with every control character (newlines and tabs
// included), bidirectional formatting character and invalid UTF-8 byte
// replaced by a Go-style escape. A backslash stays as it is. Use it for a
// value shown on one line.
func String(s string) string { return escape(s, false) }

// Text is String but keeps line feeds, for text shown over several lines
// (a multi-line command). A carriage return is still escaped: it would let
// one line overwrite another.
func Text(s string) string { return escape(s, true) }

// Strings applies String to each element, for lists joined by the caller.
func Strings(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = String(s)
	}
	return out
}

func escape(s string, keepNewlines bool) string {
	if clean(s, keepNewlines) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' && keepNewlines:
			b.WriteByte('\n')
		case unsafeRune(r):
			b.WriteString(escapeRune(r))
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func clean(s string, keepNewlines bool) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size <= 1) || (unsafeRune(r) && !(r == '\n' && keepNewlines)) {
			return false
		}
		i += size
	}
	return true
}

// unsafeRune reports whether r changes how a terminal shows what follows
// it: C0 and C1 controls, DEL, and the Unicode bidirectional and
// zero-width formatting characters (category Cf).
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
}

func escapeRune(r rune) string {
	switch r {
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	}
	if r < 0x100 {
		return fmt.Sprintf(`\x%02x`, r)
	}
	return fmt.Sprintf(`\u%04x`, r)
}
