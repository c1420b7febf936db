package audit

import (
	"slices"
	"testing"

	"airlock.dev/airlock/internal/designdoc"
)

// TestDesignDocKinds: doc/design.md lists exactly the finding kinds the
// code defines, with their severities, in order.
func TestDesignDocKinds(t *testing.T) {
	intro := "fixed severity; any error exits 3"
	kindsDoc, err := designdoc.Column(intro, 0)
	if err != nil {
		t.Fatal(err)
	}
	sevDoc, err := designdoc.Column(intro, 1)
	if err != nil {
		t.Fatal(err)
	}
	var kindsCode, sevCode []string
	for _, k := range Kinds() {
		kindsCode, sevCode = append(kindsCode, k[0]), append(sevCode, k[1])
	}
	if !slices.Equal(kindsDoc, kindsCode) || !slices.Equal(sevDoc, sevCode) {
		t.Errorf("design.md lists %q %q, the code defines %q %q", kindsDoc, sevDoc, kindsCode, sevCode)
	}
}

// TestDesignDocPCI: doc/design.md's PCI DSS table lists exactly the rows
// the code computes, in order, and calls a row "ok" at best exactly when
// the code asks nothing beyond the receipts for it.
func TestDesignDocPCI(t *testing.T) {
	intro := "Rows of the map, in the report's order"
	reqs, err := designdoc.Column(intro, 0)
	if err != nil {
		t.Fatal(err)
	}
	best, err := designdoc.Column(intro, 2)
	if err != nil {
		t.Fatal(err)
	}
	rows := runAudit(t, goldenOptions(t)).Evidence
	var code []string
	for _, row := range rows {
		code = append(code, row.Req)
	}
	if !slices.Equal(reqs, code) {
		t.Fatalf("design.md lists %q, the code computes %q", reqs, code)
	}
	for i, row := range rows {
		if (best[i] == StatusOK) != (row.Ask == "") {
			t.Errorf("%s: design.md says %s at best, the code asks %q", row.Req, best[i], row.Ask)
		}
	}
}
