package subst

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"

	"airlock.dev/airlock/internal/escape"
)

// filterFunc is a compiled filter. Only Replace can fail: when its result
// would exceed MaxOutput.
type filterFunc func(string) (string, error)

// plain wraps a filter that cannot fail.
func plain(f func(string) string) filterFunc {
	return func(s string) (string, error) { return f(s), nil }
}

// A filter is one row of the filter table. Its arguments follow one of two
// rules: a filter of variants takes no argument or one that names a
// variant (in any case); a filter that compiles takes arguments that are
// data (Replace's pattern), checked by compile.
type filter struct {
	name    string
	aliases []string // other names it answers to
	// variants are what the filter does without an argument (arg "") and
	// with each argument it takes; argWhat says what such an argument
	// names, for messages.
	variants []variant
	argWhat  string
	// compile, for a filter without variants, returns the filter for its
	// arguments or why they are wrong.
	compile func(name string, args []string) (filterFunc, error)
}

// A variant is what a filter does with one argument, or none (arg "").
type variant struct {
	arg   string
	other []string // other spellings of arg
	f     func(string) string
}

// filters is the one table of filters: newFilter, the list of names in
// messages and Forms all come from it, in its order.
var filters = []filter{
	{name: "JsonEscape", variants: only(escape.JSON)},
	{name: "XmlEscape", variants: only(escape.XML)},
	{name: "HtmlEscape", variants: only(escape.HTML)},
	{name: "UriEscape", variants: only(escape.URI)},
	{name: "UriDataEscape", variants: only(escape.URIData)},
	{name: "YamlSingleQuoteEscape", variants: only(escape.YAMLSingle)},
	{name: "YamlDoubleQuoteEscape", variants: only(escape.YAMLDouble)},
	{name: "PropertiesKeyEscape", variants: only(escape.PropertiesKey)},
	{name: "PropertiesValueEscape", variants: only(escape.PropertiesValue)},
	// ToBase64 encodes the UTF-8 bytes of its input, or with the argument
	// "unicode" its UTF-16LE bytes, as Octopus's ToBase64 does.
	{name: "ToBase64", aliases: []string{"Base64Encode"}, argWhat: "encoding", variants: []variant{
		{f: base64UTF8},
		{arg: "utf8", other: []string{"utf-8"}, f: base64UTF8},
		{arg: "unicode", f: base64UTF16},
	}},
	{name: "ToLower", variants: only(strings.ToLower)},
	{name: "ToUpper", variants: only(strings.ToUpper)},
	// Trim removes white space from both ends, or with the argument
	// "start" or "end" from that end only.
	{name: "Trim", argWhat: "argument", variants: []variant{
		{f: strings.TrimSpace},
		{arg: "start", f: func(s string) string { return strings.TrimLeftFunc(s, unicode.IsSpace) }},
		{arg: "end", f: func(s string) string { return strings.TrimRightFunc(s, unicode.IsSpace) }},
	}},
	{name: "Replace", compile: replaceFilter},
}

// only is the variants of a filter that takes no argument.
func only(f func(string) string) []variant { return []variant{{f: f}} }

// filterNames lists the filters for messages and documentation:
// "JsonEscape, …, ToBase64 (or Base64Encode), …, Replace".
var filterNames = func() string {
	names := make([]string, len(filters))
	for i, f := range filters {
		names[i] = f.name
		if len(f.aliases) > 0 {
			names[i] += " (or " + strings.Join(f.aliases, ", ") + ")"
		}
	}
	return strings.Join(names, ", ")
}()

// lookupFilter returns the row of the filter name (any case).
func lookupFilter(name string) (*filter, bool) {
	for i := range filters {
		f := &filters[i]
		if strings.EqualFold(name, f.name) || slices.ContainsFunc(f.aliases, func(a string) bool { return strings.EqualFold(name, a) }) {
			return f, true
		}
	}
	return nil, false
}

// newFilter compiles the filter name (any case) with its arguments.
func newFilter(name string, args []string) (filterFunc, error) {
	f, ok := lookupFilter(name)
	switch {
	case !ok:
		return nil, fmt.Errorf("unknown filter %q (want one of %s)", name, filterNames)
	case f.compile != nil:
		return f.compile(name, args)
	case len(args) == 0:
		return plain(f.variants[0].f), nil
	case len(f.variants) == 1:
		return nil, fmt.Errorf("filter %s takes no arguments, got %d", name, len(args))
	case len(args) > 1:
		return nil, fmt.Errorf("filter %s takes at most 1 argument, got %d", name, len(args))
	}
	var want []string
	for _, v := range f.variants[1:] {
		if strings.EqualFold(args[0], v.arg) || slices.ContainsFunc(v.other, func(o string) bool { return strings.EqualFold(args[0], o) }) {
			return plain(v.f), nil
		}
		want = append(want, v.arg)
	}
	return nil, fmt.Errorf("filter %s: unknown %s %q (want %s)", name, f.argWhat, args[0], strings.Join(want, " or "))
}

func base64UTF8(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func base64UTF16(s string) string {
	units := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(units))
	for _, u := range units {
		b = append(b, byte(u), byte(u>>8))
	}
	return base64.StdEncoding.EncodeToString(b)
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
// secret itself: the output of every variant of the filter table (each
// filter without an argument, and with each fixed argument it takes, such
// as Trim start or ToBase64 unicode). Replace, whose output depends on its
// pattern, and chains of filters are not covered. A masker adds these to
// the values it hides, so that #{Secret | XmlEscape} is masked in output as
// well as #{Secret}.
func Forms(secret string) []string {
	var out []string
	seen := map[string]bool{secret: true}
	for _, f := range filters {
		for _, v := range f.variants {
			if s := v.f(secret); !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}
