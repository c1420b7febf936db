package schematest

import (
	"encoding"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
)

// Uncovered lists the JSON fields of Go type typ, recursively through its
// structs, pointers, slices and maps, that the schema at name (and
// fragment, a JSON pointer such as /$defs/manifest, or "") does not name:
// fields a document could hold that the schema would refuse. A type with
// its own JSON encoding (time.Time, a MarshalJSON method) is not
// looked into.
func (s *Set) Uncovered(name, fragment string, typ reflect.Type) ([]string, error) {
	id, ok := s.ids[name]
	if !ok {
		return nil, fmt.Errorf("no schema %s", name)
	}
	w := &walker{s: s, seen: map[string]bool{}}
	n, err := w.resolve(node{id, w.pointer(s.docs[id], fragment)})
	if err != nil {
		return nil, err
	}
	err = w.walk(typ, []node{n}, strings.TrimSuffix(name, ".schema.json"))
	return w.missing, err
}

// node is a schema value and the $id its references are relative to.
type node struct {
	base string
	v    any
}

type walker struct {
	s       *Set
	missing []string
	seen    map[string]bool // type@schema pairs walked, against recursion
}

func (w *walker) pointer(doc any, ptr string) any {
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		if tok == "" {
			continue
		}
		m, _ := doc.(map[string]any)
		doc = m[strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")]
	}
	return doc
}

// resolve follows n's $ref, if it has one.
func (w *walker) resolve(n node) (node, error) {
	for range 32 {
		m, _ := n.v.(map[string]any)
		ref, ok := m["$ref"].(string)
		if !ok {
			return n, nil
		}
		base, err := url.Parse(n.base)
		if err != nil {
			return n, err
		}
		r, err := url.Parse(ref)
		if err != nil {
			return n, err
		}
		abs := base.ResolveReference(r)
		frag := abs.Fragment
		abs.Fragment = ""
		doc, ok := w.s.docs[abs.String()]
		if !ok {
			return n, fmt.Errorf("$ref %s: no schema %s", ref, abs)
		}
		n = node{abs.String(), w.pointer(doc, frag)}
	}
	return n, fmt.Errorf("$ref loop at %s", n.base)
}

// branches returns n and, resolved, every schema n combines (anyOf,
// oneOf, allOf, then, else), recursively.
func (w *walker) branches(n node) ([]node, error) {
	n, err := w.resolve(n)
	if err != nil {
		return nil, err
	}
	out := []node{n}
	m, _ := n.v.(map[string]any)
	for _, k := range []string{"anyOf", "oneOf", "allOf"} {
		list, _ := m[k].([]any)
		for _, b := range list {
			more, err := w.branches(node{n.base, b})
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
		}
	}
	for _, k := range []string{"then", "else"} {
		if b, ok := m[k]; ok {
			more, err := w.branches(node{n.base, b})
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
		}
	}
	return out, nil
}

// children returns the schemas under key (properties/NAME, items,
// additionalProperties) of every branch of ns.
func (w *walker) children(ns []node, key ...string) ([]node, bool, error) {
	var out []node
	for _, n := range ns {
		bs, err := w.branches(n)
		if err != nil {
			return nil, false, err
		}
		for _, b := range bs {
			v := b.v
			for _, k := range key {
				m, _ := v.(map[string]any)
				v = m[k]
			}
			if v != nil {
				out = append(out, node{b.base, v})
			}
		}
	}
	return out, len(out) > 0, nil
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

func (w *walker) walk(t reflect.Type, ns []node, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler) ||
		t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler) {
		return nil
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil // base64
		}
		items, ok, err := w.children(ns, "items")
		if err != nil || !ok {
			return err
		}
		return w.walk(t.Elem(), items, path+"[]")
	case reflect.Map:
		vals, ok, err := w.children(ns, "additionalProperties")
		if err != nil || !ok {
			return err
		}
		return w.walk(t.Elem(), vals, path+"{}")
	case reflect.Struct:
		key := fmt.Sprintf("%v@%p", t, ns[0].v)
		if w.seen[key] {
			return nil
		}
		w.seen[key] = true
		return w.fields(t, ns, path)
	}
	return nil
}

func (w *walker) fields(t reflect.Type, ns []node, path string) error {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if err := w.fields(ft, ns, path); err != nil {
					return err
				}
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		props, ok, err := w.children(ns, "properties", name)
		if err != nil {
			return err
		}
		if !ok {
			w.missing = append(w.missing, path+"."+name)
			continue
		}
		if err := w.walk(f.Type, props, path+"."+name); err != nil {
			return err
		}
	}
	return nil
}
