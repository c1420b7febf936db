package audit

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden outputs in testdata/golden")

// checkGolden compares got with testdata/golden/name, or rewrites it with
// -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(goldenDir, name)
	if *update || *regenFixtures {
		writeFile(t, path, got)
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update after checking):\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

func TestAuditGolden(t *testing.T) {
	r := runAudit(t, goldenOptions(t))
	if !r.OK() {
		t.Errorf("golden folder should pass; findings:\n%s", dumpFindings(r))
	}
	table, js, jsonl := reports(t, r)
	checkGolden(t, "report.txt", table)
	checkGolden(t, "report.json", js)
	checkGolden(t, "report.jsonl", jsonl)
}

// reports renders r as the table, the JSON report and JSONL.
func reports(t *testing.T, r *Report) (table, js, jsonl []byte) {
	t.Helper()
	var bt, bj, bl bytes.Buffer
	if err := r.WriteTable(&bt); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(&bj); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSONL(&bl); err != nil {
		t.Fatal(err)
	}
	return bt.Bytes(), bj.Bytes(), bl.Bytes()
}

// TestAuditDeterministic checks that output does not depend on how many
// workers verify the files.
func TestAuditDeterministic(t *testing.T) {
	var outs [][]byte
	for _, workers := range []int{1, 3} {
		o := goldenOptions(t)
		o.Workers = workers
		var b bytes.Buffer
		if err := runAudit(t, o).WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		outs = append(outs, b.Bytes())
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Error("JSON report differs between 1 and 3 workers")
	}
}
