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
	"go.yaml.in/yaml/v3"
)

// Dir is doc/schemas in this module.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "doc", "schemas")
}

// Set is every schema of doc/schemas, compiled.
type Set struct {
	c    *jsonschema.Compiler
	ids  map[string]string // file name → $id
	docs map[string]any    // $id → the schema as read
}

// Schemas compiles every schema of doc/schemas.
func Schemas(tb testing.TB) *Set {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(Dir(), "*.schema.json"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no schemas in %s: %v", Dir(), err)
	}
	s := &Set{c: jsonschema.NewCompiler(), ids: map[string]string{}, docs: map[string]any{}}
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
		s.docs[id] = doc
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

// ValidateYAML checks a YAML document (airlock.yaml, trust.yaml) against
// the named schema file, as the JSON that YAMLToJSON makes of it.
func (s *Set) ValidateYAML(name string, data []byte) error {
	j, err := YAMLToJSON(data)
	if err != nil {
		return err
	}
	return s.Validate(name, j)
}

// YAMLToJSON converts one YAML document to JSON as YAML 1.2's core schema
// reads it: mappings to objects, sequences to arrays, and scalars by
// their resolved tag — null, booleans, integers and floats as such, every
// other scalar (strings, timestamps) as the text written. Aliases and
// keys that are not scalars are errors.
func YAMLToJSON(data []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return []byte("null"), nil
	}
	v, err := yamlValue(doc.Content[0])
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func yamlValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a key that is not a scalar", k.Line)
			}
			v, err := yamlValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := yamlValue(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		var v any
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			v = new(bool)
		case "!!int":
			v = new(int64)
		case "!!float":
			v = new(float64)
		default:
			return n.Value, nil
		}
		if err := n.Decode(v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("line %d: YAML %v is not supported", n.Line, n.Kind)
}
