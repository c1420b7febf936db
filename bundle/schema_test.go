package bundle

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"airlock.dev/airlock/internal/schematest"
)

// releaseSchema is the JSON Schema of airlock.yaml.
const releaseSchema = "release.schema.json"

// TestReleaseSchemaAcceptsReleases: every airlock.yaml the decoder accepts
// — the good test files, the shipped examples (which it must accept) and
// those of the CLI scenarios — follows doc/schemas/release.schema.json.
func TestReleaseSchemaAcceptsReleases(t *testing.T) {
	schemas := schematest.Schemas(t)
	files := map[string][]byte{}
	good, _ := filepath.Glob(filepath.Join("testdata", "release", "good", "*.yaml"))
	examples, _ := filepath.Glob(filepath.Join("..", "examples", "*", "airlock.yaml"))
	more, _ := filepath.Glob(filepath.Join("..", "examples", "*", "*", "airlock.yaml"))
	examples = append(examples, more...)
	if len(examples) < 3 {
		t.Fatalf("examples: %v", examples)
	}
	for _, f := range examples {
		data, _ := os.ReadFile(f)
		if _, err := ParseRelease(f, data); err != nil {
			t.Errorf("a shipped example: %v", err)
		}
	}
	for _, f := range append(good, examples...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		files[f] = data
	}
	scripts, _ := filepath.Glob(filepath.Join("..", "cmd", "airlock", "testdata", "script", "*.txtar"))
	for _, s := range scripts {
		a, err := txtar.ParseFile(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range a.Files {
			if filepath.Base(f.Name) == "airlock.yaml" {
				files[s+":"+f.Name] = f.Data
			}
		}
	}
	if len(files) < 10 {
		t.Fatalf("only %d airlock.yaml files found", len(files))
	}
	for name, data := range files {
		if _, err := ParseRelease(name, data); err != nil {
			continue // a scenario of a refused release
		}
		if err := schemas.ValidateYAML(releaseSchema, data); err != nil {
			t.Errorf("%s: the decoder accepts it, the schema does not: %v", name, err)
		}
	}
}

// schemaCannotSee lists the bad releases that follow the schema: what
// makes them bad is beyond what a JSON Schema of the document says.
var schemaCannotSee = map[string]string{
	"deploy-no-packages.yaml":       "deploy must name a declared package",
	"deploy-unknown-package.yaml":   "deploy must name a declared package",
	"duplicate-key.yaml":            "a key written twice: JSON keeps one",
	"duplicate-packages.yaml":       "package names must be unique",
	"duplicate-steps.yaml":          "step names must be unique",
	"literal-sensitive.yaml":        "a sensitive variable's literal value needs allowLiteral",
	"sensitive-without-source.yaml": "a sensitive variable needs a source",
	"two-documents.yaml":            "a second YAML document: the schema sees the first",
}

// TestReleaseSchemaRejectsBadReleases: a bad airlock.yaml breaks the
// schema too, unless schemaCannotSee says why it cannot.
func TestReleaseSchemaRejectsBadReleases(t *testing.T) {
	schemas := schematest.Schemas(t)
	bad, _ := filepath.Glob(filepath.Join("testdata", "release", "bad", "*.yaml"))
	if len(bad) == 0 {
		t.Fatal("no bad releases")
	}
	for _, f := range bad {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseRelease(f, data); err == nil {
			t.Fatalf("%s: the decoder accepts it", f)
		}
		err = schemas.ValidateYAML(releaseSchema, data)
		why, cannot := schemaCannotSee[filepath.Base(f)]
		switch {
		case err == nil && !cannot:
			t.Errorf("%s: the decoder refuses it, the schema accepts it", f)
		case err != nil && cannot:
			t.Errorf("%s: the schema refuses it, though listed as beyond it (%s): %v", f, why, err)
		}
	}
}

// TestReleaseSchemaKeys: the schema names exactly the keys of the
// decoder's tables — the release, change, package, variable, check and
// file rule keys, and for each step kind of the one step kind table the
// common keys, its own key and the settings it takes.
func TestReleaseSchemaKeys(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(schematest.Dir(), releaseSchema))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties map[string]json.RawMessage `json:"properties"`
		Defs       map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
			AnyOf      []struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"anyOf"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	keysOf := func(m map[string]json.RawMessage) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	changeProps := struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}{}
	if err := json.Unmarshal(s.Properties["change"], &changeProps); err != nil {
		t.Fatal(err)
	}
	variable := s.Defs["variable"].AnyOf
	if len(variable) != 2 {
		t.Fatalf("$defs/variable: want a value or settings, got %d branches", len(variable))
	}
	cases := map[string]struct {
		got  []string
		want []string
	}{
		"release":   {keysOf(s.Properties), releaseKeys},
		"change":    {keysOf(changeProps.Properties), changeKeys},
		"package":   {keysOf(s.Defs["package"].Properties), packageKeys},
		"image":     {keysOf(s.Defs["image"].Properties), imageKeys},
		"variable":  {keysOf(variable[1].Properties), variableKeys},
		"check":     {keysOf(s.Defs["check"].Properties), healthCheckKeys},
		"fileRule":  {keysOf(s.Defs["fileRule"].Properties), fileRuleKeys},
		"step kind": {nil, nil},
	}
	for _, k := range stepKinds {
		def := string(k.kind) + "Step"
		want := slices.Concat(commonStepKeys, []string{string(k.kind)}, k.keys)
		cases[def] = struct {
			got  []string
			want []string
		}{keysOf(s.Defs[def].Properties), want}
	}
	for name, c := range cases {
		want := slices.Sorted(slices.Values(c.want))
		if !slices.Equal(c.got, want) {
			t.Errorf("%s: schema has keys %s, the decoder %s", name, strings.Join(c.got, ", "), strings.Join(want, ", "))
		}
	}
}
