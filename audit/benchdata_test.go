package audit

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"airlock.dev/airlock/receipt"
)

// writeBenchFolder writes n chained receipts across two zones as an
// airlock of format version 2 writes them — a genesis record, then applies
// (each ~4 KiB, five steps) recording the policy, the clock state and how
// receipts are stored, one in five with its deployed file list beside it —
// a ledger of the bundles they apply, and the public keys, under dir:
// receipts/, ledger/, keys/.
func writeBenchFolder(tb testing.TB, dir string, n int) {
	tb.Helper()
	zoneKeys := map[string]*chainWriter{}
	builder, approver := newKey(tb), newKey(tb)
	writeFile(tb, filepath.Join(dir, "keys", "builder.pub"), builder.Public().PEM())
	policies := map[string]*receipt.Policy{}
	for _, z := range []string{"pci-east", "pci-west"} {
		k := newKey(tb)
		writeFile(tb, filepath.Join(dir, "keys", "receipt-"+z+".pub"), k.Public().PEM())
		c := newChain(tb, filepath.Join(dir, "receipts"), z, k)
		policies[z] = testPolicy("bench "+z, z, []receipt.PolicyKey{{KeyID: builder.Public().ID(), Name: "Bea Builder"}},
			[]receipt.PolicyKey{{KeyID: approver.Public().ID(), Name: "Ann Approver"}})
		c.clock = t0.Add(-time.Hour)
		c.control(policies[z], nil, receipt.Operator{User: "alice", UID: "1001"}, func(p *receipt.Predicate) { p.Storage = goldenStorage })
		zoneKeys[z] = c
	}
	clock := &receipt.Clock{Synchronised: true, EstimatedErrorMicros: 800, MaxErrorMicros: 32000, Service: "chronyd", Method: "adjtimex"}
	var bundles []*testBundle
	for i := range n - 2 {
		zn := []string{"pci-east", "pci-west"}[i%2]
		z := zoneKeys[zn]
		at := t0.Add(time.Duration(i) * 30 * time.Minute)
		bi := i / 10 // each bundle is applied five times in each zone
		if bi == len(bundles) {
			b := &testBundle{id: testUUID(fmt.Sprint("bench", bi)), name: "payments-api", version: fmt.Sprintf("3.%d.0", bi),
				channel: "production", seq: uint64(bi + 1), zones: []string{"pci-east", "pci-west"},
				issued: at.Add(-24 * time.Hour), expires: at.Add(30 * 24 * time.Hour), ticket: fmt.Sprintf("CHG-%05d", bi)}
			writeFile(tb, filepath.Join(dir, "ledger", b.ledgerPath()), b.sign(tb, builder, approver))
			bundles = append(bundles, b)
		}
		z.clock = at
		withFiles := i%5 == 0
		z.next(func(p *receipt.Predicate) {
			p.Event, p.Policy, p.Storage, p.Time.Clock = receipt.EventApply, policies[zn], goldenStorage, clock
			p.Bundle = bundles[bi].ref()
			p.Steps = deploySteps(at)
			switch {
			case i%97 == 0:
				p.Outcome = receipt.Outcome{Result: receipt.Refused, Reason: "sequence", Message: "already at a newer sequence"}
				p.Steps = []receipt.Step{}
				withFiles = false
			case i%50 == 0:
				p.Outcome = receipt.Outcome{Result: receipt.Failed, Reason: "step-failed"}
				p.Steps[2].Result, p.Steps[2].ExitCode = receipt.StepFailed, 1
				p.Steps[2].Tail = "ERROR: migration 0042 failed\n"
			case i%10 >= 2:
				p.Outcome = receipt.Outcome{Result: receipt.AlreadyApplied, Reason: "already-applied"}
				p.Steps = []receipt.Step{}
				withFiles = false
			}
			if withFiles {
				p.Files = deployedFiles(bundles[bi])
				p.FilesTotal, p.FilesList, p.FilesSHA256 = len(p.Files), filesListName(zn, p.Seq), sha256Hex(receipt.FilesList(p.Files))
			}
		})
		if withFiles {
			writeFile(tb, filepath.Join(dir, "receipts", zn, filesListName(zn, z.seq)), receipt.FilesList(deployedFiles(bundles[bi])))
		}
	}
}

// BenchmarkAudit audits 1,000 receipts in-process (table output discarded).
func BenchmarkAudit(b *testing.B) {
	dir := b.TempDir()
	const n = 1000
	writeBenchFolder(b, dir, n)
	opts := benchOptions(b, dir)
	b.ResetTimer()
	for b.Loop() {
		r := runAudit(b, opts)
		if r.Summary.Receipts != n {
			b.Fatalf("%d receipts", r.Summary.Receipts)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "receipts/s")
}

func benchOptions(tb testing.TB, dir string) Options {
	tb.Helper()
	var o Options
	o.Dir, o.LedgerDir = filepath.Join(dir, "receipts"), filepath.Join(dir, "ledger")
	for _, name := range []string{"receipt-pci-east", "receipt-pci-west"} {
		o.Keys = append(o.Keys, loadKey(tb, filepath.Join(dir, "keys", name+".pub")))
	}
	o.LedgerKeys = append(o.LedgerKeys, loadKey(tb, filepath.Join(dir, "keys", "builder.pub")))
	return o
}
