package structured

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"

	"go.yaml.in/yaml/v3"
)

// fuzzReplace checks what holds for any input of one format: Replace does
// not panic, fails only with a ParseError or ValueError, and what it returns
// parses (by reparse, a reader other than the package's own where there is
// one) and gives the same bytes when the variables are applied to it again
// (unless the format is re-emitted, as YAML is).
func fuzzReplace(t *testing.T, name string, data []byte, vars map[string]string, reparse func([]byte) error, idempotent bool) {
	res, err := Replace(name, data, vars)
	if err != nil {
		var pe *ParseError
		var ve *ValueError
		if !errors.As(err, &pe) && !errors.As(err, &ve) {
			t.Fatalf("error %T %v, want a ParseError or ValueError", err, err)
		}
		return
	}
	if len(res.Applied) == 0 && !bytes.Equal(res.Data, data) {
		t.Fatalf("nothing applied but the file changed: %q -> %q", data, res.Data)
	}
	if reparse != nil {
		if err := reparse(bytes.TrimPrefix(res.Data, []byte("\xef\xbb\xbf"))); err != nil {
			t.Fatalf("output %q does not parse: %v (input %q)", res.Data, err, data)
		}
	}
	again, err := Replace(name, res.Data, vars)
	if err != nil {
		t.Fatalf("output %q: %v (input %q)", res.Data, err, data)
	}
	if idempotent && !bytes.Equal(again.Data, res.Data) {
		t.Fatalf("applying again changed %q to %q (input %q)", res.Data, again.Data, data)
	}
}

func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{"a": {"b": 1}}`, `[1, [2, "x"], {"a": null}]`, `{"a": true, "A": "x"}`, "\xef\xbb\xbf{\"a\":\r\n[0]}", `"s"`, `{`} {
		f.Add([]byte(s), "v")
	}
	f.Add([]byte(`{"a": {"b": 1}}`), `{"x": [1, 2]}`)
	f.Add([]byte(`{"a": [1, 2]}`), "12.5e3")
	f.Fuzz(func(t *testing.T, data []byte, v string) {
		vars := map[string]string{"a": v, "a:b": v, "0": v, "0:0": v, "a:0": v, "1:a": v}
		fuzzReplace(t, "f.json", data, vars, func(b []byte) error {
			// Numbers as written: JSON has no range, and a file may hold
			// one no float64 can (6E6666); replacement must keep it.
			d := json.NewDecoder(bytes.NewReader(b))
			d.UseNumber()
			var x any
			if err := d.Decode(&x); err != nil {
				return err
			}
			if _, err := d.Token(); err != io.EOF {
				return fmt.Errorf("data after the value (%v)", err)
			}
			return nil
		}, true)
	})
}

func FuzzYAML(f *testing.F) {
	for _, s := range []string{"a:\n  b: 1\n", "- 1\n- [2, x]\n- {a: ~}\n", "a: &x [1]\nb: *x\n", "---\na: 1\n---\na: 2\n", "a: |\n  t\n", "# c\na: 'q' # d\n"} {
		f.Add([]byte(s), "v")
	}
	f.Add([]byte("a:\n  b: 1\n"), "{x: [1, 2]}")
	f.Fuzz(func(t *testing.T, data []byte, v string) {
		vars := map[string]string{"a": v, "a:b": v, "0": v, "0:0": v, "a:0": v, "1:a": v}
		fuzzReplace(t, "f.yaml", data, vars, func(b []byte) error {
			d := yaml.NewDecoder(bytes.NewReader(b))
			for {
				var n yaml.Node
				if err := d.Decode(&n); err != nil {
					if err.Error() == "EOF" {
						return nil
					}
					return err
				}
			}
		}, false)
	})
}

func FuzzXML(f *testing.F) {
	for _, s := range []string{`<a x="1"><b y='2'>t</b><b/></a>`, `<?xml version="1.0"?><a><![CDATA[c]]><!-- x --></a>`, `<p:a xmlns:p="u"><p:b p:y="1"/></p:a>`, `<a>&amp;&#65;</a>`, `<!DOCTYPE a><a/>`} {
		f.Add([]byte(s), "v")
	}
	f.Add([]byte(`<a><b>1</b></a>`), "<c/>")
	f.Fuzz(func(t *testing.T, data []byte, v string) {
		vars := map[string]string{"/a/b": v, "/a/@x": v, "//b/@y": v, "/*:a/*:b": v, "/a/text()": v, "//c[2]": v}
		fuzzReplace(t, "f.xml", data, vars, func(b []byte) error {
			_, err := readXML(b)
			return err
		}, true)
	})
}

func FuzzProperties(f *testing.F) {
	for _, s := range []string{"a=1\nb : 2\n", "a\\\n  b=1\n", "# c\n! d\na", "a \\u0041=x", "\\\n"} {
		f.Add([]byte(s), "v")
	}
	f.Fuzz(func(t *testing.T, data []byte, v string) {
		vars := map[string]string{"a": v, "b": v, "ab": v}
		before, err := readProperties(data)
		fuzzReplace(t, "f.properties", data, vars, nil, true)
		if err != nil {
			return
		}
		// Keys other than the replaced ones read the same as before.
		res, err := Replace("f.properties", data, vars)
		if err != nil {
			return
		}
		after, err := readProperties(res.Data)
		if err != nil {
			t.Fatalf("output %q does not read: %v", res.Data, err)
		}
		replaced := map[string]bool{}
		for k := range vars {
			replaced[fold(k)] = true
		}
		for k, val := range before {
			if !replaced[fold(k)] && after[k] != val {
				t.Fatalf("key %q changed from %q to %q (input %q, output %q)", k, val, after[k], data, res.Data)
			}
		}
	})
}

func FuzzINI(f *testing.F) {
	for _, s := range []string{"a=1\n[s]\nb : 2\n", "; c\n# d\n[s]\na", "[s\n", "[s] x\n", "=v\n"} {
		f.Add([]byte(s), "v")
	}
	f.Fuzz(func(t *testing.T, data []byte, v string) {
		vars := map[string]string{"a": v, "s:a": v, "s:b": v}
		fuzzReplace(t, "f.ini", data, vars, nil, true)
	})
}

func FuzzXPath(f *testing.F) {
	for _, s := range []string{"/a/b", "//b[2]/@y", "/*:a/p:b[@x='1'][c='2']/text()", "/a[", "//", "/a/@*"} {
		f.Add(s)
	}
	doc := []byte(`<a xmlns:p="u" x="1"><b y="2"><c>2</c></b><p:b x="1"><c>2</c></p:b><b/></a>`)
	f.Fuzz(func(t *testing.T, xpath string) {
		fuzzReplace(t, "f.xml", doc, map[string]string{"/" + xpath: "v"}, func(b []byte) error {
			_, err := readXML(b)
			return err
		}, true)
	})
}
