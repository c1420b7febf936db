// Package structured replaces values in configuration files by the key path
// a variable names, as Octopus Deploy's "structured configuration
// variables" feature does, in JSON, YAML, XML, Java .properties and INI
// files.
//
// Given a file's name, its bytes and a set of variables (name → value),
// [Replace] finds each value whose location in the file a variable names and
// writes the variable's value there, keeping the rest of the file as it is as
// far as the format allows. It returns the new bytes, which parse in the same
// format, and which variable went where (for the receipt). A file that does
// not parse is a [*ParseError] naming the file and the position; a value that
// cannot be written where its variable points is a [*ValueError]. Neither
// ever holds a value, since values may be secret.
//
// # Formats
//
// The format comes from the file name: .json; .yaml and .yml; .xml and
// .config; .properties; .ini. A file with another name is read as JSON if it
// parses as JSON (Octopus tries JSON first too) and is an error otherwise;
// [ReplaceAs] names the format outright. Files are UTF-8, with or without a
// byte order mark (which is kept); at most [MaxSize] bytes.
//
// # JSON and YAML
//
// A variable name is the keys from the root separated by colons, array
// (sequence) elements by their index from 0; keys match in any case, as in
// Octopus:
//
//	{"Logging": {"LogLevel": {"Default": "Warning"}}, "Hosts": ["a", "b"]}
//
//	logging:loglevel:default = Debug   → "Default": "Debug"
//	Hosts:1                  = c       → ["a", "c"]
//	Hosts                    = ["x"]   → "Hosts": ["x"]
//
// A value keeps the type of the one it replaces: a number stays a number
// when the new value is a number (in JSON's syntax for JSON, YAML's for
// YAML), a boolean stays a boolean when the new value is true or false in
// any case; anything else, and whatever replaces a string or null, is
// written as a string. An object or array (mapping or sequence) is replaced
// by the value read as JSON (as YAML in a YAML file), which must parse; a
// variable that names something inside it then has no effect. YAML aliases
// are not followed, and a value under an alias is not replaced. When two
// variables differ only in case and name the same place, that is an error.
//
// A YAML string is quoted where a reader could take it for another type,
// YAML 1.1 readers included (so no, off and 1:20 are written "no", "off"
// and "1:20").
//
// JSON files keep their bytes except the values replaced; a replaced object
// or array is indented like the line it starts on. YAML files are written
// again from their parsed form, keeping comments, order, quoting style,
// anchors and the most common indentation, but not blank lines or spacing
// within a line; a file where nothing is replaced is returned unchanged.
//
// # XML
//
// A variable whose name starts with / is an XPath location path that selects
// elements or attributes; the supported subset is
//
//	/configuration/appSettings/add[@key='DbPassword']/@value
//	//connectionString                  every connectionString element
//	/configuration/email[2]             the second email child, from 1
//	/config/item[@enabled]/@name        elements that have the attribute
//	/config/user[name='admin']/password elements with a text-only child
//	                                    whose text is 'admin'
//	/*:server/*:port                    any namespace; p:name with a prefix
//	                                    the file declares
//	/document/environment/text()        the text of an element
//
// that is, steps separated by / or //, each an element name, * or
// prefix:name, with any number of [n], [@attr], [@attr='v'] and
// [child='v'] predicates, and at the end an @attr or text(). Like XPath,
// a name without a prefix selects elements in no namespace. A selected
// attribute gets the value, escaped; an element with only text (or nothing,
// or one CDATA section, which is kept) gets it as escaped text; an element
// with child elements gets it as an XML fragment, which must be well formed,
// as in Octopus. A variable may select many nodes; two variables may not
// select the same one, and a node inside a replaced element is left to the
// outer replacement. Document type declarations (<!DOCTYPE …>) are refused,
// so no entity is ever expanded.
//
// # .properties and INI
//
// In a Java .properties file a variable names a key (after its escapes are
// read), in any case; the value is written with .properties escapes. In an
// INI file a variable names section:key, or key for a key before the first
// section, in any case; the value is written as it is and can neither hold
// a line break nor start or end with white space, and everything after the
// = or : is the value (no inline comments, no continuation lines). Everything else in both formats is kept byte for
// byte.
//
// Variables that name nothing in the file are not an error: a set of
// variables usually serves many files. Octopus skips variables whose names
// start with "Octopus"; callers here pass only the variables they mean.
package structured

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxSize is the largest file Replace reads, and the largest it writes.
const MaxSize = 16 << 20

// The limits that keep the memory and time of a replacement bounded by the
// size of the file, whoever wrote it: a JSON, YAML or XML file (or a value
// read as one) nested deeper than MaxDepth, or holding more than MaxNodes
// values (elements and attributes in XML), is refused before it is read
// further, and so is a result larger than MaxSize (values written into
// many places).
const (
	MaxDepth = 256
	MaxNodes = 100_000
)

// LimitError is a file refused because it exceeds one of the limits above.
// Limit is "depth", "nodes" or "size".
type LimitError struct {
	File  string
	Line  int // where the limit was passed; 0 when unknown
	Limit string
	Max   int
}

func (e *LimitError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason())
	}
	return fmt.Sprintf("%s: %s", e.File, e.Reason())
}

// Reason is the error without the file and line.
func (e *LimitError) Reason() string {
	what := map[string]string{
		"depth": "nested more than %d levels deep",
		"nodes": "holds more than %d values",
		"size":  "would grow larger than %d bytes",
	}[e.Limit]
	if what == "" {
		what = e.Limit + " exceeds %d"
	}
	return fmt.Sprintf(what, e.Max) + fmt.Sprintf(" (the %s limit of structured replacement)", e.Limit)
}

// Format is a configuration file format.
type Format int

// The formats.
const (
	JSON Format = iota + 1
	YAML
	XML
	Properties
	INI
)

func (f Format) String() string {
	switch f {
	case JSON:
		return "JSON"
	case YAML:
		return "YAML"
	case XML:
		return "XML"
	case Properties:
		return "properties"
	case INI:
		return "INI"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ErrUnknownFormat is returned for a file whose name does not tell its
// format and that is not JSON.
var ErrUnknownFormat = errors.New("unknown configuration format")

// Applied records one value written: the variable, where (the path in the
// file's own spelling), and the line of the value in the file it was read
// from.
type Applied struct {
	Name string
	Path string
	Line int
}

// Result is a replaced file.
type Result struct {
	Data    []byte
	Format  Format
	Applied []Applied // in the order of the file
}

// ParseError is a file that does not parse; Line and Col (1-based, Col in
// bytes) are 0 when unknown.
type ParseError struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *ParseError) Error() string {
	switch {
	case e.Line > 0 && e.Col > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// ValueError is a variable that cannot be applied where it points. It names
// the variable, never its value.
type ValueError struct {
	File string
	Line int // of the place in the file; 0 when the name itself is at fault
	Name string
	Msg  string
}

func (e *ValueError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: variable %s: %s", e.File, e.Line, e.Name, e.Msg)
	}
	return fmt.Sprintf("%s: variable %s: %s", e.File, e.Name, e.Msg)
}

// Detect returns the format of file name, whose content is data.
func Detect(name string, data []byte) (Format, error) {
	switch strings.ToLower(path.Ext(strings.ReplaceAll(name, `\`, "/"))) {
	case ".json":
		return JSON, nil
	case ".yaml", ".yml":
		return YAML, nil
	case ".xml", ".config":
		return XML, nil
	case ".properties":
		return Properties, nil
	case ".ini":
		return INI, nil
	}
	if body, _, err := decodeBOM(data); err == nil && jsonValid(body) {
		return JSON, nil
	}
	return 0, fmt.Errorf("%s: %w (want .json, .yaml, .yml, .xml, .config, .properties or .ini, or JSON content)", name, ErrUnknownFormat)
}

// Replace writes vars into the file name (content data), whose format
// Detect tells.
func Replace(name string, data []byte, vars map[string]string) (*Result, error) {
	return ReplaceContext(context.Background(), name, data, vars)
}

// ReplaceContext is Replace that stops, with an error wrapping ctx's cause
// and naming the file, when ctx is done.
func ReplaceContext(ctx context.Context, name string, data []byte, vars map[string]string) (*Result, error) {
	f, err := Detect(name, data)
	if err != nil {
		return nil, err
	}
	return replaceAs(ctx, f, name, data, vars)
}

// ReplaceAs writes vars into the file name (content data) read as format f.
func ReplaceAs(f Format, name string, data []byte, vars map[string]string) (*Result, error) {
	return replaceAs(context.Background(), f, name, data, vars)
}

func replaceAs(ctx context.Context, f Format, name string, data []byte, vars map[string]string) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, context.Cause(ctx))
	}
	if len(data) > MaxSize {
		return nil, &ParseError{File: name, Msg: fmt.Sprintf("file is larger than %d MiB", MaxSize>>20)}
	}
	body, bom, err := decodeBOM(data)
	if err != nil {
		return nil, &ParseError{File: name, Msg: err.Error()}
	}
	r := &replacer{ctx: ctx, file: name, src: body, vars: vars}
	var out []byte
	switch f {
	case JSON:
		out, err = r.json()
	case YAML:
		out, err = r.yaml()
	case XML:
		out, err = r.xml()
	case Properties:
		out, err = r.properties()
	case INI:
		out, err = r.ini()
	default:
		return nil, fmt.Errorf("%s: %w: %v", name, ErrUnknownFormat, f)
	}
	if err != nil {
		return nil, err
	}
	if len(out) > MaxSize {
		return nil, &LimitError{File: name, Limit: "size", Max: MaxSize}
	}
	if len(r.applied) == 0 {
		out = data
	} else {
		out = append(bom, out...)
	}
	return &Result{Data: out, Format: f, Applied: r.applied}, nil
}

// decodeBOM strips a UTF-8 byte order mark, returning it separately, and
// refuses UTF-16 and UTF-32 files.
func decodeBOM(data []byte) (body, bom []byte, err error) {
	switch {
	case bytes.HasPrefix(data, []byte("\xef\xbb\xbf")):
		return data[3:], []byte("\xef\xbb\xbf"), nil
	case bytes.HasPrefix(data, []byte("\xff\xfe")), bytes.HasPrefix(data, []byte("\xfe\xff")),
		bytes.HasPrefix(data, []byte("\x00\x00\xfe\xff")):
		return nil, nil, errors.New("UTF-16 and UTF-32 files are not supported (save it as UTF-8)")
	}
	return data, nil, nil
}

// replacer holds the state of one Replace.
type replacer struct {
	ctx     context.Context
	ticks   int // calls of tick
	file    string
	src     []byte // without a byte order mark
	vars    map[string]string
	folded  map[string][]string // for key paths: folded name → names
	applied []Applied
	lines   []int // offsets of the line breaks in src, once needed
}

// tick is called for each unit of work (a token, a node, a variable); it
// returns an error naming the file once ctx is done, checking it every so
// often.
func (r *replacer) tick() error {
	if r.ticks++; r.ticks%1024 == 0 && r.ctx.Err() != nil {
		return fmt.Errorf("%s: %w", r.file, context.Cause(r.ctx))
	}
	return nil
}

// line returns the 1-based line of offset off in src.
func (r *replacer) line(off int) int {
	if r.lines == nil {
		r.lines = []int{}
		for i, c := range r.src {
			if c == '\n' {
				r.lines = append(r.lines, i)
			}
		}
	}
	n, _ := slices.BinarySearch(r.lines, off)
	return n + 1
}

// lookupPath returns the variable that names key path p (segments joined
// with ':'), matched in any case.
func (r *replacer) lookupPath(p string, line int) (name, value string, ok bool, err error) {
	if r.folded == nil {
		r.folded = map[string][]string{}
		for n := range r.vars {
			k := fold(n)
			r.folded[k] = append(r.folded[k], n)
		}
	}
	names := r.folded[fold(p)]
	switch len(names) {
	case 0:
		return "", "", false, nil
	case 1:
		v := r.vars[names[0]]
		if err := r.checkValue(names[0], v, line); err != nil {
			return "", "", false, err
		}
		return names[0], v, true, nil
	}
	slices.Sort(names)
	return "", "", false, &ValueError{File: r.file, Line: line, Name: names[0],
		Msg: fmt.Sprintf("names %s, as %s does (names match in any case)", p, strings.Join(names[1:], " and "))}
}

// checkValue refuses a value that is not UTF-8 text.
func (r *replacer) checkValue(name, v string, line int) error {
	if !utf8.ValidString(v) {
		return &ValueError{File: r.file, Line: line, Name: name, Msg: "value is not valid UTF-8"}
	}
	return nil
}

// record notes that name was written at path, line.
func (r *replacer) record(name, path string, line int) {
	r.applied = append(r.applied, Applied{Name: name, Path: path, Line: line})
}

// valueError returns a ValueError for variable name at line.
func (r *replacer) valueError(name string, line int, format string, args ...any) error {
	return &ValueError{File: r.file, Line: line, Name: name, Msg: fmt.Sprintf(format, args...)}
}

// parseError returns a ParseError at line and col.
func (r *replacer) parseError(line, col int, format string, args ...any) error {
	return &ParseError{File: r.file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// lineCol returns the 1-based line and byte column of offset off in src.
func lineCol(src []byte, off int) (line, col int) {
	off = min(max(off, 0), len(src))
	line = 1 + bytes.Count(src[:off], []byte("\n"))
	return line, off - (bytes.LastIndexByte(src[:off], '\n') + 1) + 1
}

// fold maps s to a key that is equal for strings equal under simple
// Unicode case folding (as strings.EqualFold compares).
func fold(s string) string {
	var b strings.Builder
	for _, r := range s {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		b.WriteRune(m)
	}
	return b.String()
}

// edit replaces src[start:end] with text.
type edit struct {
	start, end int
	text       []byte
}

// limit returns a LimitError for the file at offset off (-1: unknown).
func (r *replacer) limit(limit string, max, off int) error {
	line := 0
	if off >= 0 {
		line = r.line(off)
	}
	return &LimitError{File: r.file, Line: line, Limit: limit, Max: max}
}

// edited returns src with edits, which are in order and do not overlap,
// made; a result larger than MaxSize is refused before it is made.
func (r *replacer) edited(src []byte, edits []edit) ([]byte, error) {
	n := len(src)
	for _, e := range edits {
		n += len(e.text) - (e.end - e.start)
		if n > MaxSize {
			return nil, r.limit("size", MaxSize, e.start)
		}
	}
	return applyEdits(src, edits), nil
}

// applyEdits returns src with edits, which are in order and do not overlap,
// made.
func applyEdits(src []byte, edits []edit) []byte {
	out := make([]byte, 0, len(src))
	last := 0
	for _, e := range edits {
		out = append(out, src[last:e.start]...)
		out = append(out, e.text...)
		last = e.end
	}
	return append(out, src[last:]...)
}

// crlf reports whether most line breaks in src are CRLF.
func crlf(src []byte) bool {
	n := bytes.Count(src, []byte("\n"))
	return n > 0 && 2*bytes.Count(src, []byte("\r\n")) > n
}
