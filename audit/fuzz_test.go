package audit

import (
	"airlock.dev/airlock/internal/dsse"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
		in := newInterner()
		e := examineBytes("a.json", data, trusted, in)
		if (e.rec == nil) == (e.finding == nil) {
			t.Fatalf("want exactly one of a receipt and a finding: %+v", e)
		}
		e2 := examineBytes("b.json", data, trusted, in)
		a := newAuditor(Options{Keys: trusted, Now: testNow})
		a.collect([]examined{e, e2})
		a.analyze()
		r := a.report()
		r.src = &source{mem: map[string][]byte{"a.json": data, "b.json": data}}
		for _, w := range []func(io.Writer) error{r.WriteTable, r.WriteJSON, r.WriteJSONL, r.WriteHTML} {
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
		id := func(i int) digest { return digest(sha256.Sum256([]byte(fmt.Sprint("s", i)))) }
		recs := make([]*record, n)
		for i := range n {
			seq, link := uint64(data[2*i]), int(data[2*i+1])
			r := &record{file: fmt.Sprintf("%03d", i), seq: max(seq, 1), link: id(i),
				at: t0.Add(time.Duration(data[2*i]) * time.Minute).UnixNano()}
			switch {
			case link == 0:
			case link <= n:
				r.prev, r.hasPrev = id(link-1), true
			default:
				r.prev, r.hasPrev = id(-1), true
			}
			recs[i] = r
		}
		c := analyzeChain("z", recs, map[uint64][]string{3: {"x"}})
		seen := map[*record]bool{}
		for _, r := range c.order {
			if seen[r] {
				t.Fatalf("%s visited twice", r.file)
			}
			seen[r] = true
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

// FuzzReadState feeds the audit state reader arbitrary bytes, and
// arbitrary payloads signed with the state key: it never panics, and what
// it accepts writes back and reads again the same.
func FuzzReadState(f *testing.F) {
	key := newKey(f)
	sign := func(payload []byte) []byte {
		env, err := dsse.Sign(StatePayloadType, payload, key)
		if err != nil {
			f.Fatal(err)
		}
		data, _ := dsse.Marshal(env)
		return data
	}
	good := `{"formatVersion":2,"updatedAt":"2026-03-01T00:00:00Z","audits":3,"previousSha256":"` + strings.Repeat("cd", 32) + `",` +
		`"heads":[{"zone":"pci-east","host":"app-01","seq":3,"sha256":"` + strings.Repeat("ab", 32) + `","file":"x","seenAt":"2026-03-01T00:00:00Z"}],` +
		`"findings":[{"id":"pci-east/app-01/3/refused","severity":"warning","kind":"refused"}],` +
		`"acks":[{"id":"pci-east/app-01/3/refused","kind":"refused","severity":"warning","note":"CHG-1 approval was late","keyId":"SHA256:x","at":"2026-03-02T00:00:00Z"}]}`
	f.Add([]byte(good), false)
	f.Add([]byte(good), true)
	f.Add([]byte(`{"formatVersion":1,"heads":[]}`), false)
	f.Add([]byte(`{`), true)
	f.Fuzz(func(t *testing.T, data []byte, signed bool) {
		if signed {
			data = sign(data)
		}
		st, err := ReadState(bytes.NewReader(data), key.Public())
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := st.WriteSigned(&b, key); err != nil {
			t.Fatal(err)
		}
		again, err := ReadState(&b, key.Public())
		if err != nil {
			t.Fatalf("a state written back does not read again: %v", err)
		}
		p1, _ := st.Payload()
		p2, _ := again.Payload()
		if !bytes.Equal(p1, p2) {
			t.Fatalf("a state written back reads again as another:\n%s\n%s", p1, p2)
		}
	})
}

// FuzzParseExpectation: --expect values never panic, and an accepted one
// names a valid zone and a SHA-256.
func FuzzParseExpectation(f *testing.F) {
	f.Add("pci-east=" + strings.Repeat("ab", 32))
	f.Add("pci-east/app-01=" + strings.Repeat("AB", 32))
	f.Add("=")
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpectation(s)
		if err != nil {
			return
		}
		if _, ok := parseDigest(e.SHA256); !ok || e.Zone == "" {
			t.Fatalf("accepted %q as %+v", s, e)
		}
	})
}

// FuzzParseFailOn: --fail-on values never panic, and what is accepted is
// "error" first, then each gate once: "warning" or a finding kind.
func FuzzParseFailOn(f *testing.F) {
	f.Add("warning")
	f.Add("policy-weakened,never-applied")
	f.Add(" error , ,refused")
	f.Fuzz(func(t *testing.T, s string) {
		gates, err := ParseFailOn([]string{s})
		if err != nil {
			return
		}
		if len(gates) == 0 || gates[0] != FailOnError {
			t.Fatalf("%q: gates %q", s, gates)
		}
		for i, g := range gates {
			known := g == FailOnError || g == FailOnWarning || infoOf(g).kind == g && slices.ContainsFunc(kinds, func(k kindInfo) bool { return k.kind == g })
			if !known || slices.Index(gates, g) != i {
				t.Fatalf("%q: gate %q unknown or repeated in %q", s, g, gates)
			}
		}
	})
}
