package structured

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		name, data string
		want       Format
	}{
		{"appsettings.json", "", JSON},
		{"APPSETTINGS.JSON", "", JSON},
		{"config/app.yaml", "", YAML},
		{"app.yml", "", YAML},
		{"Web.config", "", XML},
		{`dir\app.xml`, "", XML},
		{"application.properties", "", Properties},
		{"php.ini", "", INI},
		{"settings.conf", `{"a": 1}`, JSON},
		{"settings", "\xef\xbb\xbf[1, 2]", JSON},
	}
	for _, tt := range tests {
		got, err := Detect(tt.name, []byte(tt.data))
		if err != nil || got != tt.want {
			t.Errorf("Detect(%q) = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	for _, name := range []string{"settings.conf", "Makefile", "app.toml"} {
		if _, err := Detect(name, []byte("key = value")); !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), name) {
			t.Errorf("Detect(%q) error = %v, want ErrUnknownFormat naming the file", name, err)
		}
	}
}

// sample is a small file per format with a value at path "s:k" (the XPath
// /s/k, the .properties key s.k) whose old value is "old".
var sample = map[string]string{
	"a.json":       "{\n  \"s\": {\"k\": \"old\", \"n\": 1}\n}\n",
	"a.yaml":       "s:\n  k: old\n  n: 1\n",
	"a.xml":        "<s>\n  <k>old</k>\n  <n>1</n>\n</s>\n",
	"a.properties": "s.k=old\nn=1\n",
	"a.ini":        "[s]\nk = old\nn = 1\n",
}

// vars names k in every format.
func varsFor(v string) map[string]string {
	return map[string]string{"s:k": v, "/s/k": v, "s.k": v}
}

func TestReplaceKeepsBOMAndCRLF(t *testing.T) {
	for name, content := range sample {
		t.Run(name, func(t *testing.T) {
			in := "\xef\xbb\xbf" + strings.ReplaceAll(content, "\n", "\r\n")
			res, err := Replace(name, []byte(in), varsFor("new"))
			if err != nil {
				t.Fatal(err)
			}
			out := string(res.Data)
			if !strings.HasPrefix(out, "\xef\xbb\xbf") {
				t.Errorf("byte order mark lost: %q", out)
			}
			if strings.Count(out, "\n") != strings.Count(out, "\r\n") {
				t.Errorf("line endings changed: %q", out)
			}
			if !strings.Contains(out, "new") || strings.Contains(out, "old") || len(res.Applied) != 1 {
				t.Errorf("not replaced: %q, %+v", out, res.Applied)
			}
			if want := strings.Replace(in, "old", "new", 1); name != "a.yaml" && out != want {
				t.Errorf("got %q, want %q", out, want)
			}
		})
	}
}

func TestReplaceUnchangedWhenNothingApplies(t *testing.T) {
	for name, content := range sample {
		in := "\xef\xbb\xbf" + content
		res, err := Replace(name, []byte(in), map[string]string{"other": "x", "/other": "x"})
		if err != nil {
			t.Fatal(err)
		}
		if string(res.Data) != in || len(res.Applied) != 0 {
			t.Errorf("%s: changed to %q (%+v)", name, res.Data, res.Applied)
		}
	}
}

func TestReplaceRefusesBadInput(t *testing.T) {
	for name, content := range sample {
		t.Run(name, func(t *testing.T) {
			var pe *ParseError
			for _, in := range []string{"\xff\xfe" + content, "\xfe\xff" + content} {
				_, err := Replace(name, []byte(in), varsFor("x"))
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), "UTF-16") || pe.File != name {
					t.Errorf("UTF-16: error %v", err)
				}
			}
			big := content + strings.Repeat(" ", MaxSize)
			if _, err := Replace(name, []byte(big), varsFor("x")); !errors.As(err, &pe) || !strings.Contains(err.Error(), "larger") {
				t.Errorf("too large: error %v", err)
			}
			var ve *ValueError
			_, err := Replace(name, []byte(content), varsFor("bad\xffutf8"))
			if !errors.As(err, &ve) || ve.File != name || !strings.Contains(err.Error(), "UTF-8") || strings.Contains(err.Error(), "bad") {
				t.Errorf("invalid UTF-8 value: error %v", err)
			}
		})
	}
}

// TestErrorsNeverShowValues applies a secret where it cannot go in each
// format and checks that the error does not contain it.
func TestErrorsNeverShowValues(t *testing.T) {
	const secret = "s3cr3t-<unclosed"
	tests := []struct{ name, content string }{
		{"a.json", `{"s": {"k": {"x": 1}}}`},
		{"a.yaml", "s:\n  k: [1]\n"},
		{"a.xml", "<s><k><x/></k></s>"},
		{"a.ini", "[s]\nk=1\n"},
	}
	for _, tt := range tests {
		_, err := Replace(tt.name, []byte(tt.content), varsFor(secret+"[\n\x01"))
		var ve *ValueError
		if !errors.As(err, &ve) {
			t.Errorf("%s: error %v, want a ValueError", tt.name, err)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: error shows the value: %v", tt.name, err)
		}
	}
}

func TestJSONTypes(t *testing.T) {
	in := `{"n": 1, "f": 1.5, "b": true, "s": "x", "z": null, "o": {}, "a": []}`
	tests := []struct {
		key, value, want string
	}{
		{"n", "42", `"n": 42`},
		{"n", "-0.5e-3", `"n": -0.5e-3`},
		{"n", "0x10", `"n": "0x10"`},
		{"n", "1,000", `"n": "1,000"`},
		{"n", "NaN", `"n": "NaN"`},
		{"n", " 1", `"n": " 1"`},
		{"f", "2", `"f": 2`},
		{"b", "FALSE", `"b": false`},
		{"b", "yes", `"b": "yes"`},
		{"s", "7", `"s": "7"`},
		{"s", "true", `"s": "true"`},
		{"z", "null", `"z": "null"`},
		{"o", `{"x": [1]}`, `"o": {"x":[1]}`},
		{"o", `5`, `"o": 5`},
		{"a", ` [ "y" ] `, `"a": ["y"]`},
		{"s", "\u2028\x00", `"s": "` + "\u2028" + `\u0000"`},
	}
	for _, tt := range tests {
		res, err := Replace("a.json", []byte(in), map[string]string{tt.key: tt.value})
		if err != nil {
			t.Errorf("%s=%q: %v", tt.key, tt.value, err)
			continue
		}
		if !strings.Contains(string(res.Data), tt.want) {
			t.Errorf("%s=%q: got %s, want it to contain %s", tt.key, tt.value, res.Data, tt.want)
		}
		if !jsonValid(res.Data) {
			t.Errorf("%s=%q: invalid JSON %s", tt.key, tt.value, res.Data)
		}
	}
}

func TestYAMLTypes(t *testing.T) {
	in := "n: 1\nf: 1.5\nb: true\ns: x\nq: 'x'\nd: \"x\"\nz: null\nl: |\n  a\n  b\n"
	tests := []struct {
		key, value, want string
	}{
		{"n", "42", "n: 42\n"},
		{"n", "abc", "n: abc\n"},
		{"n", "1.5", "n: 1.5\n"},
		{"f", "3", "f: 3\n"},
		{"b", "False", "b: false\n"},
		{"b", "on", `b: "on"` + "\n"},
		{"s", "7", `s: "7"` + "\n"},
		{"s", "1:20", `s: "1:20"` + "\n"},
		{"s", "plain words", "s: plain words\n"},
		{"s", "a: b", "s: 'a: b'\n"},
		{"s", "#x", "s: '#x'\n"},
		{"q", "it's", "q: 'it''s'\n"},
		{"d", "tab\there", `d: "tab\there"` + "\n"},
		{"z", "5", `z: "5"` + "\n"},
		{"l", "x\ny\n", "l: |\n  x\n  y\n"},
		{"l", "one", "l: one\n"},
	}
	for _, tt := range tests {
		res, err := Replace("a.yaml", []byte(in), map[string]string{tt.key: tt.value})
		if err != nil {
			t.Errorf("%s=%q: %v", tt.key, tt.value, err)
			continue
		}
		if !strings.Contains(string(res.Data), tt.want) {
			t.Errorf("%s=%q: got\n%s\nwant it to contain %q", tt.key, tt.value, res.Data, tt.want)
		}
	}
}

// TestHostileInputsAreBounded feeds inputs built to exhaust a naive parser:
// each is refused with a LimitError naming the file and the limit, or
// handled, and either way the memory allocated (all of it, garbage too)
// stays under what MaxNodes and MaxSize allow, whatever the file: a deeply
// nested XML of a few MB once took over 400 MiB.
func TestHostileInputsAreBounded(t *testing.T) {
	const maxAlloc = 64 << 20
	yamlBomb := "a: &a [x, x, x, x, x, x, x, x, x]\n"
	for c := 'b'; c <= 'k'; c++ {
		yamlBomb += fmt.Sprintf("%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", c, c, c-1, c-1, c-1, c-1, c-1, c-1, c-1, c-1, c-1)
	}
	yamlBomb += "target: 1\n"
	tests := []struct {
		name, file, content string
		vars                map[string]string
		limit               string // the LimitError expected; "" when it is handled or another error
	}{
		{"yaml alias bomb", "a.yaml", yamlBomb, map[string]string{"target": "2", "k:0:0": "x"}, ""},
		{"xml entity bomb", "a.xml", `<!DOCTYPE a [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><a>&b;</a>`, map[string]string{"/a": "x"}, ""},
		{"deep json", "a.json", strings.Repeat("[", 1<<20) + strings.Repeat("]", 1<<20), map[string]string{"1": "x"}, "depth"},
		{"deep json replaced", "a.json", strings.Repeat("[", 1<<20) + strings.Repeat("]", 1<<20), map[string]string{"0:0:0": "x"}, ""},
		{"deep yaml", "a.yaml", strings.Repeat("[", 1<<20) + strings.Repeat("]", 1<<20), map[string]string{"0:0:0": "x"}, "nodes"},
		{"deep flow yaml", "a.yaml", strings.Repeat("[", 1000) + strings.Repeat("]", 1000), map[string]string{"0:0:0": "x"}, "depth"},
		{"deep block yaml", "a.yaml", deepBlockYAML(MaxDepth + 10), map[string]string{"a": "x"}, "depth"},
		{"deep xml", "a.xml", strings.Repeat("<a>", 1<<20) + strings.Repeat("</a>", 1<<20), map[string]string{"//a/@x": "x", "//a//a//a//a": "y"}, "depth"},
		{"wide xml", "a.xml", "<r>" + strings.Repeat("<a/>", 1<<20) + "</r>", map[string]string{"//a": "x"}, "nodes"},
		{"many attributes", "a.xml", "<r " + attrs(MaxNodes+1) + "/>", map[string]string{"/r/@a1": "x"}, "nodes"},
		{"wide json", "a.json", "[" + strings.Repeat("1,", 1<<20) + "1]", map[string]string{"0": "x"}, "nodes"},
		{"wide yaml", "a.yaml", "[" + strings.Repeat("1,", 1<<20) + "1]", map[string]string{"0": "x"}, "nodes"},
		{"xml value into every element", "a.xml", "<r>" + strings.Repeat("<a/>", 10000) + "</r>", map[string]string{"//a": strings.Repeat("x", 4096)}, "size"},
		{"wide xml descendant steps", "a.xml", "<r>" + strings.Repeat("<a><b/></a>", 30000) + "</r>", map[string]string{"//a//b//*//b": "x"}, ""},
		{"long properties continuation", "a.properties", "k=" + strings.Repeat("x\\\n", 500000), map[string]string{"k": "v"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.content)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			res, err := Replace(tt.file, data, tt.vars)
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > maxAlloc {
				t.Errorf("allocated %d MiB for a file of %d KiB, want at most %d MiB", alloc>>20, len(data)>>10, maxAlloc>>20)
			}
			var le *LimitError
			switch {
			case tt.limit != "":
				if !errors.As(err, &le) || le.Limit != tt.limit || le.File != tt.file {
					t.Fatalf("error %v, want a %s LimitError for %s", err, tt.limit, tt.file)
				}
				if !strings.Contains(err.Error(), tt.file) || !strings.Contains(err.Error(), tt.limit+" limit") {
					t.Errorf("error %q does not name the file and the limit", err)
				}
			case errors.As(err, &le):
				t.Errorf("refused: %v", err)
			case err == nil && len(res.Data) > 2*len(tt.content)+1024:
				t.Errorf("output grew to %d bytes from %d", len(res.Data), len(tt.content))
			}
		})
	}
}

// TestLimitsAllowWhatIsUnder shows that the limits refuse only what passes
// them: a file at the depth limit is replaced.
func TestLimitsAllowWhatIsUnder(t *testing.T) {
	tests := []struct{ file, content, name string }{
		{"a.json", strings.Repeat("[", MaxDepth) + "1" + strings.Repeat("]", MaxDepth), strings.TrimSuffix(strings.Repeat("0:", MaxDepth), ":")},
		{"a.xml", strings.Repeat("<a>", MaxDepth) + strings.Repeat("</a>", MaxDepth), "/" + strings.TrimSuffix(strings.Repeat("a/", MaxDepth), "/")},
		{"a.yaml", deepBlockYAML(MaxDepth - 1), strings.TrimSuffix(strings.Repeat("a:", MaxDepth-1), ":")},
	}
	for _, tt := range tests {
		res, err := Replace(tt.file, []byte(tt.content), map[string]string{tt.name: "2"})
		if err != nil || len(res.Applied) != 1 {
			t.Errorf("%s: %v, applied %v", tt.file, err, res)
		}
	}
}

// deepBlockYAML is a block mapping nested depth levels deep.
func deepBlockYAML(depth int) string {
	var b strings.Builder
	for i := range depth {
		b.WriteString(strings.Repeat(" ", i) + "a:\n")
	}
	b.WriteString(strings.Repeat(" ", depth) + "b: 1\n")
	return b.String()
}

// attrs returns n attributes a1="" a2="" ….
func attrs(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, " a%d=''", i)
	}
	return b.String()
}

func TestXPathSubset(t *testing.T) {
	doc := `<r xmlns:p="urn:p"><a id="1"><b>x</b></a><a id="2" on=""><b>y</b><b>z</b></a><p:a p:id="3"/></r>`
	tests := []struct {
		xpath string
		want  []string // Applied paths
	}{
		{"/r/a", []string{"/r/a[1]", "/r/a[2]"}},
		{"/r/a[2]/b[1]", []string{"/r/a[2]/b[1]"}},
		{"//b", []string{"/r/a[1]/b", "/r/a[2]/b[1]", "/r/a[2]/b[2]"}},
		{"//b[2]", []string{"/r/a[2]/b[2]"}},
		{"/r/a[@id='2']/@on", []string{"/r/a[2]/@on"}},
		{"/r/a[@on]/@id", []string{"/r/a[2]/@id"}},
		{"/r/a[b='x']/@id", []string{"/r/a[1]/@id"}},
		{"/r/*", []string{"/r/a[1]", "/r/a[2]", "/r/p:a"}},
		{"/r/*:a", []string{"/r/a[1]", "/r/a[2]", "/r/p:a"}},
		{"/r/p:a/@p:id", []string{"/r/p:a/@p:id"}},
		{"/r/p:a/@id", nil},
		{"/r/q:a", nil},
		{"/r/a[3]", nil},
		{"/r/a[@id='9']", nil},
		{"//a//b", []string{"/r/a[1]/b", "/r/a[2]/b[1]", "/r/a[2]/b[2]"}},
		{"/r/a[2]/b/text()", []string{"/r/a[2]/b[1]/text()", "/r/a[2]/b[2]/text()"}},
	}
	for _, tt := range tests {
		res, err := Replace("a.xml", []byte(doc), map[string]string{tt.xpath: "v"})
		if err != nil {
			t.Errorf("%s: %v", tt.xpath, err)
			continue
		}
		var got []string
		for _, a := range res.Applied {
			got = append(got, a.Path)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s selects %q, want %q", tt.xpath, got, tt.want)
		}
	}
	for _, bad := range []string{"/", "//", "/a/", "/a[", "/a[0]", "/a[@x=1]", "/a[@x='1'", "//@x", "/a/text()/b", "/a/b()", "/a[last()]"} {
		_, err := Replace("a.xml", []byte(doc), map[string]string{bad: "v"})
		var ve *ValueError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), "XPath") {
			t.Errorf("%q: error %v, want an unsupported XPath error", bad, err)
		}
	}
}

func TestPropertiesKeys(t *testing.T) {
	in := "a\\\n  b = 1\n  c\\=d:2\n\\u00e9t\\u00E9 3\n#x=9\n!y=9\nz\n"
	res, err := Replace("a.properties", []byte(in), map[string]string{
		"ab": "one", "c=d": "two", "été": "three", "#x": "no", "!y": "no", "Z": "four",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "a\\\n  b = one\n  c\\=d:two\n\\u00e9t\\u00E9 three\n#x=9\n!y=9\nz=four\n"
	if string(res.Data) != want {
		t.Errorf("got %q\nwant %q", res.Data, want)
	}
	latin1 := "cl\xe9=old\n" // ISO-8859-1, as Properties.load reads a file
	res, err = Replace("a.properties", []byte(latin1), map[string]string{"clé": "new"})
	if err != nil || string(res.Data) != "cl\xe9=new\n" {
		t.Errorf("Latin-1 key: %q, %v", res.Data, err)
	}
}

func TestAppliedOrderAndLines(t *testing.T) {
	in := "{\n\"b\": 1,\n\"a\": [\n  0,\n  {\"c\": 2}\n]\n}"
	res, err := Replace("x.json", []byte(in), map[string]string{"a:1:c": "3", "b": "4", "a:0": "5"})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, a := range res.Applied {
		fmt.Fprintf(&b, "%s@%d ", a.Path, a.Line)
	}
	if got, want := b.String(), "b@2 a:0@4 a:1:c@5 "; got != want {
		t.Errorf("applied %s, want %s", got, want)
	}
}

// TestReplaceContextStops: a replacement stops when its context ends,
// with an error naming the file and wrapping the context's cause.
func TestReplaceContextStops(t *testing.T) {
	cause := errors.New("step timed out")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	for _, file := range []string{"a.xml", "a.json", "a.yaml"} {
		content := map[string]string{
			"a.xml":  "<r>" + strings.Repeat("<a/>", 5000) + "</r>",
			"a.json": "[" + strings.Repeat("1,", 5000) + "1]",
			"a.yaml": "[" + strings.Repeat("1,", 5000) + "1]",
		}[file]
		_, err := ReplaceContext(ctx, file, []byte(content), map[string]string{"//a": "x", "0": "2"})
		if !errors.Is(err, cause) || !strings.HasPrefix(err.Error(), file+": ") {
			t.Errorf("%s: %v, want the context's cause, naming the file", file, err)
		}
	}
}
