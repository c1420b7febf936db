package structured

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"go.yaml.in/yaml/v3"
)

// checkReparse reads the output of a golden case with a reader other than
// the one Replace uses, and checks that every applied variable reads back as
// its value, with the type the package documentation promises.
func checkReparse(t *testing.T, c *goldenCase, res *Result) {
	t.Helper()
	data := bytes.TrimPrefix(res.Data, []byte("\xef\xbb\xbf"))
	for _, a := range res.Applied {
		want := c.vars[a.Name]
		var got any
		var err error
		switch res.Format {
		case JSON:
			got, err = readJSONPath(data, a.Path)
		case YAML:
			got, err = readYAMLPath(data, a.Path)
		case XML:
			got, err = readXMLPath(data, a.Path)
		case Properties:
			got, err = readProperties(data)
			got = got.(map[string]string)[a.Path]
		case INI:
			got, err = readINI(data)
			got = got.(map[string]string)[a.Path]
		}
		if err != nil {
			t.Fatalf("output does not read back: %v", err)
		}
		if got == nil {
			continue // an XML fragment: checked by parsing only
		}
		if !sameValue(got, want, res.Format) {
			t.Errorf("%s at %s reads back as %#v, want %q", a.Name, a.Path, got, want)
		}
	}
}

// sameValue compares a value read back with the variable's value.
func sameValue(got any, want string, f Format) bool {
	switch g := got.(type) {
	case string:
		return g == want
	case json.Number:
		return string(g) == want
	case int:
		return strconv.Itoa(g) == want
	case float64:
		w, err := strconv.ParseFloat(want, 64)
		return err == nil && w == g
	case bool:
		return strconv.FormatBool(g) == strings.ToLower(want)
	}
	// A replaced object or array.
	var w any
	var err error
	if f == JSON {
		d := json.NewDecoder(strings.NewReader(want))
		d.UseNumber()
		err = d.Decode(&w)
	} else {
		err = yaml.Unmarshal([]byte(want), &w)
	}
	return err == nil && reflect.DeepEqual(got, w)
}

func readJSONPath(data []byte, path string) (any, error) {
	var doc any
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the value")
	}
	return walkPath(doc, path)
}

func readYAMLPath(data []byte, path string) (any, error) {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	return walkPath(doc, path)
}

// walkPath follows a colon-separated path through maps and slices.
func walkPath(doc any, path string) (any, error) {
	for _, seg := range strings.Split(path, ":") {
		switch d := doc.(type) {
		case map[string]any:
			v, ok := d[seg]
			if !ok {
				return nil, fmt.Errorf("no key %q", seg)
			}
			doc = v
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i >= len(d) {
				return nil, fmt.Errorf("no index %q", seg)
			}
			doc = d[i]
		default:
			return nil, fmt.Errorf("%q: not a container", seg)
		}
	}
	if doc == nil {
		return "<null>", nil
	}
	return doc, nil
}

// tnode is a minimal XML tree built with RawToken (prefixes as written).
type tnode struct {
	name     string
	attrs    map[string]string
	text     strings.Builder
	children []*tnode
}

func readXML(data []byte) (*tnode, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	doc := &tnode{}
	stack := []*tnode{doc}
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		top := stack[len(stack)-1]
		switch tk := tok.(type) {
		case xml.StartElement:
			n := &tnode{name: qname(tk.Name), attrs: map[string]string{}}
			for _, a := range tk.Attr {
				n.attrs[qname(a.Name)] = a.Value
			}
			top.children = append(top.children, n)
			stack = append(stack, n)
		case xml.EndElement:
			if top.name != qname(tk.Name) {
				return nil, fmt.Errorf("<%s> closed by </%s>", top.name, qname(tk.Name))
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			top.text.Write(tk)
		case xml.Directive:
			return nil, fmt.Errorf("directive in output")
		}
	}
	if len(stack) != 1 || len(doc.children) != 1 {
		return nil, fmt.Errorf("want one root element")
	}
	return doc, nil
}

func qname(n xml.Name) string {
	if n.Space != "" {
		return n.Space + ":" + n.Local
	}
	return n.Local
}

// readXMLPath reads what an Applied path of an XML file names: the text of
// an element without children, an attribute's value, or nil for an element
// with children (a fragment).
func readXMLPath(data []byte, path string) (any, error) {
	n, err := readXML(data)
	if err != nil {
		return nil, err
	}
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for _, seg := range segs {
		switch {
		case strings.HasPrefix(seg, "@"):
			v, ok := n.attrs[seg[1:]]
			if !ok {
				return nil, fmt.Errorf("no attribute %s", seg)
			}
			return v, nil
		case seg == "text()":
			return n.text.String(), nil
		}
		name, idx := seg, 1
		if i := strings.IndexByte(seg, '['); i >= 0 {
			name = seg[:i]
			idx, _ = strconv.Atoi(strings.TrimSuffix(seg[i+1:], "]"))
		}
		var next *tnode
		for _, c := range n.children {
			if c.name == name {
				if idx--; idx == 0 {
					next = c
					break
				}
			}
		}
		if next == nil {
			return nil, fmt.Errorf("no element %s", seg)
		}
		n = next
	}
	if len(n.children) > 0 {
		return nil, nil
	}
	return n.text.String(), nil
}

// readProperties reads a .properties file as java.util.Properties.load
// does, written from its documentation independently of the code under
// test.
func readProperties(data []byte) (map[string]string, error) {
	out := map[string]string{}
	lines := strings.Split(strings.ReplaceAll(strings.ReplaceAll(string(data), "\r\n", "\n"), "\r", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimLeft(lines[i], " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		// Join continuation lines: an odd number of trailing backslashes.
		for trailingBackslashes(line)%2 == 1 && i+1 < len(lines) {
			i++
			line = line[:len(line)-1] + strings.TrimLeft(lines[i], " \t\f")
		}
		k := 0
		for k < len(line) && !strings.ContainsRune("=: \t\f", rune(line[k])) {
			if line[k] == '\\' {
				k++
			}
			k++
		}
		k = min(k, len(line))
		key, rest := line[:k], line[k:]
		rest = strings.TrimLeft(rest, " \t\f")
		if rest != "" && (rest[0] == '=' || rest[0] == ':') {
			rest = strings.TrimLeft(rest[1:], " \t\f")
		}
		ku, err := javaUnescape(key)
		if err != nil {
			return nil, err
		}
		vu, err := javaUnescape(rest)
		if err != nil {
			return nil, err
		}
		out[ku] = vu
	}
	return out, nil
}

func trailingBackslashes(s string) int {
	return len(s) - len(strings.TrimRight(s, `\`))
}

func javaUnescape(s string) (string, error) {
	var units []uint16
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			if c != '\\' {
				units = append(units, utf16.Encode([]rune(string(rune(c))))...)
			}
			continue
		}
		i++
		switch s[i] {
		case 'u':
			if i+5 > len(s) {
				return "", fmt.Errorf("malformed \\u")
			}
			n, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
			if err != nil {
				return "", err
			}
			units = append(units, uint16(n))
			i += 4
		case 't':
			units = append(units, '\t')
		case 'n':
			units = append(units, '\n')
		case 'r':
			units = append(units, '\r')
		case 'f':
			units = append(units, '\f')
		default:
			units = append(units, uint16(s[i]))
		}
	}
	return string(utf16.Decode(units)), nil
}

// readINI reads section:key → value (key alone before the first section),
// values trimmed, no inline comments.
func readINI(data []byte) (map[string]string, error) {
	out := map[string]string{}
	section := ""
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == ';' || line[0] == '#':
		case line[0] == '[':
			section = strings.TrimSpace(line[1:strings.IndexByte(line, ']')])
		default:
			i := strings.IndexAny(line, "=:")
			if i < 0 {
				i = len(line)
			}
			key := strings.TrimSpace(line[:i])
			if section != "" {
				key = section + ":" + key
			}
			out[key] = strings.TrimSpace(line[min(i+1, len(line)):])
		}
	}
	return out, nil
}

// needTool skips the test without the program, or fails it when
// AIRLOCK_REQUIRE_INTEROP=1 (as in CI).
func needTool(t *testing.T, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		if os.Getenv("AIRLOCK_REQUIRE_INTEROP") == "1" {
			t.Fatalf("%s not found on PATH (AIRLOCK_REQUIRE_INTEROP=1)", tool)
		}
		t.Skipf("%s not found on PATH", tool)
	}
}

// javaLoad is run with java's source launcher: it loads each file with
// java.util.Properties and prints "file\tkey\tvalue" lines, every character
// outside printable ASCII (and \ and tab) as \uXXXX.
const javaLoad = `
import java.io.*;
import java.util.*;

public class Load {
    static String esc(String s) {
        StringBuilder b = new StringBuilder();
        for (char c : s.toCharArray()) {
            if (c < 0x20 || c > 0x7e || c == '\\') b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.toString();
    }
    public static void main(String[] args) throws Exception {
        for (String f : args) {
            Properties p = new Properties();
            try (InputStream in = new FileInputStream(f)) { p.load(in); }
            for (String k : new TreeSet<>(p.stringPropertyNames())) {
                System.out.println(f + "\t" + esc(k) + "\t" + esc(p.getProperty(k)));
            }
        }
    }
}
`

// TestPropertiesWithJava loads the input and output of every .properties
// golden case with java.util.Properties: the applied keys read back as their
// variables' values and every other key is unchanged.
func TestPropertiesWithJava(t *testing.T) {
	needTool(t, "java")
	needTool(t, "javac") // the source launcher needs the compiler
	src := filepath.Join(t.TempDir(), "Load.java")
	if err := os.WriteFile(src, []byte(javaLoad), 0o644); err != nil {
		t.Fatal(err)
	}
	crossCheck(t, Properties, func(files []string) map[string]map[string]*string {
		stdout := runTool(t, "java", append([]string{src}, files...)...)
		loaded := map[string]map[string]*string{}
		for _, line := range strings.Split(strings.TrimSpace(string(stdout)), "\n") {
			f := strings.SplitN(line, "\t", 3)
			if len(f) != 3 {
				t.Fatalf("java printed %q", line)
			}
			k, _ := javaUnescape(f[1])
			v, _ := javaUnescape(f[2])
			if loaded[f[0]] == nil {
				loaded[f[0]] = map[string]*string{}
			}
			loaded[f[0]][k] = &v
		}
		return loaded
	})
}

// pythonINI loads each file with Python's configparser and prints a JSON
// object: file → "section:key" → value; keys before the first section are
// read under a section added for the purpose and printed as "key".
const pythonINI = `
import configparser, json, sys
out = {}
for f in sys.argv[1:]:
    text = open(f, encoding="utf-8").read()
    text = "[airlock-top]\n" + text
    p = configparser.ConfigParser(interpolation=None, strict=False, delimiters=("=", ":"),
                                  comment_prefixes=("#", ";"), inline_comment_prefixes=None,
                                  allow_no_value=True, default_section="airlock-no-default")
    p.optionxform = str
    p.read_string(text)
    d = {}
    for s in p.sections():
        for k, v in p.items(s):
            d[k if s == "airlock-top" else s + ":" + k] = v
    out[f] = d
print(json.dumps(out))
`

// TestINIWithPython loads the input and output of every INI golden case
// with Python's configparser: the applied keys read back as their
// variables' values and every other key is unchanged.
func TestINIWithPython(t *testing.T) {
	needTool(t, "python3")
	crossCheck(t, INI, func(files []string) map[string]map[string]*string {
		var loaded map[string]map[string]*string
		if err := json.Unmarshal(runTool(t, "python3", append([]string{"-c", pythonINI}, files...)...), &loaded); err != nil {
			t.Fatal(err)
		}
		return loaded
	})
}

// crossCheck writes the input and output of each golden case of format f
// to files, has load read them all (file → path → value, nil for a key
// without a value), and checks that the output differs from the input
// exactly in the applied values.
func crossCheck(t *testing.T, f Format, load func(files []string) map[string]map[string]*string) {
	t.Helper()
	dir := t.TempDir()
	type pair struct {
		c       *goldenCase
		res     *Result
		in, out string
	}
	var pairs []pair
	var files []string
	for i, c := range loadGolden(t) {
		if ff, _ := Detect(c.name, c.input); ff != f {
			continue
		}
		_, res := c.produce()
		if res == nil {
			continue
		}
		p := pair{c: c, res: res, in: filepath.Join(dir, fmt.Sprintf("in%d", i)), out: filepath.Join(dir, fmt.Sprintf("out%d", i))}
		for name, data := range map[string][]byte{p.in: c.input, p.out: res.Data} {
			if err := os.WriteFile(name, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		pairs = append(pairs, p)
		files = append(files, p.in, p.out)
	}
	if len(pairs) == 0 {
		t.Fatalf("no %v golden cases", f)
	}
	loaded := load(files)
	for _, p := range pairs {
		in, out := loaded[p.in], loaded[p.out]
		applied := map[string]string{}
		for _, a := range p.res.Applied {
			applied[a.Path] = p.c.vars[a.Name]
		}
		for k, v := range in {
			got := out[k]
			if want, ok := applied[k]; ok {
				if got == nil || *got != want {
					t.Errorf("%s: %s reads back as %v, want %q", p.c.file, k, show(got), want)
				}
				continue
			}
			if !reflect.DeepEqual(got, v) {
				t.Errorf("%s: %s changed: %v → %v", p.c.file, k, show(v), show(got))
			}
		}
		if len(in) != len(out) {
			t.Errorf("%s: %d keys in the input, %d in the output", p.c.file, len(in), len(out))
		}
	}
}

// runTool runs a program and returns its standard output.
func runTool(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, stderr.Bytes())
	}
	return stdout
}

func show(p *string) string {
	if p == nil {
		return "<no value>"
	}
	return strconv.Quote(*p)
}
