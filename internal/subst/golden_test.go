package subst

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

var update = flag.Bool("update", false, "rewrite the want, error and refs sections of testdata/*.txt")

// TestGolden runs each testdata/*.txt: a txtar archive whose comment says
// what it checks, with the sections
//
//	vars.json  the values lookup knows (a JSON object of strings; optional)
//	template   the template (its last line break is dropped when the
//	           comment says "no final newline")
//	want       what Expand returns, or
//	error      the error Expand returns
//	refs       what Refs returns: one "Name line:col" a line, or its error
//
// With -update the last three are rewritten from what the code does; check
// the diff before committing it.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sections := map[string][]byte{}
			for _, f := range ar.Files {
				sections[f.Name] = f.Data
			}
			tmpl, ok := sections["template"]
			if !ok {
				t.Fatal("no template section")
			}
			if bytes.Contains(ar.Comment, []byte("no final newline")) {
				tmpl = bytes.TrimSuffix(tmpl, []byte("\n"))
			}
			vars := map[string]string{}
			if v, ok := sections["vars.json"]; ok {
				if err := json.Unmarshal(v, &vars); err != nil {
					t.Fatalf("vars.json: %v", err)
				}
			}
			got := run(t, tmpl, vars)
			if *update {
				writeGolden(t, file, ar, got)
				return
			}
			for _, name := range []string{"want", "error", "refs"} {
				want, has := sections[name]
				g, gHas := got[name]
				switch {
				case has != gHas:
					t.Errorf("section %s: in file %v, produced %v (got %q)", name, has, gHas, g)
				case !bytes.Equal(g, want):
					t.Errorf("section %s differs (run with -update after checking):\n--- got ---\n%s--- want ---\n%s", name, g, want)
				}
			}
		})
	}
}

// run returns the sections that Expand and Refs produce for tmpl.
func run(t *testing.T, tmpl []byte, vars map[string]string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	got, err := Expand(tmpl, func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	})
	if err != nil {
		out["error"] = []byte(err.Error() + "\n")
	} else {
		out["want"] = got
	}
	refs, rerr := Refs(tmpl)
	var b bytes.Buffer
	if rerr != nil {
		fmt.Fprintln(&b, rerr)
	}
	for _, r := range refs {
		fmt.Fprintf(&b, "%s %d:%d\n", r.Name, r.Line, r.Col)
	}
	if b.Len() > 0 {
		out["refs"] = b.Bytes()
	}
	// Refs and Expand agree on what is a syntax error.
	var se *SyntaxError
	if errors.As(err, &se) != (rerr != nil) || rerr != nil && rerr.Error() != err.Error() {
		t.Errorf("Expand error %v but Refs error %v", err, rerr)
	}
	return out
}

// writeGolden rewrites file with the produced sections in place of the old
// ones.
func writeGolden(t *testing.T, file string, ar *txtar.Archive, got map[string][]byte) {
	t.Helper()
	var files []txtar.File
	for _, f := range ar.Files {
		if f.Name != "want" && f.Name != "error" && f.Name != "refs" {
			files = append(files, f)
		}
	}
	for _, name := range []string{"want", "error", "refs"} {
		if data, ok := got[name]; ok {
			if len(data) > 0 && data[len(data)-1] != '\n' {
				t.Fatalf("section %s has no final newline; end the template with one", name)
			}
			files = append(files, txtar.File{Name: name, Data: data})
		}
	}
	ar.Files = files
	if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
		t.Fatal(err)
	}
}
