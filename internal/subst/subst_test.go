package subst

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

var testValues = map[string]string{
	"Port":                    "8080",
	"Host":                    "db.local",
	"Airlock.Release.Version": "2.4.1",
	"Steps.migrate.RowCount":  "42",
	"Steps.step-1.Out":        "x",
	"_x":                      "u",
	"Inject":                  "#{Port}",
	"Escape":                  "##{Port}",
	"Empty":                   "",
}

func lookupTest(name string) (string, bool) {
	v, ok := testValues[name]
	return v, ok
}

func TestSubstExpand(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"empty", "", ""},
		{"no refs", "plain text\nline two", "plain text\nline two"},
		{"one ref", "port=#{Port}", "port=8080"},
		{"adjacent", "#{Host}:#{Port}", "db.local:8080"},
		{"dotted", "v#{Airlock.Release.Version}", "v2.4.1"},
		{"step output", "#{Steps.migrate.RowCount} rows", "42 rows"},
		{"dash in later segment", "#{Steps.step-1.Out}", "x"},
		{"underscore start", "#{_x}", "u"},
		{"empty value", "[#{Empty}]", "[]"},
		{"escape", "##{Port}", "#{Port}"},
		{"escape unterminated", "##{Port", "#{Port"},
		{"escape then ref", "##{Port}#{Port}", "#{Port}8080"},
		{"triple hash", "###{Port}", "##{Port}"},
		{"hash alone", "# comment #1 #", "# comment #1 #"},
		{"double hash no brace", "##x", "##x"},
		{"brace without hash", "{Port} }", "{Port} }"},
		{"value not re-expanded", "#{Inject}", "#{Port}"},
		{"escape in value kept", "#{Escape}", "##{Port}"},
		{"multi line", "a\n  b=#{Port}\n", "a\n  b=8080\n"},
		{"binary", "\x00\xff#{Port}\xfe", "\x00\xff8080\xfe"},
		{"unicode", "ü#{Port}ü", "ü8080ü"},
		{"crlf", "a=#{Port}\r\nb", "a=8080\r\nb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Expand([]byte(tt.src), lookupTest)
			if err != nil {
				t.Fatalf("Expand(%q): %v", tt.src, err)
			}
			if string(got) != tt.want {
				t.Errorf("Expand(%q) = %q, want %q", tt.src, got, tt.want)
			}
		})
	}
}

func TestSubstSyntaxErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unterminated", "a\nb\nport: #{Port\n", `line 3:7: unterminated reference "#{Port"`},
		{"unterminated at eof", "#{Port", `line 1:1: unterminated reference "#{Port"`},
		{"unterminated crlf", "x #{Port\r\n}", `line 1:3: unterminated reference "#{Port"`},
		{"closing brace on next line", "#{Po\nrt}", `line 1:1: unterminated reference "#{Po"`},
		{"empty", "  #{}", `line 1:3: empty reference "#{}"`},
		{"space", "#{Port }", `line 1:1: invalid reference "#{Port }" (want a name such as Port or Airlock.Release.Version)`},
		{"leading digit", "#{1abc}", `line 1:1: invalid reference "#{1abc}" (want a name such as Port or Airlock.Release.Version)`},
		{"dash in first segment", "#{a-b}", `line 1:1: invalid reference "#{a-b}" (want a name such as Port or Airlock.Release.Version)`},
		{"empty segment", "#{a..b}", `line 1:1: invalid reference "#{a..b}" (want a name such as Port or Airlock.Release.Version)`},
		{"trailing dot", "#{a.}", `line 1:1: invalid reference "#{a.}" (want a name such as Port or Airlock.Release.Version)`},
		{"leading dot", "#{.a}", `line 1:1: invalid reference "#{.a}" (want a name such as Port or Airlock.Release.Version)`},
		{"comparison outside if", "#{Port == 1}", `line 1:1: invalid reference "#{Port == 1}" (want a name such as Port or Airlock.Release.Version)`},
		{"space before keyword", "#{ if Port}x#{/if}", `line 1:1: invalid reference "#{ if Port}" (want a name such as Port or Airlock.Release.Version)`},
		{"column in characters", "ééé #{}", `line 1:5: empty reference "#{}"`},
		{"after valid refs", "#{Port}\n#{Port} #{", `line 2:9: unterminated reference "#{"`},
		{"long text quoted short", "#{" + strings.Repeat("a", 100), `line 1:1: unterminated reference "#{aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"...`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for fn, f := range map[string]func([]byte) error{
				"Refs":   func(b []byte) error { _, err := Refs(b); return err },
				"Expand": func(b []byte) error { _, err := Expand(b, lookupTest); return err },
			} {
				err := f([]byte(tt.src))
				var se *SyntaxError
				if !errors.As(err, &se) {
					t.Fatalf("%s(%q) error = %v, want *SyntaxError", fn, tt.src, err)
				}
				if err.Error() != tt.want {
					t.Errorf("%s(%q) error\n got %s\nwant %s", fn, tt.src, err, tt.want)
				}
			}
		})
	}
}

func TestSubstUnresolved(t *testing.T) {
	src := "#{Zeta} #{Alpha} #{Port} #{Zeta}\n#{Secret.Thing}"
	_, err := Expand([]byte(src), lookupTest)
	var ue *UnresolvedError
	if !errors.As(err, &ue) {
		t.Fatalf("error = %v, want *UnresolvedError", err)
	}
	want := []string{"Alpha", "Secret.Thing", "Zeta"}
	if !reflect.DeepEqual(ue.Names, want) {
		t.Errorf("Names = %q, want %q", ue.Names, want)
	}
	if got, want := err.Error(), "unresolved references #{Alpha}, #{Secret.Thing}, #{Zeta}"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	one := &UnresolvedError{Names: []string{"X"}}
	if got, want := one.Error(), "unresolved reference #{X}"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestSubstUnresolvedNeverShowsValues(t *testing.T) {
	lookup := func(name string) (string, bool) {
		if name == "Secret" {
			return "hunter2", true
		}
		return "", false
	}
	_, err := Expand([]byte("#{Secret} #{Missing}"), lookup)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error = %v: want an error without the value", err)
	}
}

func TestSubstRefs(t *testing.T) {
	src := "a #{Port}\n\tü #{Airlock.Zone} ##{NotARef} #{Steps.x-1.Out}\n\n#{Port}"
	got, err := Refs([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Ref{
		{Name: "Port", Line: 1, Col: 3},
		{Name: "Airlock.Zone", Line: 2, Col: 4},
		{Name: "Steps.x-1.Out", Line: 2, Col: 32},
		{Name: "Port", Line: 4, Col: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Refs = %+v\nwant %+v", got, want)
	}
	if refs, err := Refs([]byte("no references, # alone, ##{escaped}")); err != nil || len(refs) != 0 {
		t.Errorf("Refs = %v, %v; want none", refs, err)
	}
}

func TestSubstLinearTime(t *testing.T) {
	// Many references on one long line, and many escapes: quadratic column
	// or scanning work would make this take seconds.
	const n = 200000
	src := bytes.Repeat([]byte("#{Port}##{x}"), n)
	refs, err := Refs(src)
	if err != nil || len(refs) != n {
		t.Fatalf("Refs: %d refs, %v", len(refs), err)
	}
	if last := refs[n-1]; last.Col != (n-1)*12+1 {
		t.Errorf("last col = %d, want %d", last.Col, (n-1)*12+1)
	}
	out, err := Expand(src, lookupTest)
	if err != nil || len(out) != n*len("8080#{x}") {
		t.Fatalf("Expand: %d bytes, %v", len(out), err)
	}
}

func TestSubstLimits(t *testing.T) {
	values := map[string]string{"L": strings.Repeat("x,", 999) + "x", "V": strings.Repeat("v", 100)}
	lookup := func(n string) (string, bool) { v, ok := values[n]; return v, ok }
	tests := []struct {
		name, src string
		lim       limits
	}{
		{"output", "#{each a in L}#{V}#{/each}", limits{output: 50_000, work: 1 << 30}},
		{"silent loops", "#{each a in L}#{each b in L}#{/each}#{/each}", limits{output: 1 << 20, work: 500_000}},
		{"filter work", "#{each a in L}#{if V | ToUpper | ToLower == \"x\"}#{/if}#{/each}", limits{output: 1 << 20, work: 100_000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := expand([]byte(tt.src), lookup, tt.lim)
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error = %v, want ErrTooLarge", err)
			}
			// The same template within the limits succeeds.
			if _, err := expand([]byte(tt.src), lookup, limits{output: 1 << 30, work: 1 << 30}); err != nil {
				t.Fatalf("within limits: %v", err)
			}
		})
	}
}

func TestSubstLazyLookups(t *testing.T) {
	var asked []string
	lookup := func(n string) (string, bool) {
		asked = append(asked, n)
		return map[string]string{"On": "yes", "Off": "no", "L": "a,b"}[n], n != "Missing"
	}
	src := "#{if On}#{A}#{else}#{B}#{/if}#{unless Off}#{C}#{/unless}#{if Off}#{D}#{elseif On}#{E}#{/if}#{each i in L}#{F}#{/each}"
	if _, err := Expand([]byte(src), lookup); err != nil {
		t.Fatal(err)
	}
	want := []string{"On", "A", "Off", "C", "Off", "On", "E", "L", "F", "F"}
	if !reflect.DeepEqual(asked, want) {
		t.Errorf("lookups %q, want %q", asked, want)
	}
}

func TestSubstRefsOfBlocks(t *testing.T) {
	src := "x #{A | ToLower}\n#{if B == C}#{each i in D}#{i}#{each.Index}#{/each}#{/if}"
	got, err := Refs([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Ref{{"A", 1, 3}, {"B", 2, 1}, {"C", 2, 1}, {"D", 2, 13}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Refs = %+v, want %+v", got, want)
	}
}

// TestForms checks that Forms gives the output of every filter that takes
// no argument (filterNames lists them all) for a secret that each of them
// changes.
func TestForms(t *testing.T) {
	const secret = " P\"&<>'\\/:=é😀\t "
	forms := map[string]bool{}
	for _, f := range Forms(secret) {
		if f == secret || forms[f] {
			t.Errorf("form %q repeated or equal to the secret", f)
		}
		forms[f] = true
	}
	calls := []string{"Trim start", "Trim end", "ToBase64 unicode"}
	for _, name := range strings.Split(filterNames, ", ") {
		name, _, _ = strings.Cut(name, " (")
		if name != "Replace" {
			calls = append(calls, name)
		}
	}
	calls = append(calls, "Base64Encode")
	for _, call := range calls {
		out, err := Expand([]byte("#{S | "+call+"}"), func(string) (string, bool) { return secret, true })
		if err != nil {
			t.Fatalf("%s: %v", call, err)
		}
		if !forms[string(out)] {
			t.Errorf("%s gives %q, which Forms lacks", call, out)
		}
	}
	if len(forms) != len(calls)-1 { // ToBase64 and Base64Encode are one
		t.Errorf("Forms gave %d forms for %d filters", len(forms), len(calls)-1)
	}
}

// identity returns every name as its own reference.
func identity(name string) (string, bool) { return "#{" + name + "}", true }

func FuzzExpand(f *testing.F) {
	for _, s := range []string{
		"", "plain", "#{Port}", "##{Port}", "###{Port}", "#{", "#{}", "#{a.b-c.d}",
		"a #{Port\nb", "\x00#{x}\xff", "ü#{Ünïcode}", "#{a}#{b}##{c}#", "#{Steps.1.x}",
		"#{A | XmlEscape | Replace \"(.)}\" \"$1\"}", "#{if A == \"x\"}a#{elseif B}b#{else}c#{/if}",
		"#{unless A}x#{/unless}", "#{each i in L}#{i}#{each.Index}#{if each.Last}.#{/if}#{/each}",
		"#{if A}#{each i in L}#{/if}#{/each}", "#{A | Trim start | ToBase64 unicode}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		var asked []string
		out, err := Expand(src, func(name string) (string, bool) {
			asked = append(asked, name)
			return identity(name)
		})
		refs, rerr := Refs(src)
		var se *SyntaxError
		if errors.As(err, &se) != (rerr != nil) || rerr != nil && rerr.Error() != err.Error() {
			t.Fatalf("Expand error %v but Refs error %v", err, rerr)
		}
		if rerr != nil {
			if !errors.As(rerr, &se) || se.Line < 1 || se.Col < 1 {
				t.Fatalf("error %v: want *SyntaxError with a position", rerr)
			}
			if len(asked) > 0 {
				t.Fatalf("lookup called for %q despite a syntax error", asked)
			}
			return
		}
		if err != nil && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Expand: %v", err)
		}
		names := map[string]bool{}
		for _, r := range refs {
			if !validName([]byte(r.Name)) || r.Line < 1 || r.Col < 1 {
				t.Fatalf("bad ref %+v", r)
			}
			names[r.Name] = true
		}
		for _, n := range asked {
			if !names[n] {
				t.Fatalf("lookup of %q, which Refs does not list", n)
			}
		}
		if err != nil {
			return
		}
		if !bytes.Contains(src, []byte("#{")) && !bytes.Equal(out, src) {
			t.Fatalf("text without #{ changed: %q -> %q", src, out)
		}
		if plainOnly(src) && !bytes.Contains(src, []byte("##{")) && !bytes.Equal(out, src) {
			t.Fatalf("identity expansion changed text: %q -> %q", src, out)
		}
		calls := 0
		_, err = Expand(src, func(string) (string, bool) { calls++; return "", false })
		var ue *UnresolvedError
		switch {
		case calls > 0 && !errors.As(err, &ue):
			t.Fatalf("%d lookups failed but Expand returned %v", calls, err)
		case calls == 0 && err != nil:
			t.Fatalf("no lookups but Expand returned %v", err)
		case plainOnly(src) && calls != len(refs):
			t.Fatalf("%d lookups for %d references", calls, len(refs))
		}
	})
}

// plainOnly reports whether src parses to text and plain references only.
func plainOnly(src []byte) bool {
	t, err := parse(src)
	if err != nil {
		return false
	}
	for _, n := range t.nodes {
		if n.kind != textNode && (n.kind != exprNode || len(n.expr.filters) > 0) {
			return false
		}
	}
	return true
}
