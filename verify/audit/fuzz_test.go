package audit

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"airlock.dev/airlock/internal/keys"
)

// seedFiles adds every file under dir to the fuzz corpus.
func seedFiles(f *testing.F, dir string) {
	f.Helper()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err == nil {
			f.Add(data)
		}
		return err
	})
	if err != nil {
		f.Fatal(err)
	}
}

func goldenKey(f *testing.F, name string) *keys.PublicKey {
	return loadKey(f, filepath.Join(goldenKeys, name+".pub"))
}

// FuzzAudit feeds one receipt file's bytes (twice, as two files) through
// verification, chain analysis, reconciliation and every renderer: hostile
// bytes must never panic.
func FuzzAudit(f *testing.F) {
	seedFiles(f, goldenReceipts)
	for _, s := range []string{"", "{", "{}", `{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"x","sig":"AA=="}]}`} {
		f.Add([]byte(s))
	}
	trusted := []*keys.PublicKey{goldenKey(f, "receipt-pci-east"), goldenKey(f, "receipt-pci-west")}
	f.Fuzz(func(t *testing.T, data []byte) {
		e := examineBytes("a.json", data, trusted)
		if (e.apply == nil) == (e.finding == nil) {
			t.Fatalf("want exactly one of apply and finding: %+v", e)
		}
		e2 := examineBytes("b.json", data, trusted)
		a := newAuditor(Options{Keys: trusted, Now: testNow})
		a.collect([]examined{e, e2})
		a.checkKeysAndZones()
		a.chains()
		a.reconcile()
		r := a.report()
		for _, w := range []func(io.Writer) error{r.WriteTable, r.WriteJSON, r.WriteHTML} {
			if err := w(io.Discard); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzLedgerEntry feeds one ledger file's bytes to the ledger reader, with
// and without ledger keys.
func FuzzLedgerEntry(f *testing.F) {
	seedFiles(f, goldenLedger)
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"","sig":""}]}`))
	builder := goldenKey(f, "builder")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, ks := range [][]*keys.PublicKey{nil, {builder}} {
			b, err := examineLedgerBytes("x.dsse.json", data, ks)
			if (b == nil) == (err == nil) {
				t.Fatalf("want exactly one of bundle and error: %v, %v", b, err)
			}
		}
	})
}

// FuzzChain builds a zone's chain graph from arbitrary links — including
// cycles and self-links, which real SHA-256 links cannot form — and checks
// that the analysis visits every receipt once and never panics.
func FuzzChain(f *testing.F) {
	f.Add([]byte{1, 0, 2, 1, 3, 2, 4, 3})
	f.Add([]byte{1, 0, 3, 1, 2, 2, 4, 3})
	f.Add([]byte{2, 2, 3, 1, 1, 0, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 512 {
			return
		}
		n := len(data) / 2
		applies := make([]*Apply, n)
		for i := range n {
			seq, link := uint64(data[2*i]), int(data[2*i+1])
			a := &Apply{File: fmt.Sprintf("%03d", i), Seq: max(seq, 1), SHA256: fmt.Sprintf("s%d", i),
				Started: t0.Add(time.Duration(data[2*i]) * time.Minute)}
			switch {
			case link == 0:
				a.PrevSHA256 = ""
			case link <= n:
				a.PrevSHA256 = fmt.Sprintf("s%d", link-1)
			default:
				a.PrevSHA256 = "missing"
			}
			applies[i] = a
		}
		c := analyzeChain("z", applies, map[uint64][]string{3: {"x"}})
		seen := map[*Apply]bool{}
		for _, a := range c.order {
			if seen[a] {
				t.Fatalf("%s visited twice", a.File)
			}
			seen[a] = true
		}
		unreachable := 0
		for _, f := range c.findings {
			if f.Kind == KindReorder && f.Message == fmt.Sprintf("seq %d cannot be reached from the start of the chain: its predecessors form a cycle", f.Seq) {
				unreachable++
			}
		}
		if len(c.order)+unreachable != n {
			t.Fatalf("ordered %d + unreachable %d != %d receipts", len(c.order), unreachable, n)
		}
	})
}
