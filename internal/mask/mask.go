// Package mask hides sensitive values in step output before it reaches an
// operator's terminal, a log file or a receipt.
//
// A [Masker] holds a set of secret values. Each secret is searched for in the
// forms a script is likely to print it in:
//
//   - raw bytes;
//   - base64 with the standard and URL alphabets, padded and unpadded, plus
//     the part of the encoding that depends only on the secret when it is
//     encoded as part of a longer value (for example "user:" + password in an
//     HTTP Basic header), at each of the three byte alignments;
//   - URL encoding as produced by [url.QueryEscape] and [url.PathEscape];
//   - JSON string escaping as produced by [encoding/json], with and without
//     HTML escaping, without the surrounding quotes;
//   - lower-case hex;
//   - what each #{Secret | Filter} of internal/subst writes that takes no
//     argument or a fixed one ([subst.Forms]): XmlEscape, JsonEscape,
//     HtmlEscape, UriEscape, UriDataEscape, the YAML and .properties
//     escapes, ToBase64, ToLower, ToUpper and Trim. These are also what
//     structured configuration replacement writes into JSON, XML and
//     .properties files, should a step print such a file.
//
// Every occurrence is replaced by [Replacement]. Where several forms match at
// the same position the longest wins; the scan runs left to right and matches
// do not overlap.
//
// Secrets shorter than [MinLen] bytes are ignored: masking every "on" or "123"
// would destroy the output while protecting almost nothing, so the builder
// warns about such values instead. The same bound applies to each derived form.
//
// # Streams
//
// [Masker.Writer] masks a stream. A secret may be split across Write calls, so
// the writer holds back the end of its input while that end is still the start
// of some form; it never holds more than the longest form minus one byte.
// Close flushes the rest. For a fixed set of secrets the stream output equals
// [Masker.Bytes] of the whole input, however the input was split.
//
// [Masker.Add] may be called while writers are in use: data written after Add
// returns, and data still held back, is masked with the new secret too.
package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"sync"
	"sync/atomic"

	"airlock.dev/airlock/internal/subst"
)

const (
	// MinLen is the shortest secret, in bytes, that is masked.
	MinLen = 4
	// Replacement is written in place of every masked value.
	Replacement = "********"
)

// Masker replaces secret values and their common encodings. It is safe for
// concurrent use. The zero value masks nothing until Add is called.
type Masker struct {
	mu  sync.Mutex // serialises Add
	cur atomic.Pointer[matcher]
}

// New returns a Masker for the given secret values. Values shorter than
// [MinLen] bytes are not masked.
func New(secrets []string) *Masker {
	t := newMatcher()
	for _, s := range secrets {
		insertForms(t, s)
	}
	m := &Masker{}
	m.cur.Store(t)
	return m
}

// Add masks one more secret, for example a sensitive output variable learned
// while steps run. A value shorter than [MinLen] bytes is ignored. Add copies
// the current patterns, so it costs time in proportion to all secrets so far;
// pass secrets known up front to [New].
func (m *Masker) Add(secret string) {
	if len(secret) < MinLen {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.load().clone()
	if insertForms(t, secret) {
		m.cur.Store(t)
	}
}

// insertForms adds the forms of secret to t and reports whether any was new.
func insertForms(t *matcher, secret string) bool {
	if len(secret) < MinLen {
		return false
	}
	added := false
	for _, f := range forms(secret) {
		if len(f) >= MinLen && t.insert(f) {
			added = true
		}
	}
	return added
}

// String returns s with every secret masked.
func (m *Masker) String(s string) string {
	return string(m.Bytes([]byte(s)))
}

// Bytes returns a masked copy of b.
func (m *Masker) Bytes(b []byte) []byte {
	out, _ := m.load().mask(make([]byte, 0, len(b)), b, true)
	return out
}

// load returns the current matcher.
func (m *Masker) load() *matcher {
	if t := m.cur.Load(); t != nil {
		return t
	}
	return newMatcher()
}

// forms returns the encodings of secret that are masked, possibly with
// duplicates.
func forms(secret string) []string {
	b := []byte(secret)
	f := []string{
		secret,
		base64.StdEncoding.EncodeToString(b),
		base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b),
		base64.RawURLEncoding.EncodeToString(b),
		url.QueryEscape(secret),
		url.PathEscape(secret),
		jsonEscape(secret, true),
		jsonEscape(secret, false),
		hex.EncodeToString(b),
	}
	f = append(f, subst.Forms(secret)...)
	for shift := range 3 {
		f = append(f,
			base64Core(base64.RawStdEncoding, b, shift),
			base64Core(base64.RawURLEncoding, b, shift))
	}
	return f
}

// base64Core returns the characters of the encoding of (shift unknown bytes
// followed by b) that depend on b alone. Whatever precedes or follows the
// secret inside a longer encoded value, these characters appear unchanged.
func base64Core(enc *base64.Encoding, b []byte, shift int) string {
	s := enc.EncodeToString(append(make([]byte, shift, shift+len(b)), b...))
	first := (8*shift + 5) / 6       // first character whose 6 bits all come from b
	last := (8*shift + 8*len(b)) / 6 // one past the last such character
	if first >= last {
		return ""
	}
	return s[first:last]
}

// jsonEscape returns secret as encoding/json writes it inside a string,
// without the quotes.
func jsonEscape(secret string, escapeHTML bool) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(secret); err != nil { // cannot fail for a string
		return secret
	}
	s := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return string(s[1 : len(s)-1])
}
