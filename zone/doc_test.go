package zone

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"airlock.dev/airlock/internal/designdoc"
)

// TestDesignDocDiffKinds: doc/design.md lists exactly the policy
// difference kinds the code defines, in order.
func TestDesignDocDiffKinds(t *testing.T) {
	doc, err := designdoc.Column("Differences (`policyChange.changes[].kind`)", 0)
	if err != nil {
		t.Fatal(err)
	}
	var code []string
	for _, d := range DiffKinds {
		code = append(code, d.Kind)
	}
	if !slices.Equal(doc, code) {
		t.Errorf("design.md lists %q, the code defines %q", doc, code)
	}
}

// TestDesignDocRegisterFields: doc/design.md lists exactly the fields of
// zone.yaml the register decodes, in order.
func TestDesignDocRegisterFields(t *testing.T) {
	doc, err := designdoc.Column("Fields of `zone.yaml`", 0)
	if err != nil {
		t.Fatal(err)
	}
	var code []string
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "" {
				continue
			}
			code = append(code, prefix+name)
			if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
				walk(prefix+name+"[].", f.Type.Elem())
			}
		}
	}
	walk("", reflect.TypeFor[Register]())
	if !slices.Equal(doc, code) {
		t.Errorf("design.md lists %q, the code decodes %q", doc, code)
	}
}
