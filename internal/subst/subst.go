// Package subst implements airlock's #{…} template syntax, that of Octopus
// Deploy: references, filters and blocks. It is shared by the build-time
// reference checks and apply-time substitution.
//
// # References
//
// A reference is #{Name}, where Name is [A-Za-z_][A-Za-z0-9_]* optionally
// followed by dotted segments of [A-Za-z0-9_-]+ (Airlock.Release.Version,
// Steps.migrate.RowCount). ##{ is an escape that produces a literal #{.
// Every other byte passes through unchanged, so templates may be binary.
// A tag runs from #{ to the first } and must end on its line. A plain
// reference is exactly #{Name}: #{ Name} and #{Name } are errors.
//
// # Filters
//
// Filters change a value, applied left to right, with Octopus's names (in
// any case) and meaning:
//
//	#{Password | XmlEscape}               in web.config: & < > " ' as entities
//	#{Password | JsonEscape}              inside a JSON string: " \ and control characters
//	#{Name | ToLower | UriDataEscape}     chained
//	#{Path | Replace "\\" "/"}            regular expression → replacement
//
// The filters are JsonEscape (no surrounding quotes), XmlEscape, HtmlEscape
// (which also escapes /), UriEscape (.NET's Uri.EscapeUriString: reserved
// characters such as : / ? & stay), UriDataEscape (.NET's
// Uri.EscapeDataString: only A-Z a-z 0-9 - . _ ~ stay; use it for a value
// inside a URI), YamlSingleQuoteEscape, YamlDoubleQuoteEscape,
// PropertiesKeyEscape, PropertiesValueEscape (see internal/escape for each),
// ToBase64 (base64 of the UTF-8 bytes; ToBase64 unicode for UTF-16LE;
// Base64Encode is accepted as another name), ToLower, ToUpper, Trim (white
// space at both ends; Trim start or Trim end for one), and Replace PATTERN
// [REPLACEMENT]. Replace's pattern is a regular expression in Go's RE2
// syntax (.NET's, as Octopus uses, without backreferences or look-around);
// its replacement uses .NET's $1, ${name}, $& and $$, and without a
// replacement the matches are removed. Arguments are bare words or "quoted
// text"; quoted text cannot hold " or a line break, and nothing in it is an
// escape.
// Octopus's other filters (Format, Substring, Truncate, NowDate, Markdown…)
// are not offered.
//
// # Blocks
//
//	#{if Debug}debug="true"#{/if}
//	#{if Env == "Production"}…#{elseif Env != Other}…#{else}…#{/if}
//	#{unless Tls}http#{else}https#{/unless}
//	#{each host in Hosts}server #{host}#{if each.Last};#{else},#{/if}#{/each}
//
// An #{if} holds when its value is true by the rule of Octopus's template
// engine (Octostache): false when it is empty, "0", or "false" or "no" in
// any case with white space around, and true otherwise (so "False", " NO "
// and "0" are false; " 0" and white space alone are true). A
// condition may compare two operands with == or != (exact, case-sensitive
// comparison); an operand is a name with filters or "quoted text".
// #{unless} inverts the condition; only #{if} has #{elseif}; both may end
// with one #{else}.
//
// #{each item in List} repeats its body for each part of List split at
// commas (as they are: "a, b" gives "a" and " b"; an empty List repeats
// nothing). Inside, #{item} is the part, and #{each.Index} (from 0),
// #{each.First} and #{each.Last} ("True" or "False") describe the innermost
// loop; Octopus's names Octopus.Template.Each.Index, .First and .Last mean
// the same. The loop variable is no reference, has no fields (#{item.x} is
// an error), and hides a variable of the same name inside the block.
// Blocks nest up to 100 deep, and keep the text around their tags as it is,
// line breaks included.
//
// # Errors
//
// An unterminated, empty or invalid tag, an unknown filter, a wrong filter
// argument (a bad pattern included), and an #{else}, #{elseif} or closing
// tag that does not match its block, or a block left open, are a
// [SyntaxError] with the line and column of the tag (or of the filter or
// word at fault); Refs and Expand report the same syntax errors.
package subst

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// maxQuoted bounds how much template text a SyntaxError quotes.
const maxQuoted = 40

// Ref is one #{Name} reference; Line and Col (1-based, Col counted in
// UTF-8 characters, an invalid byte counting as one) locate its '#'.
type Ref struct {
	Name      string
	Line, Col int
}

// SyntaxError is a malformed reference at Line:Col of the template.
type SyntaxError struct {
	Line, Col int
	Msg       string
}

// Error returns "line 3:7: unterminated reference "#{Port"".
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d:%d: %s", e.Line, e.Col, e.Msg)
}

// UnresolvedError lists, once each and sorted, the names Expand could not
// resolve. It never carries values.
type UnresolvedError struct {
	Names []string
}

// Error returns "unresolved reference #{A}" or "unresolved references #{A}, #{B}".
func (e *UnresolvedError) Error() string {
	refs := make([]string, len(e.Names))
	for i, n := range e.Names {
		refs[i] = "#{" + n + "}"
	}
	if len(refs) == 1 {
		return "unresolved reference " + refs[0]
	}
	return "unresolved references " + strings.Join(refs, ", ")
}

// Refs returns every variable reference in src, in order, or the first
// syntax error: the names in #{Name} and in filter expressions, in the
// conditions of #{if}, #{elseif} and #{unless}, and the list of #{each}, in
// every branch, taken or not. Loop variables and loop values (#{item},
// #{each.Index}) are not references. A tag that uses two names gives two
// Refs, both at the tag's '#'.
func Refs(src []byte) ([]Ref, error) {
	t, err := parse(src)
	if err != nil {
		return nil, err
	}
	return t.refs, nil
}

// Expand evaluates src with the values lookup returns for its names. Values
// are copied as they are and never expanded again. Only the branches taken
// are evaluated, so lookup sees only the names they use.
//
// A syntax error is returned as *SyntaxError, before lookup is called. Names
// lookup does not know are returned together as *UnresolvedError (meanwhile
// an unknown name in a condition counts as false, and an unknown list as
// empty). Output beyond [MaxOutput], or loops that would run too long,
// return an error wrapping [ErrTooLarge].
func Expand(src []byte, lookup func(name string) (string, bool)) ([]byte, error) {
	return expand(src, lookup, limits{output: MaxOutput, work: maxWork})
}

func expand(src []byte, lookup func(name string) (string, bool), lim limits) ([]byte, error) {
	t, err := parse(src)
	if err != nil {
		return nil, err
	}
	e := &evaluator{limits: lim, lookup: lookup, out: make([]byte, 0, len(src)), missing: map[string]bool{}}
	if err := e.nodes(t.nodes); err != nil {
		return nil, err
	}
	if len(e.missing) > 0 {
		names := make([]string, 0, len(e.missing))
		for n := range e.missing {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, &UnresolvedError{Names: names}
	}
	return e.out, nil
}

// quote returns text as a Go string literal, without a trailing line end
// and shortened to maxQuoted bytes.
func quote(text []byte) string {
	text = bytes.TrimRight(text, "\r\n")
	if len(text) > maxQuoted {
		return fmt.Sprintf("%q...", text[:maxQuoted])
	}
	return fmt.Sprintf("%q", text)
}

// validName reports whether name is [A-Za-z_][A-Za-z0-9_]* followed by any
// number of "." [A-Za-z0-9_-]+ segments.
func validName(name []byte) bool {
	if len(name) == 0 || !(isLetter(name[0]) || name[0] == '_') {
		return false
	}
	first, segLen := true, 1
	for _, b := range name[1:] {
		switch {
		case b == '.':
			if segLen == 0 {
				return false
			}
			first, segLen = false, 0
			continue
		case isLetter(b) || isDigit(b) || b == '_':
		case b == '-' && !first:
		default:
			return false
		}
		segLen++
	}
	return segLen > 0
}

func isLetter(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }
func isDigit(b byte) bool  { return '0' <= b && b <= '9' }

// cursor turns byte offsets, asked for in increasing order, into 1-based
// lines and columns in time linear in the length of the text overall.
type cursor struct {
	done      int // offset up to which newlines have been counted
	line      int // lines before done (0-based)
	lineStart int // offset of the line containing done
	colAt     int // offset whose column is col
	col       int // 0-based column of colAt
}

// pos returns the line and column of offset p (p must not decrease).
func (c *cursor) pos(src []byte, p int) (line, col int) {
	for {
		i := bytes.IndexByte(src[c.done:p], '\n')
		if i < 0 {
			break
		}
		c.line++
		c.done += i + 1
		c.lineStart = c.done
	}
	c.done = p
	if c.colAt < c.lineStart {
		c.colAt, c.col = c.lineStart, 0
	}
	c.col += utf8.RuneCount(src[c.colAt:p])
	c.colAt = p
	return c.line + 1, c.col + 1
}
