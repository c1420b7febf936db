package structured

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"airlock.dev/airlock/internal/escape"
)

// propEntry is one key of a .properties file: the byte ranges of its raw
// key and value (the value runs to the end of the logical line).
type propEntry struct {
	keyStart, keyEnd int
	valStart, valEnd int
	hasSep           bool
}

// properties replaces values in a Java .properties file, read as
// java.util.Properties.load reads it: logical lines joined by a trailing
// backslash, # and ! comments, a key ended by an unescaped =, : or white
// space.
func (r *replacer) properties() ([]byte, error) {
	src := r.src
	var edits []edit
	utf8File := utf8.Valid(src)
	for _, e := range propEntries(src) {
		key, err := r.propUnescape(src, e.keyStart, e.keyEnd, utf8File)
		if err != nil {
			return nil, err
		}
		line := r.line(e.keyStart)
		name, value, ok, err := r.lookupPath(key, line)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		text := escape.PropertiesValue(value)
		if !e.hasSep && e.valStart == e.keyEnd {
			text = "=" + text
		}
		edits = append(edits, edit{start: e.valStart, end: e.valEnd, text: []byte(text)})
		r.record(name, key, line)
	}
	return r.edited(src, edits)
}

func isPropSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\f' }
func isEOL(c byte) bool       { return c == '\n' || c == '\r' }

// skipEOL returns the offset after the line break at i.
func skipEOL(src []byte, i int) int {
	if i < len(src) && src[i] == '\r' {
		i++
	}
	if i < len(src) && src[i] == '\n' {
		i++
	}
	return i
}

// continuation reports whether src[i] is a backslash that joins the next
// line, and returns the offset where the logical line goes on: after the
// line break and the next line's leading white space.
func continuation(src []byte, i int) (int, bool) {
	if src[i] != '\\' || i+1 < len(src) && !isEOL(src[i+1]) {
		return i, false
	}
	j := skipEOL(src, i+1)
	for j < len(src) && isPropSpace(src[j]) {
		j++
	}
	return j, true
}

// propEntries finds the keys of a .properties file.
func propEntries(src []byte) []propEntry {
	var out []propEntry
	for i := 0; i < len(src); {
		for i < len(src) && isPropSpace(src[i]) {
			i++
		}
		if i >= len(src) {
			break
		}
		if isEOL(src[i]) {
			i = skipEOL(src, i)
			continue
		}
		if src[i] == '#' || src[i] == '!' {
			for i < len(src) && !isEOL(src[i]) {
				i++
			}
			i = skipEOL(src, i)
			continue
		}
		e := propEntry{keyStart: i}
		e.keyEnd = scanLogical(src, i, func(c byte) bool { return isPropSpace(c) || c == '=' || c == ':' })
		e.valStart = skipPropSep(src, e.keyEnd, &e)
		e.valEnd = scanLogical(src, e.valStart, func(byte) bool { return false })
		i = e.valEnd
		out = append(out, e)
		i = skipEOL(src, i)
	}
	return out
}

// scanLogical returns the offset of the first byte from i on, in the
// logical line, that is unescaped and stop, or of the end of the line.
func scanLogical(src []byte, i int, stop func(byte) bool) int {
	for i < len(src) && !isEOL(src[i]) && !stop(src[i]) {
		if j, ok := continuation(src, i); ok {
			i = j
			continue
		}
		if src[i] == '\\' {
			i++
		}
		i++
	}
	return min(i, len(src))
}

// skipPropSep moves past the white space, the one = or :, and the white
// space again that separate a key from its value.
func skipPropSep(src []byte, i int, e *propEntry) int {
	skip := func() {
		for i < len(src) {
			// A backslash that ends the file joins nothing: it is left
			// to the value, which a replacement then replaces with it
			// (else the new value would follow it, escaped).
			if j, ok := continuation(src, i); ok && i+1 < len(src) {
				i = j
			} else if isPropSpace(src[i]) {
				i++
			} else {
				return
			}
		}
	}
	skip()
	if i < len(src) && (src[i] == '=' || src[i] == ':') {
		e.hasSep = true
		i++
		skip()
	}
	return i
}

// propUnescape decodes the key src[from:to]. Bytes outside ASCII are read
// as UTF-8 when the whole file is UTF-8, as ISO-8859-1 otherwise.
func (r *replacer) propUnescape(src []byte, from, to int, utf8File bool) (string, error) {
	var b strings.Builder
	var units []uint16
	flush := func() {
		if len(units) > 0 {
			b.WriteString(string(utf16.Decode(units)))
			units = units[:0]
		}
	}
	for i := from; i < to; {
		c := src[i]
		if c != '\\' {
			flush()
			if c < utf8.RuneSelf || utf8File {
				b.WriteByte(c)
			} else {
				b.WriteRune(rune(c))
			}
			i++
			continue
		}
		if j, ok := continuation(src, i); ok {
			i = j
			continue
		}
		if i+1 >= to {
			break
		}
		switch c := src[i+1]; c {
		case 'u':
			n, err := strconv.ParseUint(string(src[i+2:min(i+6, to)]), 16, 16)
			if err != nil || i+6 > to {
				line, col := lineCol(src, i)
				return "", r.parseError(line, col, `malformed \uXXXX escape in a key`)
			}
			units = append(units, uint16(n))
			i += 6
			continue
		case 't':
			flush()
			b.WriteByte('\t')
		case 'n':
			flush()
			b.WriteByte('\n')
		case 'r':
			flush()
			b.WriteByte('\r')
		case 'f':
			flush()
			b.WriteByte('\f')
		default:
			flush()
			if c < utf8.RuneSelf || utf8File {
				b.WriteByte(c)
			} else {
				b.WriteRune(rune(c))
			}
		}
		i += 2
	}
	flush()
	return b.String(), nil
}

// ini replaces values in an INI file: [section] headers, key = value or
// key: value lines, ; and # comment lines.
func (r *replacer) ini() ([]byte, error) {
	src := r.src
	var edits []edit
	section := ""
	for start := 0; start < len(src); {
		end := bytes.IndexByte(src[start:], '\n')
		if end < 0 {
			end = len(src)
		} else {
			end += start
		}
		next := end + 1
		if end > start && src[end-1] == '\r' {
			end--
		}
		line := src[start:end]
		lineNo := r.line(start)
		t := bytes.TrimLeft(line, " \t")
		indent := len(line) - len(t)
		switch {
		case len(bytes.TrimSpace(t)) == 0 || t[0] == ';' || t[0] == '#':
		case t[0] == '[':
			j := bytes.IndexByte(t, ']')
			if j < 0 {
				return nil, r.parseError(lineNo, indent+1, "section header without ]")
			}
			if rest := bytes.TrimSpace(t[j+1:]); len(rest) > 0 && rest[0] != ';' && rest[0] != '#' {
				return nil, r.parseError(lineNo, indent+j+2, "text after the section header")
			}
			section = string(bytes.TrimSpace(t[1:j]))
		default:
			sep := bytes.IndexAny(t, "=:")
			keyPart := t
			if sep >= 0 {
				keyPart = t[:sep]
			}
			key := string(bytes.TrimSpace(keyPart))
			if key == "" {
				return nil, r.parseError(lineNo, indent+1, "a line with no key")
			}
			p := key
			if section != "" {
				p = section + ":" + key
			}
			name, value, ok, err := r.lookupPath(p, lineNo)
			if err != nil {
				return nil, err
			}
			if !ok {
				break
			}
			switch {
			case strings.ContainsAny(value, "\r\n"):
				return nil, r.valueError(name, lineNo, "value has a line break, which an INI file cannot hold")
			case strings.TrimSpace(value) != value:
				return nil, r.valueError(name, lineNo, "value starts or ends with white space, which INI readers drop")
			}
			valEnd := start + len(bytes.TrimRight(line, " \t"))
			var e edit
			if sep < 0 {
				e = edit{start: valEnd, end: valEnd, text: []byte(" = " + value)}
			} else {
				valStart := start + indent + sep + 1
				for valStart < valEnd && (src[valStart] == ' ' || src[valStart] == '\t') {
					valStart++
				}
				text := value
				if valStart == valEnd && valStart == start+indent+sep+1 && value != "" {
					text = " " + value // key= with nothing after it
				}
				e = edit{start: valStart, end: valEnd, text: []byte(text)}
			}
			edits = append(edits, e)
			r.record(name, p, lineNo)
		}
		start = next
	}
	return r.edited(src, edits)
}
