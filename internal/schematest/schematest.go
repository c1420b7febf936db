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

// Schemas compiles every schema of doc/schemas and returns them by file
// name ("audit-report.schema.json").
func Schemas(tb testing.TB) map[string]*jsonschema.Schema {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(Dir(), "*.schema.json"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no schemas in %s: %v", Dir(), err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	ids := map[string]string{}
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
		if err := c.AddResource(id, doc); err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		ids[filepath.Base(f)] = id
	}
	out := map[string]*jsonschema.Schema{}
	for name, id := range ids {
		s, err := c.Compile(id)
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		out[name] = s
	}
	return out
}

// Validate checks one JSON document against the named schema.
func Validate(schemas map[string]*jsonschema.Schema, name string, data []byte) error {
	s, ok := schemas[name]
	if !ok {
		return fmt.Errorf("no schema %s", name)
	}
	if !json.Valid(data) {
		return fmt.Errorf("not JSON: %.80s", data)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return s.Validate(doc)
}
