package audit

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
)

// ledgerScene is a zone, its ledger and the keys involved.
type ledgerScene struct {
	dir, ledger                string
	zoneKey, builder, approver *keys.Signer
	bundles                    map[string]*testBundle
}

func newLedgerScene(t *testing.T) *ledgerScene {
	root := t.TempDir()
	s := &ledgerScene{
		dir: filepath.Join(root, "receipts"), ledger: filepath.Join(root, "ledger"),
		zoneKey: newKey(t), builder: newKey(t), approver: newKey(t),
		bundles: map[string]*testBundle{},
	}
	return s
}

// build signs a bundle into the ledger (inLedger) or only for the zone.
func (s *ledgerScene) build(t *testing.T, key string, b *testBundle, inLedger bool) {
	data := b.sign(t, s.builder, s.approver)
	if inLedger {
		writeFile(t, filepath.Join(s.ledger, b.ledgerPath()), data)
	}
	s.bundles[key] = b
}

func bundleAt(id, version string, seq uint64, issued time.Time, valid time.Duration, zones ...string) *testBundle {
	return &testBundle{id: testUUID(id), name: "svc", version: version, channel: "production", seq: seq, zones: zones,
		issued: issued, expires: issued.Add(valid), ticket: "CHG-" + id}
}

func TestAuditLedger(t *testing.T) {
	s := newLedgerScene(t)
	day := 24 * time.Hour
	s.build(t, "applied", bundleAt("b1", "1.0.0", 1, t0, 14*day, "east"), true)
	s.build(t, "never", bundleAt("b2", "1.1.0", 2, t0.Add(day), 14*day, "east", "west"), true)
	s.build(t, "expired", bundleAt("b3", "1.2.0", 3, t0.Add(2*day), day, "east"), true)
	s.build(t, "unknown", bundleAt("b4", "1.3.0", 4, t0.Add(5*day), 14*day, "east"), false)
	s.build(t, "unknown-refused", bundleAt("b5", "6.6.6", 99, t0.Add(6*day), 14*day, "east"), false)
	forged := bundleAt("b1", "1.0.0", 1, t0, 14*day, "east")
	forged.ticket = "CHG-forged"
	s.build(t, "forged", forged, false)
	s.build(t, "other-zone", bundleAt("b7", "2.0.0", 1, t0.Add(day), 14*day, "north"), true)
	s.build(t, "unapproved", bundleAt("b8", "1.4.0", 5, t0.Add(7*day), 14*day, "east"), true)
	s.build(t, "north-only", bundleAt("b9", "2.1.0", 2, t0.Add(2*day), 14*day, "north"), true)

	c := newChain(t, s.dir, "east", s.zoneKey)
	use := func(key string, at time.Time, mut ...func(*receipt.Predicate)) {
		c.clock = at
		c.next(append([]func(*receipt.Predicate){func(p *receipt.Predicate) { p.Bundle = s.bundles[key].ref() }}, mut...)...)
	}
	use("applied", t0.Add(day))                                        // seq 1
	use("expired", t0.Add(4*day))                                      // seq 2: expired at day 3
	use("unknown", t0.Add(6*day))                                      // seq 3
	use("unknown-refused", t0.Add(7*day), func(p *receipt.Predicate) { // seq 4: no trusted key signed it
		p.Outcome = receipt.Outcome{Result: receipt.Refused, Reason: "signature"}
		p.Bundle.Verified, p.Bundle.Signers, p.Steps = false, nil, nil
	})
	use("forged", t0.Add(8*day))                                  // seq 5: same id as b1, another statement
	use("unapproved", t0.Add(9*day), func(p *receipt.Predicate) { // seq 6
		p.Bundle.Signers = p.Bundle.Signers[:1]
	})
	use("other-zone", t0.Add(10*day), func(p *receipt.Predicate) { // seq 7: refused before its statement verified
		p.Bundle = receipt.Bundle{Verified: false, ID: p.Bundle.ID, Name: p.Bundle.Name, Version: p.Bundle.Version}
		p.Outcome = receipt.Outcome{Result: receipt.Refused, Reason: "signature"}
		p.Steps = nil
	})

	r := runAudit(t, Options{Dir: s.dir, Keys: pubs(s.zoneKey), LedgerDir: s.ledger, LedgerKeys: pubs(s.builder)})
	id := func(key string) *testBundle { return s.bundles[key] }
	checkFindings(t, r, []want{
		{KindNeverApplied, "east", 0, id("never").ledgerPath(), []string{"svc 1.1.0", "never applied", "superseded by svc 1.2.0 (#3)"}},
		{KindAppliedAfterExpiry, "east", 2, receiptName("east", 2), []string{"after bundle svc 1.2.0 (id " + id("expired").id + ") expired"}},
		{KindNotInLedger, "east", 3, receiptName("east", 3), []string{"svc 1.3.0 (id " + id("unknown").id + ")", "ledger does not hold"}},
		// Refusals for a failed signature check are tampering attempts.
		{KindTampering, "east", 4, receiptName("east", 4), []string{"signature check failed", "not in the builder's ledger"}},
		{KindTampering, "east", 7, receiptName("east", 7), []string{"signature check failed"}},
		{KindLedgerMismatch, "east", 5, receiptName("east", 5), []string{"bundle id " + id("applied").id, id("applied").ledgerPath()}},
		{KindNoApproval, "east", 6, receiptName("east", 6), []string{"no approve-role signature"}},
		// The ledger targets zones the folder lacks: the evidence is incomplete.
		{KindMissingZone, "north", 0, "", []string{"the ledger has 2 bundles for zone north (svc 2.0.0, svc 2.1.0)", "holds no receipt of that zone"}},
		{KindMissingZone, "west", 0, "", []string{"the ledger has 1 bundle for zone west (svc 1.1.0)"}},
	})
	// Only audited zones count: "west" and "north" have no receipts here
	// (the refused attempt at the "north" bundle is an attempt, not an apply).
	if n := len(findingsOf(r, KindNeverApplied)); n != 1 {
		t.Errorf("never-applied findings = %d, want 1:\n%s", n, dumpFindings(r))
	}
	status := map[string]string{}
	for _, b := range r.Ledger.Bundles {
		status[b.ID] = b.Status
	}
	wantStatus := map[string]string{"applied": StatusApplied, "never": StatusNeverApplied, "expired": StatusApplied, "other-zone": StatusAttempted, "unapproved": StatusApplied, "north-only": StatusNotAudited}
	for key, st := range wantStatus {
		if got := status[id(key).id]; got != st {
			t.Errorf("ledger bundle %s status %q, want %q", key, got, st)
		}
	}
	if !r.Ledger.SignaturesChecked || r.Ledger.Files != 6 {
		t.Errorf("ledger = %+v", r.Ledger)
	}
	ledgerStates := map[uint64]string{}
	for _, a := range entriesOf(t, r, r.Zones[0].Name) {
		ledgerStates[a.Seq] = a.Ledger
	}
	if want := map[uint64]string{1: LedgerMatch, 2: LedgerMatch, 3: LedgerNotInLedger, 4: LedgerNotInLedger, 5: LedgerMismatch, 6: LedgerMatch, 7: LedgerIDMatch}; !mapsEqual(ledgerStates, want) {
		t.Errorf("ledger states = %v, want %v", ledgerStates, want)
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestAuditLedgerEntries(t *testing.T) {
	s := newLedgerScene(t)
	b := bundleAt("b1", "1.0.0", 1, t0, 30*24*time.Hour, "east")
	s.build(t, "b1", b, true)
	c := newChain(t, s.dir, "east", s.zoneKey)
	c.next(func(p *receipt.Predicate) { p.Bundle = b.ref() })

	t.Run("wrong ledger key", func(t *testing.T) {
		r := runAudit(t, Options{Dir: s.dir, Keys: pubs(s.zoneKey), LedgerDir: s.ledger, LedgerKeys: pubs(s.zoneKey)})
		checkFindings(t, r, []want{
			{KindLedgerInvalid, "", 0, b.ledgerPath(), []string{"no signature verifies with the ledger keys"}},
			{KindNotInLedger, "east", 1, receiptName("east", 1), nil},
		})
	})
	t.Run("no ledger key", func(t *testing.T) {
		r := runAudit(t, Options{Dir: s.dir, Keys: pubs(s.zoneKey), LedgerDir: s.ledger})
		checkFindings(t, r, nil)
		if r.Ledger.SignaturesChecked {
			t.Error("signatures reported as checked without ledger keys")
		}
	})
	t.Run("broken and conflicting entries", func(t *testing.T) {
		dir := t.TempDir()
		copyTree(t, s.ledger, dir)
		writeFile(t, filepath.Join(dir, "junk.dsse.json"), []byte(`{"payloadType":"x"`))
		writeFile(t, filepath.Join(dir, "notes.txt"), []byte("not read"))
		other := bundleAt("b1", "1.0.1", 2, t0, time.Hour, "east")
		writeFile(t, filepath.Join(dir, "other.dsse.json"), other.sign(t, s.builder, nil))
		// The same statement copied again is one bundle.
		copyTree(t, s.ledger, filepath.Join(dir, "copy"))
		r := runAudit(t, Options{Dir: s.dir, Keys: pubs(s.zoneKey), LedgerDir: dir})
		checkFindings(t, r, []want{
			{KindLedgerInvalid, "", 0, "junk.dsse.json", []string{"not a bundle statement envelope"}},
			{KindLedgerMismatch, "", 0, "other.dsse.json", []string{"bundle id " + b.id + " has two different statements"}},
		})
		if len(r.Ledger.Bundles) != 1 || r.Ledger.Files != 4 {
			t.Errorf("ledger: %d bundles from %d files, want 1 from 4", len(r.Ledger.Bundles), r.Ledger.Files)
		}
	})
}

// TestAuditWindow checks that Since and Until narrow the applies and the
// ledger bundles reported, while chain checks still cover every receipt.
func TestAuditWindow(t *testing.T) {
	s := newLedgerScene(t)
	day := 24 * time.Hour
	old := bundleAt("b1", "1.0.0", 1, t0, 60*day, "east")
	s.build(t, "old", old, true)
	s.build(t, "new", bundleAt("b2", "1.1.0", 2, t0.Add(20*day), 60*day, "east"), true)
	c := newChain(t, s.dir, "east", s.zoneKey)
	for i := range 4 {
		c.clock = t0.Add(time.Duration(1+i*7) * day) // days 1, 8, 15, 22
		c.next(func(p *receipt.Predicate) {
			p.Bundle = old.ref()
			if i > 0 {
				p.Outcome = receipt.Outcome{Result: receipt.Failed, Reason: "step-failed"}
			}
		})
	}
	remove(t, s.dir, receiptName("east", 2))

	since, err := ParseTime("2026-03-10", false)
	if err != nil {
		t.Fatal(err)
	}
	until, err := ParseTime("2026-03-16", true)
	if err != nil {
		t.Fatal(err)
	}
	r := runAudit(t, Options{Dir: s.dir, Keys: pubs(s.zoneKey), LedgerDir: s.ledger, Since: since, Until: until})
	checkFindings(t, r, []want{
		{KindGap, "east", 3, receiptName("east", 3), []string{"missing receipt seq 2"}},
		{KindFailed, "east", 3, receiptName("east", 3), nil},
	})
	if n := len(findingsOf(r, KindFailed)); n != 1 {
		t.Errorf("failed findings = %d, want only seq 3 in the window", n)
	}
	var seqs []uint64
	for _, a := range entriesOf(t, r, r.Zones[0].Name) {
		seqs = append(seqs, a.Seq)
	}
	if !slices.Equal(seqs, []uint64{3}) || r.Zones[0].Receipts != 3 {
		t.Errorf("applies in window %v of %d receipts, want [3] of 3", seqs, r.Zones[0].Receipts)
	}
	// Neither bundle was issued in the window; b1 is still matched.
	if len(r.Ledger.Bundles) != 0 || len(findingsOf(r, KindNeverApplied)) != 0 || entriesOf(t, r, r.Zones[0].Name)[0].Ledger != LedgerMatch {
		t.Errorf("ledger in window: %+v", r.Ledger.Bundles)
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		end  bool
		want string
		err  bool
	}{
		{"2026-01-02", false, "2026-01-02T00:00:00Z", false},
		{"2026-01-02", true, "2026-01-02T23:59:59.999999999Z", false},
		{"2026-01-02T15:04:05+02:00", true, "2026-01-02T13:04:05Z", false},
		{"yesterday", false, "", true},
		{"2026-13-01", false, "", true},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in, tt.end)
		if (err != nil) != tt.err {
			t.Errorf("ParseTime(%q) error = %v", tt.in, err)
			continue
		}
		if err == nil && got.Format(time.RFC3339Nano) != tt.want {
			t.Errorf("ParseTime(%q, %v) = %s, want %s", tt.in, tt.end, got.Format(time.RFC3339Nano), tt.want)
		}
		if err != nil && !strings.Contains(err.Error(), tt.in) {
			t.Errorf("error %q does not name the input", err)
		}
	}
}

func TestRunOptionErrors(t *testing.T) {
	k := newKey(t)
	dir := t.TempDir()
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no folder", Options{Keys: pubs(k)}, "no receipts folder"},
		{"no key", Options{Dir: dir}, "no receipt key"},
		{"window backwards", Options{Dir: dir, Keys: pubs(k), Since: t0.Add(time.Hour), Until: t0}, "before since"},
		{"missing folder", Options{Dir: filepath.Join(dir, "nope"), Keys: pubs(k)}, "no such file"},
		{"missing ledger", Options{Dir: dir, Keys: pubs(k), LedgerDir: filepath.Join(dir, "nope")}, "ledger"},
	}
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := Run(ctx, Options{Dir: goldenReceipts, Keys: pubs(k)}); !errors.Is(err, context.Canceled) {
			t.Errorf("Run error = %v, want context.Canceled", err)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(t.Context(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run error = %v, want %q", err, tt.want)
			}
		})
	}
}
