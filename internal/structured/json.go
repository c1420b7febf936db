package structured

import (
	"bytes"
	"encoding/json"
	"encoding/json/jsontext"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"

	"airlock.dev/airlock/internal/escape"
)

// jsonNumber is the syntax of a JSON number.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// jsonValid reports whether b is one JSON value (duplicate names allowed).
func jsonValid(b []byte) bool {
	d := jsontext.NewDecoder(bytes.NewReader(b), jsontext.AllowDuplicateNames(true))
	if _, err := d.ReadValue(); err != nil {
		return false
	}
	_, err := d.ReadToken()
	return err == io.EOF
}

// jsonFrame is an object or array being read.
type jsonFrame struct {
	object bool
	index  int    // array: the next element's index
	key    string // object: the key of the next value
}

// json replaces values in a JSON document, editing only their bytes.
func (r *replacer) json() ([]byte, error) {
	src := r.src
	d := jsontext.NewDecoder(bytes.NewReader(src), jsontext.AllowDuplicateNames(true))
	var stack []jsonFrame
	var edits []edit
	nodes := 0
	expectKey := false  // the top of stack is an object and a key comes next
	advance := func() { // past a value in the innermost container
		if len(stack) == 0 {
			return
		}
		if top := &stack[len(stack)-1]; top.object {
			expectKey = true
		} else {
			top.index++
		}
	}
	for done := false; !done; {
		switch {
		case expectKey:
			tok, err := d.ReadToken()
			if err != nil {
				return nil, r.jsonError(err)
			}
			if tok.Kind() == '}' {
				stack = stack[:len(stack)-1]
				done = len(stack) == 0
				expectKey = false
				advance()
			} else {
				stack[len(stack)-1].key = tok.String()
				expectKey = false
			}
			continue
		case len(stack) > 0 && d.PeekKind() == ']':
			if _, err := d.ReadToken(); err != nil {
				return nil, r.jsonError(err)
			}
			stack = stack[:len(stack)-1]
			done = len(stack) == 0
			advance()
			continue
		case len(stack) > 0:
			p := jsonPath(stack)
			start := skipJSONSpace(src, int(d.InputOffset()))
			line := r.line(start)
			name, value, ok, err := r.lookupPath(p, line)
			if err != nil {
				return nil, err
			}
			if ok {
				raw, err := d.ReadValue()
				if err != nil {
					return nil, r.jsonError(err)
				}
				text, err := r.jsonValue(name, value, raw, src, start, line)
				if err != nil {
					return nil, err
				}
				edits = append(edits, edit{start: start, end: start + len(raw), text: text})
				r.record(name, p, line)
				advance()
				continue
			}
		}
		if err := r.tick(); err != nil {
			return nil, err
		}
		if nodes++; nodes > MaxNodes {
			return nil, r.limit("nodes", MaxNodes, skipJSONSpace(src, int(d.InputOffset())))
		}
		if k := d.PeekKind(); (k == '{' || k == '[') && len(stack) >= MaxDepth {
			return nil, r.limit("depth", MaxDepth, skipJSONSpace(src, int(d.InputOffset())))
		}
		tok, err := d.ReadToken()
		if err != nil {
			return nil, r.jsonError(err)
		}
		switch tok.Kind() {
		case '{':
			stack = append(stack, jsonFrame{object: true})
			expectKey = true
		case '[':
			stack = append(stack, jsonFrame{})
		default:
			done = len(stack) == 0
			advance()
		}
	}
	extra := skipJSONSpace(src, int(d.InputOffset()))
	if _, err := d.ReadToken(); err != io.EOF {
		if err == nil {
			line, col := lineCol(src, extra)
			return nil, r.parseError(line, col, "more than one value in the file")
		}
		return nil, r.jsonError(err)
	}
	return r.edited(src, edits)
}

// jsonPath returns the path of the next value.
func jsonPath(stack []jsonFrame) string {
	parts := make([]string, len(stack))
	for i, f := range stack {
		if f.object {
			parts[i] = f.key
		} else {
			parts[i] = strconv.Itoa(f.index)
		}
	}
	return strings.Join(parts, ":")
}

// skipJSONSpace returns the offset of the next token at or after off:
// past white space and the , or : that separate values.
func skipJSONSpace(src []byte, off int) int {
	for off < len(src) && bytes.IndexByte([]byte(" \t\r\n,:"), src[off]) >= 0 {
		off++
	}
	return off
}

// jsonValue returns the text that replaces raw, the value at start, with
// the value of variable name.
func (r *replacer) jsonValue(name, value string, raw []byte, src []byte, start, line int) ([]byte, error) {
	switch raw[0] {
	case '{', '[':
		// White space may surround an object or array, not a scalar: a
		// number written here is read back as a number the next time,
		// where " 2.5e3" is not one (it would become a string).
		v := []byte(strings.TrimSpace(value))
		scalar := len(v) > 0 && v[0] != '{' && v[0] != '['
		if !jsonValid(v) || scalar && len(v) != len(value) {
			return nil, r.valueError(name, line, "value must be JSON to replace an %s", map[byte]string{'{': "object", '[': "array"}[raw[0]])
		}
		var b bytes.Buffer
		if bytes.ContainsRune(raw, '\n') {
			prefix, indent := jsonIndent(src, start, raw)
			err := json.Indent(&b, v, prefix, indent)
			if err != nil {
				return nil, r.valueError(name, line, "value must be JSON to replace an object or array")
			}
		} else if err := json.Compact(&b, v); err != nil {
			return nil, r.valueError(name, line, "value must be JSON to replace an object or array")
		}
		return b.Bytes(), nil
	case 't', 'f':
		if strings.EqualFold(value, "true") || strings.EqualFold(value, "false") {
			return []byte(strings.ToLower(value)), nil
		}
	case '"', 'n':
	default: // a number
		if jsonNumber.MatchString(value) {
			return []byte(value), nil
		}
	}
	return []byte(`"` + escape.JSON(value) + `"`), nil
}

// jsonIndent returns the indentation of the line where the container at
// start begins, and the step by which its first member is indented further
// (two spaces when that cannot be told).
func jsonIndent(src []byte, start int, raw []byte) (prefix, indent string) {
	lineStart := bytes.LastIndexByte(src[:start], '\n') + 1
	prefix = string(src[lineStart:start])
	prefix = prefix[:len(prefix)-len(strings.TrimLeft(prefix, " \t"))]
	indent = "  "
	if nl := bytes.IndexByte(raw, '\n'); nl >= 0 {
		next := raw[nl+1:]
		ws := string(next[:len(next)-len(bytes.TrimLeft(next, " \t"))])
		if rest, ok := strings.CutPrefix(ws, prefix); ok && rest != "" {
			indent = rest
		}
	}
	return prefix, indent
}

// jsonError turns a decoding error into a ParseError with a position.
func (r *replacer) jsonError(err error) error {
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		line, col := lineCol(r.src, int(se.ByteOffset))
		msg := se.Err
		if msg == nil {
			msg = err
		}
		return r.parseError(line, col, "%v", msg)
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		line, col := lineCol(r.src, len(r.src))
		return r.parseError(line, col, "unexpected end of JSON")
	}
	return r.parseError(0, 0, "%v", err)
}
