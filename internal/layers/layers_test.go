package layers

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "airlock.dev/airlock"

// rank is each top-level folder's layer: lower ranks may import higher.
var rank = map[string]int{
	"cmd":      0,
	"apply":    1,
	"verify":   2,
	"audit":    2,
	"bundle":   3,
	"receipt":  3,
	"zone":     3,
	"internal": 4,
}

// layer returns the layer of a package path relative to the module root.
func layer(rel string) (string, bool) {
	top, _, _ := strings.Cut(rel, "/")
	_, ok := rank[top]
	return top, ok
}

func TestNoUpwardImports(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && p != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "scripts") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(name, ".go") {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		from, ok := layer(rel)
		if !ok {
			t.Errorf("%s: package folder %q is in no layer: add it to rank", p, rel)
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		files++
		for _, imp := range f.Imports {
			ip, _ := strconv.Unquote(imp.Path.Value)
			dep, ok := strings.CutPrefix(ip, module+"/")
			if !ok {
				continue
			}
			to, ok := layer(dep)
			if !ok {
				t.Errorf("%s imports %s, which is in no layer", path.Join(rel, name), ip)
				continue
			}
			if rank[to] < rank[from] {
				t.Errorf("%s imports %s: %s may not import %s (an upward edge)", path.Join(rel, name), ip, from, to)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("read %d Go files; is the module root %s?", files, root)
	}
}
