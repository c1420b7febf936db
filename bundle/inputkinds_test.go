package bundle

import (
	"fmt"
	"testing"
)

// TestInputKindTable: every row of the input kind table is complete, its
// source key is unique in its list, and an airlock.yaml that gives a
// package by that key decodes to a package of that kind.
func TestInputKindTable(t *testing.T) {
	kinds := map[InputKind]bool{}
	keys := map[string]bool{}
	for _, k := range inputKinds {
		switch {
		case k.kind == "" || kinds[k.kind]:
			t.Errorf("kind %q: empty or repeated", k.kind)
		case k.list == "" || k.key == "" || k.key == "name" || keys[k.list+"."+k.key]:
			t.Errorf("kind %s: want a list and a source key of its own, got %s.%s", k.kind, k.list, k.key)
		case k.what == "" || k.decode == nil || k.walk == nil:
			t.Errorf("kind %s: a row needs what, decode and walk", k.kind)
		}
		kinds[k.kind], keys[k.list+"."+k.key] = true, true
		if k.list != "packages" {
			continue
		}
		src := fmt.Sprintf("apiVersion: airlock/v1\nname: a\nversion: '1'\ntargets: [zone:z]\npackages:\n  - name: p\n    %s: dist/app.zip\nsteps:\n  - name: s\n    run: 'true'\n", k.key)
		r, err := ParseRelease("airlock.yaml", []byte(src))
		if err != nil {
			t.Errorf("kind %s: %v", k.kind, err)
			continue
		}
		if p := r.Packages[0]; p.Kind != k.kind || p.Source != "dist/app.zip" {
			t.Errorf("kind %s: decoded as %+v", k.kind, p)
		}
	}
}
