package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"testing"

	"airlock.dev/airlock/internal/subst"
)

// secret has characters that every encoding treats differently.
const secret = `p@ss w/rd&<é>"\+?=`

func TestForms(t *testing.T) {
	b := []byte(secret)
	htmlOff := func() string {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(secret)
		return strings.Trim(strings.TrimSpace(buf.String()), `"`)
	}
	htmlOn, _ := json.Marshal(secret)
	tests := []struct {
		name, encoded string
	}{
		{"raw", secret},
		{"base64 std", base64.StdEncoding.EncodeToString(b)},
		{"base64 std raw", base64.RawStdEncoding.EncodeToString(b)},
		{"base64 url", base64.URLEncoding.EncodeToString(b)},
		{"base64 url raw", base64.RawURLEncoding.EncodeToString(b)},
		{"query escape", url.QueryEscape(secret)},
		{"path escape", url.PathEscape(secret)},
		{"json", string(htmlOn[1 : len(htmlOn)-1])},
		{"json no html escape", htmlOff()},
		{"hex", hex.EncodeToString(b)},
		{"base64 inside basic auth", base64.StdEncoding.EncodeToString([]byte("admin:" + secret))[8:]},
		{"base64 shift 1", base64.StdEncoding.EncodeToString([]byte("x" + secret + "tail"))},
		{"base64 shift 2", base64.URLEncoding.EncodeToString([]byte("xy" + secret))},
	}
	m := New([]string{secret})
	seen := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := "before " + tc.encoded + " after"
			got := m.String(in)
			if !strings.Contains(got, Replacement) {
				t.Fatalf("String(%q) = %q, not masked", in, got)
			}
			if strings.Contains(got, secret) {
				t.Fatalf("String(%q) = %q, contains secret", in, got)
			}
			if !strings.HasPrefix(got, "before ") || !strings.HasSuffix(got, " after") {
				t.Fatalf("String(%q) = %q, surrounding text changed", in, got)
			}
			if !strings.HasPrefix(tc.name, "base64 ") && got != "before "+Replacement+" after" {
				t.Fatalf("String(%q) = %q, want whole form replaced", in, got)
			}
		})
		seen[tc.encoded] = true
	}
	if len(seen) < 10 {
		t.Fatalf("test secret does not tell the forms apart: %d distinct", len(seen))
	}
}

// TestFilteredSecretMasked runs a step's template through subst and prints
// the result through a Masker: every filtered form of the secret is hidden.
func TestFilteredSecretMasked(t *testing.T) {
	lookup := func(name string) (string, bool) { return secret, name == "Secret" }
	for _, filter := range []string{
		"XmlEscape", "JsonEscape", "HtmlEscape", "UriEscape", "UriDataEscape",
		"YamlSingleQuoteEscape", "YamlDoubleQuoteEscape", "PropertiesKeyEscape",
		"PropertiesValueEscape", "ToBase64", "ToBase64 unicode", "ToLower", "ToUpper", "Trim",
	} {
		t.Run(filter, func(t *testing.T) {
			out, err := subst.Expand([]byte(`<add value="#{Secret | `+filter+`}" />`+"\n"), lookup)
			if err != nil {
				t.Fatal(err)
			}
			filtered := strings.TrimSuffix(strings.TrimPrefix(string(out), `<add value="`), "\" />\n")
			got := streamed(t, New([]string{secret}), out, []int{3})
			if want := `<add value="` + Replacement + "\" />\n"; string(got) != want {
				t.Fatalf("step printed %q; masked %q, want %q", filtered, got, want)
			}
		})
	}
}

func TestExactForms(t *testing.T) {
	m := New([]string{secret})
	for _, f := range forms(secret) {
		if len(f) < MinLen {
			continue
		}
		if got := m.String(f); got == f || strings.Count(got, Replacement) == 0 {
			t.Errorf("form %q not masked: %q", f, got)
		}
	}
	// A padded form is replaced whole, padding included.
	enc := base64.StdEncoding.EncodeToString([]byte("abcde"))
	if got := New([]string{"abcde"}).String("[" + enc + "]"); got != "["+Replacement+"]" {
		t.Errorf("padded base64: got %q", got)
	}
}

func TestShortSecretsIgnored(t *testing.T) {
	m := New([]string{"", "a", "abc"})
	m.Add("xyz")
	in := "a abc xyz " + hex.EncodeToString([]byte("abc"))
	if got := m.String(in); got != in {
		t.Errorf("got %q, want unchanged %q", got, in)
	}
	m.Add("abcd")
	if got := m.String("abcd"); got != Replacement {
		t.Errorf("MinLen secret: got %q", got)
	}
}

func TestNoSecrets(t *testing.T) {
	m := New(nil)
	in := "plain output\n"
	if got := m.String(in); got != in {
		t.Errorf("got %q", got)
	}
	var buf bytes.Buffer
	w := m.Writer(&buf)
	if _, err := w.Write([]byte(in)); err != nil {
		t.Fatal(err)
	}
	if buf.String() != in {
		t.Errorf("writer held back %q with no secrets", in[buf.Len():])
	}
}

func TestZeroMasker(t *testing.T) {
	var m Masker
	if got := m.String("hunter22"); got != "hunter22" {
		t.Fatalf("got %q", got)
	}
	m.Add("hunter22")
	if got := m.String("pw=hunter22"); got != "pw="+Replacement {
		t.Fatalf("after Add: got %q", got)
	}
}

func TestOverlapping(t *testing.T) {
	tests := []struct {
		secrets []string
		in      string
		want    string
	}{
		{[]string{"abcd", "abcdefgh"}, "xabcdefghx", "x" + Replacement + "x"},
		{[]string{"abcdef", "cdefgh"}, "abcdefgh", Replacement + "gh"},
		{[]string{"cdefgh", "abcdef"}, "abcdefgh", Replacement + "gh"},
		{[]string{"aaaa"}, "aaaaaaaaa", Replacement + Replacement + "a"},
		{[]string{"abab"}, "abababab", Replacement + Replacement},
		{[]string{"bcde", "abcdefg"}, "abcdefgxbcde", Replacement + "x" + Replacement},
		{[]string{"bcde", "abcdefg"}, "abcdefxbcde", "a" + Replacement + "fx" + Replacement},
	}
	for _, tc := range tests {
		m := New(tc.secrets)
		if got := m.String(tc.in); got != tc.want {
			t.Errorf("%q in %q: got %q, want %q", tc.secrets, tc.in, got, tc.want)
		}
		if got := streamed(t, m, []byte(tc.in), []int{1}); string(got) != tc.want {
			t.Errorf("%q in %q, byte by byte: got %q, want %q", tc.secrets, tc.in, got, tc.want)
		}
	}
}

// TestSplitEverywhere writes each form in two parts, at every split point.
func TestSplitEverywhere(t *testing.T) {
	m := New([]string{secret, "another-secret-value"})
	for _, f := range forms(secret) {
		in := []byte("log: " + f + " done\n")
		want := m.Bytes(in)
		for i := 0; i <= len(in); i++ {
			var buf bytes.Buffer
			w := m.Writer(&buf)
			mustWrite(t, w, in[:i])
			mustWrite(t, w, in[i:])
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Fatalf("form %q split at %d: got %q, want %q", f, i, buf.Bytes(), want)
			}
		}
	}
}

func TestWriterHoldsBackOnlyPossiblePrefix(t *testing.T) {
	m := New([]string{"supersecret"})
	var buf bytes.Buffer
	w := m.Writer(&buf)
	mustWrite(t, w, []byte("line one\nvalue=super"))
	if got := buf.String(); got != "line one\nvalue=" {
		t.Fatalf("after partial secret: got %q", got)
	}
	mustWrite(t, w, []byte("secret\n"))
	if got := buf.String(); got != "line one\nvalue="+Replacement+"\n" {
		t.Fatalf("after rest: got %q", got)
	}
	mustWrite(t, w, []byte("sup"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); !strings.HasSuffix(got, "\nsup") {
		t.Fatalf("Close did not flush: %q", got)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write after Close succeeded")
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestManySecrets(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	secrets := make([]string, 500)
	for i := range secrets {
		secrets[i] = fmt.Sprintf("s%03d-%x", i, r.Uint64())
	}
	m := New(secrets[:450])
	for _, s := range secrets[450:] {
		m.Add(s)
	}
	var in strings.Builder
	for i, s := range secrets {
		f := forms(s)
		fmt.Fprintf(&in, "step %d: %s|%s|%s\n", i, s, f[1], f[9])
	}
	out := m.String(in.String())
	for _, s := range secrets {
		for _, f := range forms(s)[:10] {
			if strings.Contains(out, f) {
				t.Fatalf("form %q of %q survives", f, s)
			}
		}
	}
	if got, want := strings.Count(out, Replacement), 3*len(secrets); got != want {
		t.Fatalf("%d replacements, want %d", got, want)
	}
	if !bytes.Equal(streamed(t, m, []byte(in.String()), []int{7, 100, 1, 4096}), []byte(out)) {
		t.Fatal("stream differs from Bytes")
	}
}

func TestAddWhileWriting(t *testing.T) {
	m := New([]string{"first-secret"})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			w := m.Writer(&buf)
			for i := range 200 {
				fmt.Fprintf(w, "%d %d first-secret\n", g, i)
			}
			if err := w.Close(); err != nil {
				t.Error(err)
			}
			if strings.Contains(buf.String(), "first-secret") {
				t.Error("secret leaked while Add ran")
			}
		}()
	}
	for i := range 50 {
		m.Add(fmt.Sprintf("later-secret-%d", i))
	}
	wg.Wait()
	if got := m.String("later-secret-49"); got != Replacement {
		t.Fatalf("added secret not masked: %q", got)
	}
}

func TestAddMasksHeldBackData(t *testing.T) {
	m := New([]string{"abcdzzzz"})
	var buf bytes.Buffer
	w := m.Writer(&buf)
	mustWrite(t, w, []byte("token=abcd")) // "abcd" is held back
	m.Add("abcdef12")
	mustWrite(t, w, []byte("ef12\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "abcdef12") {
		t.Fatalf("got %q", buf.String())
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }

func TestWriterError(t *testing.T) {
	w := New(nil).Writer(failWriter{})
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("error from underlying writer not returned")
	}
}

func FuzzWriter(f *testing.F) {
	f.Add("hunter22", "correct horse", []byte("pw=hunter22 \x01\x02 done"), []byte{3, 1, 4, 1, 5})
	f.Add("abcd", "abcdabcd", []byte("abcabcdabcdabcd\x05\x0aabc"), []byte{1})
	f.Add("s3cr3t/+=", "", []byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"), []byte{2, 9})
	f.Add("ééé", "<&>\"", []byte("json \x07 url \x05 \x06"), []byte{0, 0, 7})
	f.Fuzz(func(t *testing.T, s1, s2 string, data, cuts []byte) {
		m := New([]string{s1})
		m.Add(s2)
		in := expand(data, s1, s2)
		want := m.Bytes(in)
		got := streamed(t, m, in, cutSizes(cuts))
		if !bytes.Equal(got, want) {
			t.Fatalf("stream %q != Bytes %q (input %q)", got, want, in)
		}
		for _, s := range []string{s1, s2} {
			if len(s) >= MinLen && !strings.Contains(s, "*") && bytes.Contains(got, []byte(s)) {
				t.Fatalf("output %q contains secret %q", got, s)
			}
		}
	})
}

// expand turns fuzz data into input: a byte below 32 inserts a form of a
// secret (chosen by the byte), other bytes are copied.
func expand(data []byte, s1, s2 string) []byte {
	f1, f2 := forms(s1), forms(s2)
	var out []byte
	for _, c := range data {
		switch {
		case c < 16:
			out = append(out, f1[int(c)%len(f1)]...)
		case c < 32:
			out = append(out, f2[int(c)%len(f2)]...)
		default:
			out = append(out, c)
		}
	}
	return out
}

// cutSizes turns fuzz data into write sizes; a size may be 0 (an empty
// Write) but not all of them.
func cutSizes(cuts []byte) []int {
	sizes := make([]int, 0, len(cuts)+1)
	progress := false
	for _, c := range cuts {
		sizes = append(sizes, int(c)%13)
		progress = progress || c%13 != 0
	}
	if !progress {
		sizes = append(sizes, 1<<20)
	}
	return sizes
}

// streamed writes in through a Writer in chunks of the given sizes, cycling.
func streamed(t *testing.T, m *Masker, in []byte, sizes []int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := m.Writer(&buf)
	for i := 0; len(in) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(in))
		mustWrite(t, w, in[:n])
		in = in[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustWrite(t *testing.T, w io.Writer, p []byte) {
	t.Helper()
	if n, err := w.Write(p); err != nil || n != len(p) {
		t.Fatalf("Write = %d, %v", n, err)
	}
}

func BenchmarkWriter(b *testing.B) {
	secrets := make([]string, 50)
	for i := range secrets {
		secrets[i] = fmt.Sprintf("secret-value-%02d-abcdefgh", i)
	}
	m := New(secrets)
	line := []byte(strings.Repeat("ordinary log output with some text 0123456789 ", 20) + "\n")
	b.SetBytes(int64(len(line)))
	w := m.Writer(io.Discard)
	for b.Loop() {
		_, _ = w.Write(line)
	}
}
