package subst

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"

	"airlock.dev/airlock/internal/escape"
)

// filterNames lists the filters for messages and documentation.
const filterNames = "JsonEscape, XmlEscape, HtmlEscape, UriEscape, UriDataEscape, " +
	"YamlSingleQuoteEscape, YamlDoubleQuoteEscape, PropertiesKeyEscape, PropertiesValueEscape, " +
	"ToBase64 (or Base64Encode), ToLower, ToUpper, Trim, Replace"

// filterFunc is a compiled filter. Only Replace can fail: when its result
// would exceed MaxOutput.
type filterFunc func(string) (string, error)

// plain wraps a filter that cannot fail.
func plain(f func(string) string) filterFunc {
	return func(s string) (string, error) { return f(s), nil }
}

// newFilter compiles the filter name (any case) with its arguments.
func newFilter(name string, args []string) (filterFunc, error) {
	noArgs := func(f func(string) string) (filterFunc, error) {
		if len(args) > 0 {
			return nil, fmt.Errorf("filter %s takes no arguments, got %d", name, len(args))
		}
		return plain(f), nil
	}
	switch strings.ToLower(name) {
	case "jsonescape":
		return noArgs(escape.JSON)
	case "xmlescape":
		return noArgs(escape.XML)
	case "htmlescape":
		return noArgs(escape.HTML)
	case "uriescape":
		return noArgs(escape.URI)
	case "uridataescape":
		return noArgs(escape.URIData)
	case "yamlsinglequoteescape":
		return noArgs(escape.YAMLSingle)
	case "yamldoublequoteescape":
		return noArgs(escape.YAMLDouble)
	case "propertieskeyescape":
		return noArgs(escape.PropertiesKey)
	case "propertiesvalueescape":
		return noArgs(escape.PropertiesValue)
	case "tolower":
		return noArgs(strings.ToLower)
	case "toupper":
		return noArgs(strings.ToUpper)
	case "tobase64", "base64encode":
		return base64Filter(name, args)
	case "trim":
		return trimFilter(name, args)
	case "replace":
		return replaceFilter(name, args)
	}
	return nil, fmt.Errorf("unknown filter %q (want one of %s)", name, filterNames)
}

// base64Filter encodes the UTF-8 bytes of its input, or with the argument
// "unicode" its UTF-16LE bytes, as Octopus's ToBase64 does.
func base64Filter(name string, args []string) (filterFunc, error) {
	enc := "utf8"
	switch len(args) {
	case 0:
	case 1:
		enc = strings.ToLower(args[0])
	default:
		return nil, fmt.Errorf("filter %s takes at most 1 argument, got %d", name, len(args))
	}
	switch enc {
	case "utf8", "utf-8":
		return plain(func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }), nil
	case "unicode":
		return plain(func(s string) string {
			units := utf16.Encode([]rune(s))
			b := make([]byte, 0, 2*len(units))
			for _, u := range units {
				b = append(b, byte(u), byte(u>>8))
			}
			return base64.StdEncoding.EncodeToString(b)
		}), nil
	}
	return nil, fmt.Errorf("filter %s: unknown encoding %q (want utf8 or unicode)", name, args[0])
}

// trimFilter removes white space from both ends, or with the argument
// "start" or "end" from that end only.
func trimFilter(name string, args []string) (filterFunc, error) {
	if len(args) == 0 {
		return plain(strings.TrimSpace), nil
	}
	if len(args) > 1 {
		return nil, fmt.Errorf("filter %s takes at most 1 argument, got %d", name, len(args))
	}
	switch strings.ToLower(args[0]) {
	case "start":
		return plain(func(s string) string { return strings.TrimLeftFunc(s, unicode.IsSpace) }), nil
	case "end":
		return plain(func(s string) string { return strings.TrimRightFunc(s, unicode.IsSpace) }), nil
	}
	return nil, fmt.Errorf("filter %s: unknown argument %q (want start or end)", name, args[0])
}

// replaceFilter replaces every match of a regular expression (Go's RE2
// syntax) with a replacement in .NET's syntax, or with nothing.
func replaceFilter(name string, args []string) (filterFunc, error) {
	if len(args) == 0 || len(args) > 2 {
		return nil, fmt.Errorf("filter %s takes a pattern and an optional replacement, got %d arguments", name, len(args))
	}
	re, err := regexp.Compile(args[0])
	if err != nil {
		msg := err.Error()
		if e, ok := err.(*syntax.Error); ok {
			msg = string(e.Code)
		}
		return nil, fmt.Errorf("filter %s: bad pattern %q: %s", name, args[0], msg)
	}
	var repl []replPiece
	if len(args) == 2 {
		repl = parseReplacement(args[1], re)
	}
	return func(s string) (string, error) {
		var b strings.Builder
		last := 0
		for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
			b.WriteString(s[last:m[0]])
			for _, p := range repl {
				b.WriteString(p.expand(s, m))
			}
			last = m[1]
			if b.Len() > MaxOutput {
				return "", fmt.Errorf("%w: Replace gives more than %d bytes", ErrTooLarge, MaxOutput)
			}
		}
		b.WriteString(s[last:])
		return b.String(), nil
	}, nil
}

// replPiece is literal text, or (group >= 0) a group of the match, or one
// of the special substitutions ` ' _ +.
type replPiece struct {
	text    string
	group   int
	special byte
}

// expand returns the text of p for match m of s.
func (p replPiece) expand(s string, m []int) string {
	group := func(i int) string {
		if m[2*i] < 0 {
			return ""
		}
		return s[m[2*i]:m[2*i+1]]
	}
	switch p.special {
	case '`':
		return s[:m[0]]
	case '\'':
		return s[m[1]:]
	case '_':
		return s
	case '+':
		return group(len(m)/2 - 1)
	}
	if p.group >= 0 {
		return group(p.group)
	}
	return p.text
}

// parseReplacement splits a .NET replacement string: $$ is a dollar sign,
// $& the match, $n and ${name} a group, $` the text before the match, $' the
// text after it, $+ the last group and $_ the whole input. A $ that starts
// none of these is literal, as in .NET.
func parseReplacement(r string, re *regexp.Regexp) []replPiece {
	var out []replPiece
	var lit strings.Builder
	emit := func(p replPiece) {
		if lit.Len() > 0 {
			out = append(out, replPiece{text: lit.String(), group: -1})
			lit.Reset()
		}
		out = append(out, p)
	}
	for i := 0; i < len(r); i++ {
		if r[i] != '$' || i+1 == len(r) {
			lit.WriteByte(r[i])
			continue
		}
		switch c := r[i+1]; {
		case c == '$':
			lit.WriteByte('$')
			i++
		case c == '&':
			emit(replPiece{group: 0})
			i++
		case c == '`' || c == '\'' || c == '_' || c == '+':
			emit(replPiece{group: -1, special: c})
			i++
		case '0' <= c && c <= '9':
			// The longest run of digits that numbers a group.
			best, bestLen := -1, 0
			for j := i + 1; j < len(r) && '0' <= r[j] && r[j] <= '9' && j-i <= 9; j++ {
				if n, _ := strconv.Atoi(r[i+1 : j+1]); n <= re.NumSubexp() {
					best, bestLen = n, j-i
				}
			}
			if best < 0 {
				lit.WriteByte('$')
				continue
			}
			emit(replPiece{group: best})
			i += bestLen
		case c == '{':
			end := strings.IndexByte(r[i+2:], '}')
			if end < 0 {
				lit.WriteByte('$')
				continue
			}
			name := r[i+2 : i+2+end]
			g := re.SubexpIndex(name)
			if n, err := strconv.Atoi(name); err == nil && n >= 0 && n <= re.NumSubexp() {
				g = n
			}
			if g < 0 {
				lit.WriteByte('$')
				continue
			}
			emit(replPiece{group: g})
			i += 2 + end
		default:
			lit.WriteByte('$')
		}
	}
	if lit.Len() > 0 {
		out = append(out, replPiece{text: lit.String(), group: -1})
	}
	return out
}

// Forms returns the forms in which a filter can write secret, other than
// secret itself: each filter's output that takes no argument or a fixed one
// (Trim start, Trim end, ToBase64 unicode). Replace, whose output depends on
// its pattern, and chains of filters are not covered. A masker adds these to
// the values it hides, so that #{Secret | XmlEscape} is masked in output as
// well as #{Secret}.
func Forms(secret string) []string {
	var out []string
	seen := map[string]bool{secret: true}
	for _, call := range [][]string{
		{"JsonEscape"}, {"XmlEscape"}, {"HtmlEscape"}, {"UriEscape"}, {"UriDataEscape"},
		{"YamlSingleQuoteEscape"}, {"YamlDoubleQuoteEscape"},
		{"PropertiesKeyEscape"}, {"PropertiesValueEscape"},
		{"ToBase64"}, {"ToBase64", "unicode"},
		{"ToLower"}, {"ToUpper"}, {"Trim"}, {"Trim", "start"}, {"Trim", "end"},
	} {
		f, err := newFilter(call[0], call[1:])
		if err != nil {
			continue // cannot happen: TestForms covers the list
		}
		v, _ := f(secret)
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
