package bundle

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Generic helpers over yaml.Node: typed scalars with positions, strict
// mappings, and readable messages. They report into a releaseDecoder.

// fields checks that n is a mapping of known keys, each once, with every
// key of required, and returns key → value node. It returns nil when n is
// not a mapping.
func (d *releaseDecoder) fields(n *yaml.Node, field string, known []string, required ...string) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, field, "want a mapping, got %s", yamlKind(n))
		return nil
	}
	f := map[string]*yaml.Node{}
	for _, e := range d.entries(n, field) {
		if !slices.Contains(known, e.key.Value) {
			d.unknownKey(e.key, field, known)
			continue
		}
		f[e.key.Value] = e.val
	}
	for _, k := range required {
		if !hasKey(n, k) {
			d.errorf(n, field, "missing required key %q", k)
		}
	}
	return f
}

// unknownKey reports a key that is not one of known. In a variable's
// settings the key is shown only when it is close to a known key: a value
// written where a key belongs must not end up in an error.
func (d *releaseDecoder) unknownKey(key *yaml.Node, field string, known []string) {
	s := suggestName(key.Value, known)
	switch {
	case s != "":
		d.errorf(key, field, "unknown key %s (did you mean %q?)", quoteShort(key.Value), s)
	case strings.HasPrefix(field, "variables."):
		d.errorf(key, field, "unknown key (want one of %s)", strings.Join(known, ", "))
	default:
		d.errorf(key, field, "unknown key %s (want one of %s)", quoteShort(key.Value), strings.Join(known, ", "))
	}
}

// yamlEntry is a key and its value in a mapping.
type yamlEntry struct{ key, val *yaml.Node }

// entries returns the pairs of mapping n in file order, reporting and
// leaving out duplicate keys, keys that are not scalars, and aliases.
func (d *releaseDecoder) entries(n *yaml.Node, field string) []yamlEntry {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, field, "want a mapping, got %s", yamlKind(n))
		return nil
	}
	seen := map[string]int{}
	out := make([]yamlEntry, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind != yaml.ScalarNode:
			d.errorf(k, field, "want a plain key, got %s", yamlKind(k))
		case seen[k.Value] > 0:
			d.errorf(k, field, "duplicate key %s (first at line %d)", quoteShort(k.Value), seen[k.Value])
		default:
			seen[k.Value] = k.Line
			if d.usable(v, joinField(field, k.Value), k.LineComment) {
				out = append(out, yamlEntry{k, v})
			}
		}
	}
	return out
}

// list returns the items of sequence n (none when n is empty), reporting and
// leaving out aliases.
func (d *releaseDecoder) list(n *yaml.Node, field string) []*yaml.Node {
	if isYAMLNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, field, "want a list, got %s", yamlKind(n))
		return nil
	}
	out := make([]*yaml.Node, 0, len(n.Content))
	for i, item := range n.Content {
		if d.usable(item, indexField(field, i), "") {
			out = append(out, item)
		}
	}
	return out
}

// usable reports whether n can be decoded: aliases are not supported, and a
// comment starting with #{ means a reference was cut off by YAML.
func (d *releaseDecoder) usable(n *yaml.Node, field, keyComment string) bool {
	if n.Kind == yaml.AliasNode {
		d.errorf(n, field, "aliases (*%s) are not supported: write the value out", n.Value)
		return false
	}
	if strings.HasPrefix(n.LineComment, "#{") || strings.HasPrefix(keyComment, "#{") {
		d.errorf(n, field, `a " #" starts a YAML comment, so the #{...} reference after it was dropped: quote the whole value`)
		return false
	}
	return true
}

// scalar returns the text of a scalar as written (so 1.10 stays "1.10").
// Its errors name only the kind of what was found, never the value.
func (d *releaseDecoder) scalar(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode || !slices.Contains(yamlStringTags, n.ShortTag()) {
		d.errorf(n, field, "want a string, got %s", yamlKind(n))
		return "", false
	}
	d.pos[field] = d.posOf(n)
	return n.Value, true
}

// match decodes a string that must follow r; what names it in errors.
func (d *releaseDecoder) match(n *yaml.Node, field, what string, r rule) string {
	s, ok := d.scalar(n, field)
	if ok && !r.valid(s) {
		d.errorf(n, field, "invalid %s %s (want %s)", what, quoteShort(s), r.want)
	}
	return s
}

// oneOf decodes a string that must be one of values.
func (d *releaseDecoder) oneOf(n *yaml.Node, field string, values []string) string {
	s, ok := d.scalar(n, field)
	if ok && !slices.Contains(values, s) {
		d.errorf(n, field, "invalid value %s (want one of %s)", quoteShort(s), strings.Join(values, ", "))
	}
	return s
}

func (d *releaseDecoder) boolean(n *yaml.Node, field string) bool {
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		d.errorf(n, field, "want true or false, got %s", describeScalar(n))
	}
	return b
}

func (d *releaseDecoder) integer(n *yaml.Node, field string, r intRange) int {
	var v int64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil || v < int64(r.lo) || v > int64(r.hi) {
		d.errorf(n, field, "want an integer from %d to %d, got %s", r.lo, r.hi, describeScalar(n))
		return 0
	}
	return int(v)
}

// duration decodes a Go duration written as a string, within r.
func (d *releaseDecoder) duration(n *yaml.Node, field string, r durationRange) time.Duration {
	if n.Kind != yaml.ScalarNode || isYAMLNull(n) {
		d.errorf(n, field, "%s, got %s", releaseDurationHint, yamlKind(n))
		return 0
	}
	if tag := n.ShortTag(); tag == "!!int" || tag == "!!float" {
		d.errorf(n, field, "invalid duration %s: a number alone has no unit (%s)", n.Value, releaseDurationHint)
		return 0
	}
	v, err := time.ParseDuration(n.Value)
	switch {
	case err != nil:
		d.errorf(n, field, "invalid duration %s (%s)", quoteShort(n.Value), releaseDurationHint)
	case !r.contains(v):
		d.errorf(n, field, "duration %s is out of range (want %v)", n.Value, r)
	}
	return v
}

// shortDuration formats d without zero minutes and seconds ("24h", not "24h0m0s").
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// posOf returns where n starts and, for plain and quoted one-line
// values, the column from which the value appears verbatim.
func (d *releaseDecoder) posOf(n *yaml.Node) yamlPos {
	p := yamlPos{line: n.Line, col: n.Column}
	skip := 0
	switch n.Style {
	case 0:
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		skip = 1
	default:
		return p
	}
	line := d.line(n.Line)
	off := runeOffset(line, n.Column-1+skip)
	if off >= 0 && !strings.Contains(n.Value, "\n") && bytes.HasPrefix(line[off:], []byte(n.Value)) {
		p.text = n.Column + skip
	}
	return p
}

// line returns the bytes of 1-based line n of the source.
func (d *releaseDecoder) line(n int) []byte {
	if d.lineStarts == nil {
		d.lineStarts = []int{0}
		for i, b := range d.src {
			if b == '\n' {
				d.lineStarts = append(d.lineStarts, i+1)
			}
		}
	}
	if n < 1 || n > len(d.lineStarts) {
		return nil
	}
	end := len(d.src)
	if n < len(d.lineStarts) {
		end = d.lineStarts[n]
	}
	return d.src[d.lineStarts[n-1]:end]
}

// runeOffset returns the byte offset of the n-th character of b, or -1.
func runeOffset(b []byte, n int) int {
	off := 0
	for ; n > 0; n-- {
		if off >= len(b) {
			return -1
		}
		_, size := utf8.DecodeRune(b[off:])
		off += size
	}
	return off
}

// yamlKind describes what n is, for "want X, got Y" messages.
func yamlKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch tag := n.ShortTag(); tag {
	case "!!null":
		return "an empty value"
	case "!!str":
		return "a string"
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "true or false"
	case "!!timestamp":
		return "a timestamp"
	default:
		return "a value tagged " + tag
	}
}

// describeScalar shows a scalar that is not a variable's value, or n's kind.
func describeScalar(n *yaml.Node) string {
	switch {
	case n.Kind != yaml.ScalarNode || isYAMLNull(n):
		return yamlKind(n)
	case n.ShortTag() == "!!int" || n.ShortTag() == "!!float":
		return n.Value
	}
	return quoteShort(n.Value)
}

func isYAMLNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// quoteShort returns s as a Go string literal, shortened to 64 bytes.
func quoteShort(s string) string {
	const limit = 64
	if len(s) > limit {
		return strconv.Quote(s[:limit]) + "..."
	}
	return strconv.Quote(s)
}

func joinField(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

func indexField(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }

// suggestName returns the option closest to word when it is close enough to be
// a likely typo, or "".
func suggestName(word string, options []string) string {
	best, bestDist := "", 3
	for _, o := range options {
		if len(word) > len(o)+2 || len(o) > len(word)+2 {
			continue // at least 3 edits apart
		}
		dist := editDistance(strings.ToLower(word), strings.ToLower(o))
		if dist < bestDist && dist < max(len(o)/2, 1)+1 {
			best, bestDist = o, dist
		}
	}
	return best
}

// editDistance counts the insertions, deletions, substitutions and swaps
// of adjacent bytes that turn a into b (optimal string alignment).
func editDistance(a, b string) int {
	rows := make([][]int, len(a)+1)
	for i := range rows {
		rows[i] = make([]int, len(b)+1)
		rows[i][0] = i
	}
	for j := range rows[0] {
		rows[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := min(rows[i-1][j]+1, rows[i][j-1]+1, rows[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d = min(d, rows[i-2][j-2]+1)
			}
			rows[i][j] = d
		}
	}
	return rows[len(a)][len(b)]
}
