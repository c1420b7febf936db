// Package subst implements airlock's #{Name} template syntax (as in Octopus
// Deploy), shared by the build-time reference checks and apply-time
// substitution.
//
// A reference is #{Name}, where Name is [A-Za-z_][A-Za-z0-9_]* optionally
// followed by dotted segments of [A-Za-z0-9_-]+ (Airlock.Release.Version,
// Steps.migrate.RowCount). ##{ is an escape that produces a literal #{.
// Every other byte passes through unchanged, so templates may be binary.
// A #{ without a closing } on the same line, an empty #{} and an invalid
// name are syntax errors.
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

// Refs returns every reference in src, in order, or the first syntax error.
func Refs(src []byte) ([]Ref, error) {
	var refs []Ref
	err := scan(src, func([]byte) {}, func(r Ref) { refs = append(refs, r) })
	if err != nil {
		return nil, err
	}
	return refs, nil
}

// Expand replaces every reference in src with the value lookup returns for
// its name, in one pass: values are copied as they are and never expanded
// again. A syntax error is returned as *SyntaxError; names lookup does not
// know are returned together as *UnresolvedError.
func Expand(src []byte, lookup func(name string) (string, bool)) ([]byte, error) {
	out := make([]byte, 0, len(src))
	missing := map[string]bool{}
	err := scan(src,
		func(lit []byte) { out = append(out, lit...) },
		func(r Ref) {
			v, ok := lookup(r.Name)
			if !ok {
				missing[r.Name] = true
				return
			}
			out = append(out, v...)
		})
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		names := make([]string, 0, len(missing))
		for n := range missing {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, &UnresolvedError{Names: names}
	}
	return out, nil
}

// scan walks src once, calling lit for each run of literal text and ref for
// each reference, in order. It stops at the first syntax error.
func scan(src []byte, lit func([]byte), ref func(Ref)) error {
	var c cursor
	start := 0 // start of the literal text not yet passed to lit
	for k := 0; ; {
		h := bytes.IndexByte(src[k:], '#')
		if h < 0 {
			break
		}
		p := k + h
		switch {
		case bytes.HasPrefix(src[p:], []byte("##{")):
			// Escape: keep the first '#', drop the second, go on after '{'.
			lit(src[start : p+1])
			start, k = p+2, p+3
		case bytes.HasPrefix(src[p:], []byte("#{")):
			end, err := reference(src, p, &c)
			if err != nil {
				return err
			}
			lit(src[start:p])
			line, col := c.pos(src, p)
			ref(Ref{Name: string(src[p+2 : end]), Line: line, Col: col})
			start, k = end+1, end+1
		default:
			k = p + 1
		}
	}
	lit(src[start:])
	return nil
}

// reference checks the reference whose "#{" is at p and returns the index
// of its closing '}'.
func reference(src []byte, p int, c *cursor) (int, error) {
	end := p + 2
	for end < len(src) && src[end] != '}' && src[end] != '\n' {
		end++
	}
	fail := func(format string) error {
		line, col := c.pos(src, p)
		return &SyntaxError{Line: line, Col: col, Msg: fmt.Sprintf(format, quote(src[p:min(end+1, len(src))]))}
	}
	switch {
	case end == len(src) || src[end] == '\n':
		return 0, fail("unterminated reference %s")
	case end == p+2:
		return 0, fail("empty reference %s")
	case !validName(src[p+2 : end]):
		return 0, fail("invalid reference %s (want a name such as Port or Airlock.Release.Version)")
	}
	return end, nil
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
