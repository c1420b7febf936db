package structured

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

var update = flag.Bool("update", false, "rewrite the want, applied and error sections of testdata/*.txt")

// goldenCase is one testdata/*.txt: a txtar archive whose comment says what
// it checks, with the sections
//
//	vars.json  the variables (a JSON object of strings)
//	NAME       the input file; its name gives the format
//	want       the output file, and
//	applied    what Replace reports: "name | path | line" a line; or
//	error      the error Replace returns
//
// With -update the last three are rewritten from what the code does; check
// the diff before committing it.
type goldenCase struct {
	file  string
	ar    *txtar.Archive
	name  string // the input file's name
	input []byte
	vars  map[string]string
	want  map[string][]byte
}

func loadGolden(t *testing.T) []*goldenCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	var cases []*goldenCase
	for _, file := range files {
		ar, err := txtar.ParseFile(file)
		if err != nil {
			t.Fatal(err)
		}
		c := &goldenCase{file: file, ar: ar, vars: map[string]string{}, want: map[string][]byte{}}
		for _, f := range ar.Files {
			switch f.Name {
			case "vars.json":
				if err := json.Unmarshal(f.Data, &c.vars); err != nil {
					t.Fatalf("%s: vars.json: %v", file, err)
				}
			case "want", "applied", "error":
				c.want[f.Name] = f.Data
			default:
				if c.name != "" {
					t.Fatalf("%s: two input files, %s and %s", file, c.name, f.Name)
				}
				c.name, c.input = f.Name, f.Data
			}
		}
		if c.name == "" {
			t.Fatalf("%s: no input file", file)
		}
		cases = append(cases, c)
	}
	return cases
}

// produce returns the sections Replace gives for c.
func (c *goldenCase) produce() (map[string][]byte, *Result) {
	got := map[string][]byte{}
	res, err := Replace(c.name, c.input, c.vars)
	if err != nil {
		got["error"] = []byte(err.Error() + "\n")
		return got, nil
	}
	got["want"] = res.Data
	var b bytes.Buffer
	for _, a := range res.Applied {
		fmt.Fprintf(&b, "%s | %s | %d\n", a.Name, a.Path, a.Line)
	}
	if b.Len() > 0 {
		got["applied"] = b.Bytes()
	}
	return got, res
}

func TestGolden(t *testing.T) {
	for _, c := range loadGolden(t) {
		t.Run(strings.TrimSuffix(filepath.Base(c.file), ".txt"), func(t *testing.T) {
			got, res := c.produce()
			if *update {
				c.write(t, got)
				return
			}
			for _, name := range []string{"want", "applied", "error"} {
				want, has := c.want[name]
				g, gHas := got[name]
				switch {
				case has != gHas:
					t.Errorf("section %s: in file %v, produced %v (got %q)", name, has, gHas, g)
				case !bytes.Equal(g, want):
					t.Errorf("section %s differs (run with -update after checking):\n--- got ---\n%s--- want ---\n%s", name, g, want)
				}
			}
			if res != nil {
				checkReparse(t, c, res)
			}
		})
	}
}

func (c *goldenCase) write(t *testing.T, got map[string][]byte) {
	t.Helper()
	var files []txtar.File
	for _, f := range c.ar.Files {
		if _, generated := c.want[f.Name]; !generated {
			files = append(files, f)
		}
	}
	for _, name := range []string{"want", "applied", "error"} {
		if data, ok := got[name]; ok {
			if len(data) > 0 && data[len(data)-1] != '\n' {
				t.Fatalf("section %s has no final newline; end the input with one", name)
			}
			files = append(files, txtar.File{Name: name, Data: data})
		}
	}
	c.ar.Files = files
	if err := os.WriteFile(c.file, txtar.Format(c.ar), 0o644); err != nil {
		t.Fatal(err)
	}
}
