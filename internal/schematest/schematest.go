// Package schematest validates airlock's JSON outputs against the JSON
// Schemas of doc/schemas, for tests. The schemas are loaded from the files
// under their $id URLs, so that nothing is fetched from the network.
package schematest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Dir is doc/schemas in this module.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "doc", "schemas")
}

// Set is every schema of doc/schemas, compiled.
type Set struct {
	c   *jsonschema.Compiler
	ids map[string]string // file name → $id
}

// Schemas compiles every schema of doc/schemas.
func Schemas(tb testing.TB) *Set {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(Dir(), "*.schema.json"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no schemas in %s: %v", Dir(), err)
	}
	s := &Set{c: jsonschema.NewCompiler(), ids: map[string]string{}}
	s.c.AssertFormat()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		m, ok := doc.(map[string]any)
		id, _ := m["$id"].(string)
		if !ok || !strings.HasPrefix(id, "https://airlock.dev/schemas/") {
			tb.Fatalf("%s: $id %q is not an airlock schema URL", f, id)
		}
		if err := s.c.AddResource(id, doc); err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		s.ids[filepath.Base(f)] = id
	}
	for name := range s.ids {
		if _, err := s.c.Compile(s.ids[name]); err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
	}
	return s
}

// Validate checks one JSON document against the named schema file.
func (s *Set) Validate(name string, data []byte) error { return s.validate(name, "", data) }

// ValidateAt checks one JSON document against a definition ($defs/def) of
// the named schema file.
func (s *Set) ValidateAt(name, def string, data []byte) error {
	return s.validate(name, "#/$defs/"+def, data)
}

func (s *Set) validate(name, fragment string, data []byte) error {
	id, ok := s.ids[name]
	if !ok {
		return fmt.Errorf("no schema %s", name)
	}
	sch, err := s.c.Compile(id + fragment)
	if err != nil {
		return err
	}
	if !json.Valid(data) {
		return fmt.Errorf("not JSON: %.80s", data)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return sch.Validate(doc)
}
