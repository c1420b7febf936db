// Package escape holds the text encodings that #{Var | Filter} templates
// offer (internal/subst), that structured configuration replacement writes
// (internal/structured), and that output masking searches for
// (internal/mask). Keeping them in one place means a secret written by one
// is found by the other.
//
// The names and meaning follow Octopus Deploy's variable filters; where this
// package differs, the function says so. Every function takes and returns
// UTF-8 text; bytes that are not valid UTF-8 are passed through unchanged
// unless the function says otherwise.
package escape

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// JSON escapes s for use inside a JSON string, without the surrounding
// quotes: " and \ are escaped, CR, LF and tab as \r \n \t, and every other
// control character below U+0020 as \u00XX. Octopus's JsonEscape escapes only
// the first five; the other control characters are escaped here too so that
// the result is always valid JSON. Nothing else (not / nor < > &) changes.
func JSON(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			b.WriteString(`\"`)
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// XML escapes & < > " and ' as the predefined entities, for use in XML
// element text or in an attribute value with either quote (Octopus's
// XmlEscape).
func XML(s string) string {
	return xmlReplacer.Replace(s)
}

// HTML escapes & < > " ' and / for use in HTML text or attribute values
// (Octopus's HtmlEscape, which writes / as &#x2F;).
func HTML(s string) string {
	return htmlReplacer.Replace(s)
}

var (
	xmlReplacer = strings.NewReplacer(
		"&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")
	htmlReplacer = strings.NewReplacer(
		"&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;", "/", "&#x2F;")
)

// URI percent-encodes s as .NET's Uri.EscapeUriString does (Octopus's
// UriEscape): the unreserved characters of RFC 3986 (letters, digits,
// - . _ ~) and the reserved ones (: / ? # [ ] @ ! $ & ' ( ) * + , ; =) are
// kept, every other byte of the UTF-8 encoding becomes %XX. Use it on a whole
// URI; for a value placed inside one, use [URIData].
func URI(s string) string {
	return percent(s, func(c byte) bool { return unreserved(c) || strings.IndexByte(":/?#[]@!$&'()*+,;=", c) >= 0 })
}

// URIData percent-encodes every byte of s except the unreserved characters
// of RFC 3986 (letters, digits, - . _ ~), as .NET's Uri.EscapeDataString does
// (Octopus's UriDataEscape): A b:c+d/e becomes A%20b%3Ac%2Bd%2Fe.
func URIData(s string) string {
	return percent(s, unreserved)
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func percent(s string, keep func(byte) bool) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if keep(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// YAMLSingle escapes s for use inside a single-quoted YAML scalar
// (Octopus's YamlSingleQuoteEscape): ' is doubled, and each run of line
// breaks gets one more line break, since YAML folds a single line break
// inside quotes into a space. YAML still drops spaces and tabs just before a
// line break, and a single-quoted scalar cannot hold a lone CR or a control
// character: use [YAMLDouble] for such values.
func YAMLSingle(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\'':
			b.WriteString("''")
			i++
		case c == '\n' || c == '\r' && i+1 < len(s) && s[i+1] == '\n':
			j := i
			for j < len(s) && (s[j] == '\n' || s[j] == '\r' && j+1 < len(s) && s[j+1] == '\n') {
				j++
			}
			if c == '\r' {
				b.WriteString("\r\n")
			} else {
				b.WriteByte('\n')
			}
			b.WriteString(s[i:j])
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// YAMLDouble escapes s for use inside a double-quoted YAML scalar
// (Octopus's YamlDoubleQuoteEscape): " and \ are escaped, CR, LF and tab as
// \r \n \t, and every character outside printable ASCII as \uXXXX (as
// \UXXXXXXXX above U+FFFF, where Octopus writes a UTF-16 surrogate pair that
// YAML does not accept). Invalid UTF-8 bytes become \uFFFD.
func YAMLDouble(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case 0x20 <= r && r < 0x7f:
			b.WriteRune(r)
		case r > 0xffff:
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

// PropertiesKey escapes s for use as a key in a Java .properties file
// (Octopus's PropertiesKeyEscape): space, : and = are escaped with a
// backslash, as are a leading # or ! (which would start a comment), and the
// rest as in [PropertiesValue].
func PropertiesKey(s string) string {
	return properties(s, func(i int, r rune) string {
		switch {
		case r == ' ' || r == ':' || r == '=':
			return `\` + string(r)
		case i == 0 && (r == '#' || r == '!'):
			return `\` + string(r)
		}
		return ""
	})
}

// PropertiesValue escapes s for use as a value in a Java .properties file
// (Octopus's PropertiesValueEscape): \ is doubled; tab, LF, CR and form feed
// become \t \n \r \f; a leading space, = or : is escaped with a backslash; and
// every character outside printable ASCII becomes \uXXXX (UTF-16, so a pair
// above U+FFFF). Octopus leaves Latin-1 characters as they are; escaping them
// too keeps the value right whether the file is read as ISO-8859-1 (Java 8)
// or UTF-8 (Java 9 and later). Invalid UTF-8 bytes become \ufffd.
func PropertiesValue(s string) string {
	return properties(s, func(i int, r rune) string {
		if i == 0 && (r == ' ' || r == '=' || r == ':') {
			return `\` + string(r)
		}
		return ""
	})
}

// properties writes s with the escapes common to keys and values; special
// returns the escape for the rune at byte offset i, or "" for the default.
func properties(s string, special func(i int, r rune) string) string {
	var b strings.Builder
	for i, r := range s {
		if e := special(i, r); e != "" {
			b.WriteString(e)
			continue
		}
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\f':
			b.WriteString(`\f`)
		case 0x20 <= r && r < 0x7f:
			b.WriteRune(r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
		default:
			if r == utf8.RuneError {
				r = 0xfffd
			}
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}
