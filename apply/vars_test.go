package apply

import (
	"fmt"
	"testing"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/receipt"
)

// TestSourcesBounded: a receipt lists at most MaxListedSources sources;
// beyond that, those the zone replaced come first and the total is given.
func TestSourcesBounded(t *testing.T) {
	for _, n := range []int{3, receipt.MaxListedSources, receipt.MaxListedSources + 5} {
		doc := &bundle.VariablesDoc{Values: map[string]string{}}
		m := &bundle.Manifest{}
		for i := range n {
			name := fmt.Sprintf("V%05d", i)
			m.Variables = append(m.Variables, bundle.VariableRef{Name: name})
			doc.Values[name] = "bundle"
		}
		last := fmt.Sprintf("V%05d", n-1)
		zone := namedValues{what: "trust.yaml", source: receipt.VariableSource{Origin: receipt.OriginTrust, File: "trust.yaml"},
			values: map[string]string{last: "zone"}}
		v, err := resolveVariables(doc, m, scope{zone: "z", host: "h"}, zone)
		if err != nil {
			t.Fatal(err)
		}
		got, total := v.sources()
		wantTotal := 0
		if n > receipt.MaxListedSources {
			wantTotal = n
		}
		if len(got) != min(n, receipt.MaxListedSources) || total != wantTotal {
			t.Fatalf("%d variables: %d sources listed, total %d", n, len(got), total)
		}
		replaced := got[len(got)-1]
		if n > receipt.MaxListedSources {
			replaced = got[0]
		}
		if want := (receipt.VariableSource{Name: last, Origin: receipt.OriginTrust, File: "trust.yaml", Replaced: true}); replaced != want {
			t.Errorf("%d variables: %+v, want %+v", n, replaced, want)
		}
	}
}
