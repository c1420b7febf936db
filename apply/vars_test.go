package apply

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"airlock.dev/airlock/apply/stage"
	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/verify"
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

// TestStagingErrorKeepsCause: a payload that does not match its manifest
// is a *verify.Error of the extract check whose cause is the staging
// error; an I/O error stays what it is.
func TestStagingErrorKeepsCause(t *testing.T) {
	se := &stage.Error{Entry: "packages/app/x", Msg: "sha256 aa, the manifest says bb"}
	err := stagingError(se)
	var ve *verify.Error
	var got *stage.Error
	if !errors.As(err, &ve) || ve.Check != receipt.CheckExtract || ve.File != se.Entry || !errors.As(err, &got) || got != se {
		t.Fatalf("stagingError(%v) = %#v", se, err)
	}
	nomatch := fmt.Errorf("%w: no key", stage.ErrNoIdentity)
	if err := stagingError(nomatch); !errors.As(err, &ve) || ve.Check != receipt.CheckDecrypt || !errors.Is(err, stage.ErrNoIdentity) {
		t.Fatalf("stagingError(%v) = %#v", nomatch, err)
	}
	if err := stagingError(os.ErrPermission); errors.As(err, &ve) {
		t.Fatalf("an I/O error became a verdict: %v", err)
	}
}
