package escape

import (
	"encoding/json"
	"html"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

func TestEscape(t *testing.T) {
	tests := []struct {
		name string
		f    func(string) string
		in   string
		want string
	}{
		// Examples from Octopus's variable filter documentation.
		{"json doc", JSON, `He said "Hello!"`, `He said \"Hello!\"`},
		{"html doc", HTML, `1 < 2`, `1 &lt; 2`},
		{"xml doc", XML, `1 < 2`, `1 &lt; 2`},
		{"uri doc", URI, `A b:c+d/e`, `A%20b:c+d/e`},
		{"uri data doc", URIData, `A b:c+d/e`, `A%20b%3Ac%2Bd%2Fe`},
		{"yaml single doc", YAMLSingle, `The bee's knees`, `The bee''s knees`},
		{"yaml double doc", YAMLDouble, `"Hello"\Goodbye`, `\"Hello\"\\Goodbye`},
		{"properties key doc", PropertiesKey, `Hey: x=y`, `Hey\:\ x\=y`},
		{"properties value doc", PropertiesValue, `a\b=c`, `a\\b=c`},

		{"json all specials", JSON, "\"\\\r\n\t\x01\x1f/<>&é", `\"\\\r\n\t\u0001\u001f/<>&é`},
		{"json empty", JSON, "", ""},
		{"xml all", XML, `&<>"'x`, `&amp;&lt;&gt;&quot;&apos;x`},
		{"html all", HTML, `&<>"'/x`, `&amp;&lt;&gt;&quot;&apos;&#x2F;x`},
		{"uri keeps reserved", URI, ":/?#[]@!$&'()*+,;=-._~aZ09", ":/?#[]@!$&'()*+,;=-._~aZ09"},
		{"uri escapes others", URI, `% "<>\^{|}é`, `%25%20%22%3C%3E%5C%5E%7B%7C%7D%C3%A9`},
		{"uri data", URIData, "-._~aZ09 é/?", "-._~aZ09%20%C3%A9%2F%3F"},
		{"yaml single newlines", YAMLSingle, "a\nb\n\nc\r\nd\re", "a\n\nb\n\n\nc\r\n\r\nd\re"},
		{"yaml double", YAMLDouble, "é\x00\x7f😀\t", `\u00e9\u0000\u007f\U0001f600\t`},
		{"properties value leading space", PropertiesValue, "  a b", `\  a b`},
		{"properties value leading sep", PropertiesValue, "=x:y", `\=x:y`},
		{"properties value controls", PropertiesValue, "\t\n\r\f\x01", `\t\n\r\f\u0001`},
		{"properties value unicode", PropertiesValue, "é€😀", `\u00e9\u20ac\ud83d\ude00`},
		{"properties value invalid utf8", PropertiesValue, "a\xffb", `a\ufffdb`},
		{"properties key comment", PropertiesKey, "#a!b", `\#a!b`},
		{"properties key bang", PropertiesKey, "!a", `\!a`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// hostile has every character that some format treats specially.
const hostile = "p\"&<>'\\ /:=#!\t\n\r\x01é€😀 end"

// TestRoundTrip checks each escape against a real decoder of its format.
func TestRoundTrip(t *testing.T) {
	t.Run("json", func(t *testing.T) {
		var got string
		if err := json.Unmarshal([]byte(`"`+JSON(hostile)+`"`), &got); err != nil || got != hostile {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	t.Run("uri data", func(t *testing.T) {
		if got, err := url.PathUnescape(URIData(hostile)); err != nil || got != hostile {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	t.Run("uri", func(t *testing.T) {
		if got, err := url.PathUnescape(URI(hostile)); err != nil || got != hostile {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	t.Run("yaml double", func(t *testing.T) {
		var got string
		if err := yaml.Unmarshal([]byte(`"`+YAMLDouble(hostile)+`"`), &got); err != nil || got != hostile {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	t.Run("yaml single", func(t *testing.T) {
		in := strings.ReplaceAll(hostile, "\r", "") // YAML has no way to keep a lone CR in single quotes
		in = strings.ReplaceAll(in, "\x01", "")     // nor a control character
		in = strings.ReplaceAll(in, "\t\n", "\n")   // and it drops white space before a line break
		var got string
		if err := yaml.Unmarshal([]byte(`'`+YAMLSingle(in)+`'`), &got); err != nil || got != in {
			t.Fatalf("got %q, want %q, %v", got, in, err)
		}
	})
	t.Run("properties", func(t *testing.T) {
		if got := unescapeProperties(t, PropertiesValue(hostile)); got != hostile {
			t.Fatalf("value: got %q", got)
		}
		if got := unescapeProperties(t, PropertiesKey(hostile)); got != hostile {
			t.Fatalf("key: got %q", got)
		}
	})
}

// unescapeProperties decodes backslash escapes as java.util.Properties does.
func unescapeProperties(t *testing.T, s string) string {
	t.Helper()
	var units []uint16
	var b strings.Builder
	flush := func() {
		b.WriteString(string(utf16.Decode(units)))
		units = units[:0]
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			flush()
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'u':
			n, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
			if err != nil {
				t.Fatal(err)
			}
			units = append(units, uint16(n))
			i += 4
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
			b.WriteByte(s[i])
		}
	}
	flush()
	return b.String()
}

func FuzzRoundTrip(f *testing.F) {
	f.Add(hostile)
	f.Add("")
	f.Add("\x00\u2028\U0010ffff")
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		var j string
		if err := json.Unmarshal([]byte(`"`+JSON(s)+`"`), &j); err != nil || j != s {
			t.Fatalf("JSON: got %q, %v", j, err)
		}
		if u, err := url.PathUnescape(URIData(s)); err != nil || u != s {
			t.Fatalf("URIData: got %q, %v", u, err)
		}
		if p := unescapeProperties(t, PropertiesValue(s)); p != s {
			t.Fatalf("PropertiesValue: got %q", p)
		}
		if p := unescapeProperties(t, PropertiesKey(s)); p != s {
			t.Fatalf("PropertiesKey: got %q", p)
		}
		for name, x := range map[string]string{"XML": XML(s), "HTML": HTML(s)} {
			if strings.ContainsAny(x, `<>"'`) || html.UnescapeString(x) != s {
				t.Fatalf("%s: %q", name, x)
			}
		}
		var y string
		if err := yaml.Unmarshal([]byte(`"`+YAMLDouble(s)+`"`), &y); err != nil || y != s {
			t.Fatalf("YAMLDouble: got %q, %v", y, err)
		}
	})
}
