package audit

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/schematest"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

// fleet is a zone of named hosts in a test: each host's chain is written
// into dir/<host>/ (the receipts of one media folder), and the register
// lists the hosts with their roles and keys.
type fleet struct {
	dir    string
	zone   string
	hosts  map[string]*chainWriter
	reg    *zone.Register
	policy map[string]*receipt.Policy
}

func newFleet(t *testing.T, dir, zoneName string, roles map[string][]string) *fleet {
	t.Helper()
	f := &fleet{dir: dir, zone: zoneName, hosts: map[string]*chainWriter{}, policy: map[string]*receipt.Policy{},
		reg: &zone.Register{APIVersion: zone.APIVersion, Zone: zoneName}}
	var names []string
	for h := range roles {
		names = append(names, h)
	}
	slices.Sort(names)
	for _, h := range names {
		k := newKey(t)
		c := newChain(t, filepath.Join(dir, h), zoneName, k)
		c.host = h
		f.hosts[h] = c
		f.policy[h] = testPolicy("policy of "+h, zoneName, []receipt.PolicyKey{releaseKey}, []receipt.PolicyKey{approveKey})
		f.policy[h].Host, f.policy[h].HostRoles = h, roles[h]
		f.reg.Hosts = append(f.reg.Hosts, zone.RegisteredHost{Name: h, Roles: roles[h], Identity: zone.IdentityZone,
			ReceiptKeys: []string{string(k.Public().PEM())}})
	}
	return f
}

// register returns the register as an auditor reads it from zone.yaml.
func (f *fleet) register(t *testing.T) *zone.Register {
	t.Helper()
	data, err := f.reg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	r, err := zone.ParseRegister(data)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// genesis writes each host's genesis record.
func (f *fleet) genesis() {
	for _, h := range slices.Sorted(maps.Keys(f.hosts)) {
		f.hosts[h].control(f.policy[h], nil, receipt.Operator{User: "alice", UID: "1001"})
	}
}

// apply writes an apply of b on host h with outcome result.
func (f *fleet) apply(h string, b *testBundle, result receipt.OutcomeResult) string {
	return f.applyWith(h, b, result, "")
}

// applyWith is apply; a refusal names the check that failed.
func (f *fleet) applyWith(h string, b *testBundle, result receipt.OutcomeResult, failed receipt.CheckName) string {
	file, _ := f.hosts[h].next(under(f.policy[h]), func(p *receipt.Predicate) {
		p.Bundle = b.ref()
		p.Outcome = receipt.Outcome{Result: result, Reason: receipt.ReasonOK}
		switch result {
		case receipt.RolledBack:
			p.Outcome.Reason = receipt.ReasonStepFailed
			p.Steps[1].Result, p.Steps[1].ExitCode = receipt.StepFailed, 1
		case receipt.AlreadyApplied:
			p.Outcome.Reason = receipt.ReasonAlreadyApplied
		case receipt.Refused:
			p.Outcome.Reason = receipt.Reason(failed)
			p.Steps = nil
		}
	})
	return file
}

func chainOf(r *Report, zoneName, host string) *Chain {
	for _, z := range r.Zones {
		for i, c := range z.Chains {
			if z.Name == zoneName && c.Host == host {
				return &z.Chains[i]
			}
		}
	}
	return nil
}

// TestFleetAudit: the receipts of three hosts in one folder audit as one
// zone with a chain per host, from the register alone; the report and
// its JSON say so, and validate against the schema.
func TestFleetAudit(t *testing.T) {
	dir := t.TempDir()
	f := newFleet(t, dir, "pci-east", map[string][]string{"app-01": {"web"}, "app-02": {"web"}, "db-01": {"db"}})
	f.genesis()
	b := bundleAt("b1", "1.0.0", 1, t0, 30*24*time.Hour, "pci-east")
	for _, h := range []string{"app-01", "app-02", "db-01"} {
		f.apply(h, b, receipt.Applied)
	}
	r := runAudit(t, Options{Dir: dir, Registers: []*zone.Register{f.register(t)}})
	if !r.OK() || len(r.Zones) != 1 || len(r.Zones[0].Chains) != 3 || !r.Zones[0].Registered || !r.Zones[0].Genesis {
		t.Fatalf("report: ok %v, zones %+v\n%s", r.OK(), r.Zones, dumpFindings(r))
	}
	for _, h := range []string{"app-01", "app-02", "db-01"} {
		c := chainOf(r, "pci-east", h)
		if c == nil || c.Receipts != 2 || c.FirstSeq != 1 || c.LastSeq != 2 || !c.ChainOK || !c.Genesis || !c.Registered {
			t.Errorf("chain of %s: %+v", h, c)
		}
	}
	if c := chainOf(r, "pci-east", "db-01"); !slices.Equal(c.Roles, []string{"db"}) {
		t.Errorf("db-01 roles %v", c.Roles)
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if err := schematest.Schemas(t).Validate("audit-report.schema.json", js.Bytes()); err != nil {
		t.Errorf("fleet report: %v", err)
	}
	// With the keys given one by one the chains are the same (without
	// the register's completeness checks).
	var ks []*keys.PublicKey
	for _, h := range f.hosts {
		ks = append(ks, h.key.Public())
	}
	if r := runAudit(t, Options{Dir: dir, Keys: ks}); !r.OK() || len(r.Zones[0].Chains) != 3 {
		t.Errorf("with --key: ok %v\n%s", r.OK(), dumpFindings(r))
	}
}

// TestFleetCompleteness: what the register lets the audit prove — every
// host it lists is there (missing-host), every chain is signed by its
// own host's key (host-mismatch), its zone is there (missing-zone).
func TestFleetCompleteness(t *testing.T) {
	t.Run("a registered host without receipts", func(t *testing.T) {
		dir := t.TempDir()
		f := newFleet(t, dir, "pci-east", map[string][]string{"app-01": nil, "app-02": nil, "app-03": nil})
		f.genesis()
		os.RemoveAll(filepath.Join(dir, "app-02"))
		r := runAudit(t, Options{Dir: dir, Registers: []*zone.Register{f.register(t)}})
		checkFindings(t, r, []want{{KindMissingHost, "pci-east", 0, "", []string{"lists host app-02", "no receipt of it"}}})
		if m := findingsOf(r, KindMissingHost); len(m) != 1 || m[0].Host != "app-02" || !slices.Equal(r.Zones[0].MissingHosts, []string{"app-02"}) {
			t.Errorf("missing host %+v, zone %+v", m, r.Zones[0].MissingHosts)
		}
		if len(findingsOf(r, KindUnusedKey)) != 0 {
			t.Error("a registered host's key reported unused as well")
		}
	})
	t.Run("a chain signed with another host's key", func(t *testing.T) {
		dir := t.TempDir()
		f := newFleet(t, dir, "pci-east", map[string][]string{"app-01": nil, "app-02": nil})
		f.genesis()
		stray := newChain(t, filepath.Join(dir, "stray"), "pci-east", f.hosts["app-01"].key)
		stray.host = "app-09"
		stray.control(f.policy["app-01"], nil, receipt.Operator{User: "alice", UID: "1001"})
		r := runAudit(t, Options{Dir: dir, Registers: []*zone.Register{f.register(t)}})
		checkFindings(t, r, []want{{KindHostMismatch, "pci-east", 1, "stray/" + receiptName("pci-east", 1), []string{"chain of host app-09", "gives host app-01"}}})
		if c := chainOf(r, "pci-east", "app-09"); c == nil || c.ChainOK || c.Registered {
			t.Errorf("stray chain %+v", c)
		}
	})
	t.Run("the register's zone is missing", func(t *testing.T) {
		dir := t.TempDir()
		f := newFleet(t, dir, "pci-east", map[string][]string{"app-01": nil})
		other := newChain(t, filepath.Join(dir, "west"), "pci-west", newKey(t))
		other.next()
		r := runAudit(t, Options{Dir: dir, Keys: pubs(other.key), Registers: []*zone.Register{f.register(t)}})
		checkFindings(t, r, []want{{KindMissingZone, "pci-east", 0, "", []string{"zone register names zone pci-east"}}})
	})
	t.Run("two registers of one zone", func(t *testing.T) {
		f := newFleet(t, t.TempDir(), "pci-east", map[string][]string{"app-01": nil})
		if _, err := Run(t.Context(), Options{Dir: f.dir, Registers: []*zone.Register{f.register(t), f.register(t)}}); err == nil {
			t.Error("two registers of one zone accepted")
		}
	})
}

// TestFleetChains: chains are told apart by their links, named by their
// newest receipt's host; a host renamed by a committed policy keeps its
// chain; two chains of one host name are a restart.
func TestFleetChains(t *testing.T) {
	t.Run("renamed", func(t *testing.T) {
		dir := t.TempDir()
		f := newFleet(t, dir, "pci-east", map[string][]string{"app-01": nil, "app-02": nil})
		f.genesis()
		c := f.hosts["app-01"]
		renamed := *f.policy["app-01"]
		renamed.Host, renamed.SHA256 = "app-01b", sha256Hex([]byte("renamed"))
		c.host = "app-01b"
		c.control(&renamed, f.policy["app-01"], receipt.Operator{User: "alice", UID: "1001"})
		c.next(under(&renamed))
		r := runAudit(t, Options{Dir: dir, Keys: pubs(f.hosts["app-01"].key, f.hosts["app-02"].key)})
		if ch := chainOf(r, "pci-east", "app-01b"); ch == nil || ch.Receipts != 3 || !ch.ChainOK || !slices.Equal(r.Zones[0].Hosts, []string{"app-01", "app-01b", "app-02"}) {
			t.Fatalf("renamed chain %+v, zone hosts %v\n%s", ch, r.Zones[0].Hosts, dumpFindings(r))
		}
		if !r.OK() {
			t.Errorf("a renamed host fails the audit:\n%s", dumpFindings(r))
		}
	})
	t.Run("two chains of one host", func(t *testing.T) {
		dir := t.TempDir()
		f := newFleet(t, dir, "pci-east", map[string][]string{"app-01": nil})
		f.genesis()
		f.hosts["app-01"].next(under(f.policy["app-01"]))
		again := newChain(t, filepath.Join(dir, "again"), "pci-east", newKey(t))
		again.host, again.clock = "app-01", again.clock.Add(48*time.Hour)
		again.control(f.policy["app-01"], nil, receipt.Operator{User: "alice", UID: "1001"})
		r := runAudit(t, Options{Dir: dir, Keys: pubs(f.hosts["app-01"].key, again.key)})
		checkFindings(t, r, []want{{KindRestart, "pci-east", 1, "again/" + receiptName("pci-east", 1), []string{"the chain restarts"}}})
		if rs := findingsOf(r, KindRestart); rs[0].Host != "app-01" {
			t.Errorf("restart on host %q", rs[0].Host)
		}
	})
}

// TestFleetLedgerHosts: per bundle of the ledger, the hosts it is for (by
// zone, host: and role: targets), what became of it on each, and which it
// did not reach (not-applied-on-host); a bundle no host applied is
// never-applied, naming the hosts. A refusal on a host the bundle is not
// for (a role:web bundle tried on a db host) does not make that host one
// of its hosts.
func TestFleetLedgerHosts(t *testing.T) {
	s := newLedgerScene(t)
	f := newFleet(t, s.dir, "pci-east", map[string][]string{"app-01": {"web"}, "app-02": {"web", "batch"}, "app-03": {"web"}, "db-01": {"db"}})
	f.genesis()
	day := 24 * time.Hour
	type apply struct {
		host   string
		result receipt.OutcomeResult
		check  receipt.CheckName // the check a refusal names
	}
	cases := []struct {
		version string
		narrow  []string // host: and role: targets beside zone:pci-east
		applies []apply
		status  string
		hosts   []string // "host result", in register order
		missed  []string // not-applied-on-host
	}{
		{"1.0.0", []string{"role:web"},
			[]apply{{"app-01", receipt.Applied, ""}, {"app-02", receipt.RolledBack, ""}, {"db-01", receipt.Refused, receipt.CheckTarget}},
			StatusPartial, []string{"app-01 applied", "app-02 rolled-back", "app-03 not-applied"}, []string{"app-03"}},
		{"1.0.1", nil, nil,
			StatusNeverApplied, []string{"app-01 not-applied", "app-02 not-applied", "app-03 not-applied", "db-01 not-applied"}, nil},
		{"1.0.2", []string{"host:db-01"}, []apply{{"db-01", receipt.Applied, ""}},
			StatusApplied, []string{"db-01 applied"}, nil},
		{"1.0.3", []string{"role:batch", "host:app-03"}, []apply{{"app-02", receipt.Applied, ""}},
			StatusPartial, []string{"app-02 applied", "app-03 not-applied"}, []string{"app-03"}},
		{"1.0.4", []string{"role:db"}, []apply{{"db-01", receipt.Refused, receipt.CheckExpiry}},
			StatusAttempted, []string{"db-01 refused"}, nil},
		{"1.0.5", []string{"host:app-01", "host:app-02"}, []apply{{"app-01", receipt.Applied, ""}, {"app-02", receipt.AlreadyApplied, ""}},
			StatusApplied, []string{"app-01 applied", "app-02 already-applied"}, nil},
	}
	built := map[string]*testBundle{}
	for i, tc := range cases {
		b := bundleAt(fmt.Sprintf("b%d", i), tc.version, uint64(i+1), t0.Add(time.Duration(i)*time.Hour), 30*day, "pci-east")
		b.narrow = tc.narrow
		s.build(t, tc.version, b, true)
		built[tc.version] = b
		for _, a := range tc.applies {
			f.applyWith(a.host, b, a.result, a.check)
		}
	}
	hosts := func(b LedgerBundle) []string {
		var out []string
		for _, h := range b.Hosts {
			out = append(out, h.Host+" "+h.Result)
		}
		return out
	}
	check := func(t *testing.T, r *Report) {
		t.Helper()
		got := map[string]LedgerBundle{}
		for _, b := range r.Ledger.Bundles {
			got[b.Version] = b
		}
		for _, tc := range cases {
			b := got[tc.version]
			if b.Status != tc.status || !slices.Equal(hosts(b), tc.hosts) {
				t.Errorf("%s (targets %v): %s %v, want %s %v", tc.version, b.Targets, b.Status, hosts(b), tc.status, tc.hosts)
			}
			var missed []string
			for _, na := range findingsOf(r, KindNotAppliedOnHost) {
				if na.File == built[tc.version].ledgerPath() {
					missed = append(missed, na.Host)
					if !strings.Contains(na.Message, "did not reach host "+na.Host) || !strings.Contains(na.Message, strings.Join(b.Targets, ", ")) {
						t.Errorf("not-applied-on-host message %q", na.Message)
					}
				}
			}
			if !slices.Equal(missed, tc.missed) {
				t.Errorf("%s: not-applied-on-host %v, want %v", tc.version, missed, tc.missed)
			}
		}
	}
	r := runAudit(t, Options{Dir: s.dir, LedgerDir: s.ledger, Registers: []*zone.Register{f.register(t)}})
	check(t, r)
	nv := findingsOf(r, KindNeverApplied)
	if len(nv) != 1 || !strings.Contains(nv[0].Message, "(hosts app-01, app-02, app-03, db-01)") {
		t.Errorf("never-applied: %+v", nv)
	}
	if !r.OK() {
		t.Errorf("warnings only, yet:\n%s", dumpFindings(r))
	}
	// Without the register, the hosts and their roles come from the
	// chains (the policy each head records): the same answer.
	var ks []*keys.PublicKey
	for _, h := range f.hosts {
		ks = append(ks, h.key.Public())
	}
	check(t, runAudit(t, Options{Dir: s.dir, LedgerDir: s.ledger, Keys: ks}))
}

// TestFleetState: the state keeps a head per host; a head kept before
// hosts had chains of their own gives way to the host's head that holds
// it; a host's truncated chain is named; --expect ZONE/HOST for a host
// with no receipt is a missing host.
func TestFleetState(t *testing.T) {
	dir := t.TempDir()
	f := newFleet(t, dir, "pci-east", map[string][]string{"app-01": nil, "app-02": nil})
	f.genesis()
	f.apply("app-01", bundleAt("b", "1.0.0", 1, t0, 30*24*time.Hour, "pci-east"), receipt.Applied)
	ks := pubs(f.hosts["app-01"].key, f.hosts["app-02"].key)
	legacy := &State{FormatVersion: StateFormatVersion, Heads: []Head{{Zone: "pci-east", Seq: 1, SHA256: f.hosts["app-01"].prev, File: "x"}}}
	r := runAudit(t, Options{Dir: dir, Keys: ks, State: legacy})
	var heads []string
	for _, h := range r.NextState.Heads {
		heads = append(heads, h.Zone+"/"+h.Host)
	}
	if !r.OK() || !slices.Equal(heads, []string{"pci-east/app-01", "pci-east/app-02"}) {
		t.Fatalf("next state %v\n%s", heads, dumpFindings(r))
	}
	// app-01's newest receipt removed: its chain is truncated, app-02's not.
	os.Remove(filepath.Join(dir, "app-01", filepath.FromSlash(receiptName("pci-east", 2))))
	r = runAudit(t, Options{Dir: dir, Keys: ks, State: r.NextState, Expect: []Expectation{{Zone: "pci-east", Host: "app-03", SHA256: f.hosts["app-01"].prev}}})
	tr := findingsOf(r, KindTruncated)
	if len(tr) != 1 || tr[0].Host != "app-01" || tr[0].Seq != 1 {
		t.Errorf("truncated: %+v", tr)
	}
	if m := findingsOf(r, KindMissingHost); len(m) != 1 || m[0].Host != "app-03" {
		t.Errorf("--expect of a host without receipts: %+v", m)
	}
	for _, h := range r.NextState.Heads {
		if h.Host == "app-01" && h.Seq != 2 {
			t.Errorf("the truncated chain's head moved back: %+v", h)
		}
	}
}
