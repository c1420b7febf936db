package audit

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"runtime"
	"slices"
	"strings"
	"time"

	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

// Options say what to audit.
type Options struct {
	// Dir is the receipts folder, read recursively; any file names.
	Dir string
	// Keys are the zones' receipt keys. Each must have signed at least
	// one receipt in the folder.
	Keys []*keys.PublicKey
	// Registers are zone registers (--zone-register): the hosts of a zone,
	// their roles and receipt keys. Every host a register lists must have
	// receipts in the folder, signed with its keys. Keys or Registers are
	// required.
	Registers []*zone.Register
	// LedgerDir is the builder's ledger folder; empty skips reconciliation.
	LedgerDir string
	// LedgerKeys, when given, must have signed every ledger entry.
	LedgerKeys []*keys.PublicKey
	// Zones, when given, limit the audit to these zones (--zone): other
	// zones' receipts in the folder are verified but not reported.
	Zones []string
	// State is what the last audit handed this one (--state, read with
	// LoadState): each chain must still reach its head, and its
	// acknowledgements close findings.
	State *State
	// StateFile is the --state file ("" when none is kept). FirstAudit
	// says there is no state yet (--first-audit). StateProblem is why the
	// state file cannot be used (a *StateError: missing, or not signed by
	// the state key): the audit then fails (state-missing, state-invalid)
	// and hands no state on (Report.NextState is nil).
	StateFile    string
	FirstAudit   bool
	StateProblem error
	// Expect states chain heads explicitly (--expect ZONE[/HOST]=SHA256).
	Expect []Expectation
	// Since and Until (inclusive, zero = open) narrow the applies reported
	// to those started in the window, and the ledger bundles to those
	// issued in it.
	Since, Until time.Time
	// Now is the report's time; zero means time.Now().
	Now time.Time
	// Workers verify receipts in parallel; 0 means GOMAXPROCS.
	Workers int
	// FailOn are the gates (ParseFailOn): "error", and "warning" or
	// finding kinds that fail the audit too; empty means "error" alone.
	FailOn []string
	// Version is the airlock version, and Args the options the audit was
	// run with, both stated in the report.
	Version string
	Args    []string
}

// Run audits the receipts folder: it verifies every file, orders each
// zone's receipts by their hash chain, checks that the evidence is
// complete (every key used, every zone the ledger targets present, every
// chain reaching the heads known from before), follows the zone's policy
// through its control changes, attributes each apply to a person,
// reconciles with the ledger and returns the report. The error is for what
// prevents an audit (no such folder, no keys, cancelled); problems found
// are findings in the report.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	in := newInterner()
	trusted := opts.allKeys()
	files, err := scanFiles(ctx, opts.Dir, workers, func(f fileRef) examined {
		return examineFile(f, trusted, in)
	})
	if err != nil {
		return nil, fmt.Errorf("receipts: %w", err)
	}
	a := newAuditor(opts)
	a.collect(files)
	files = nil
	if opts.LedgerDir != "" {
		l, entries, findings, err := readLedger(ctx, opts.LedgerDir, opts.LedgerKeys, workers)
		if err != nil {
			return nil, err
		}
		a.ledger, a.entries = l, entries
		a.findings = append(a.findings, findings...)
	}
	a.analyze()
	return a.report(), nil
}

// analyze runs every check on the collected receipts, in order.
func (a *auditor) analyze() {
	a.checkKeysAndZones()
	a.attachments()
	a.scope()
	a.orderChains()
	a.registers()
	a.controls()
	a.people()
	a.reconcile()
	a.completeness()
	a.unchecked()
}

func (o *Options) validate() error {
	switch {
	case o.Dir == "":
		return errors.New("audit: no receipts folder")
	case len(o.Keys) == 0 && len(o.Registers) == 0:
		return errors.New("audit: no receipt key or zone register given")
	case !o.Since.IsZero() && !o.Until.IsZero() && o.Until.Before(o.Since):
		return fmt.Errorf("audit: until (%s) is before since (%s)", stamp(o.Until), stamp(o.Since))
	}
	seen := map[string]bool{}
	for _, r := range o.Registers {
		if seen[r.Zone] {
			return fmt.Errorf("audit: two zone registers of zone %s", r.Zone)
		}
		seen[r.Zone] = true
	}
	return nil
}

// allKeys are the keys given and every register's, each once.
func (o *Options) allKeys() []*keys.PublicKey {
	out := slices.Clone(o.Keys)
	for _, r := range o.Registers {
		for _, k := range r.Keys() {
			if !slices.ContainsFunc(out, k.Equal) {
				out = append(out, k)
			}
		}
	}
	return out
}

// register returns the zone register of a zone, or nil.
func (o *Options) register(zoneName string) *zone.Register {
	i := slices.IndexFunc(o.Registers, func(r *zone.Register) bool { return r.Zone == zoneName })
	if i < 0 {
		return nil
	}
	return o.Registers[i]
}

// inWindow reports whether t is within [Since, Until].
func (o *Options) inWindow(t time.Time) bool {
	return (o.Since.IsZero() || !t.Before(o.Since)) && (o.Until.IsZero() || !t.After(o.Until))
}

// inScope reports whether a zone is audited (--zone).
func (o *Options) inScope(zone string) bool {
	return len(o.Zones) == 0 || slices.Contains(o.Zones, zone)
}

// auditor holds the state of one Run.
type auditor struct {
	opts     Options
	summary  Summary
	findings []Finding
	records  []*record                        // distinct verified receipts, walk order
	sides    []*sideFile                      // file lists and logs found
	claims   map[chainKey]map[uint64][]string // zone and host → seq → rejected files claiming it
	zones    map[string][]*record             // in scope, chain order, chain by chain (by host)
	chains   map[chainKey][]*record           // in scope, chain order
	zoneOK   map[string]bool
	chainOK  map[chainKey]bool
	ledger   *Ledger
	entries  []*LedgerBundle
}

func newAuditor(opts Options) *auditor {
	return &auditor{opts: opts, claims: map[chainKey]map[uint64][]string{}}
}

// collect sorts the examined files into receipts, side files and findings,
// keeping one copy of each signed receipt: copies of the same signed
// statement (byte-identical, or re-encoded) count once.
func (a *auditor) collect(files []examined) {
	a.summary.Files = len(files)
	first := map[digest]*record{}
	for _, e := range files {
		switch {
		case e.side != nil:
			a.sides = append(a.sides, e.side)
		case e.finding != nil:
			f := e.finding
			a.findings = append(a.findings, *f)
			if f.Severity != SeverityError {
				a.summary.Skipped++
				continue
			}
			a.summary.Rejected++
			if k := (chainKey{f.Zone, f.Host}); f.Zone != "" && f.Seq != 0 {
				if a.claims[k] == nil {
					a.claims[k] = map[uint64][]string{}
				}
				a.claims[k][f.Seq] = append(a.claims[k][f.Seq], f.File)
			}
		default:
			r := e.rec
			if o := first[r.link]; o != nil {
				a.summary.Duplicates++
				how := "byte-identical"
				if o.env != r.env {
					how = "the same signed statement, encoded differently"
				}
				f := newFinding(KindDuplicate, r.zone, r.seq, r.file, "the same receipt as %s (%s); counted once", o.file, how)
				f.Related = []string{o.file}
				a.findings = append(a.findings, f)
				continue
			}
			first[r.link] = r
			a.records = append(a.records, r)
		}
	}
}

// checkKeysAndZones reports receipt keys that signed no receipt, and
// receipts signed by a key whose other receipts are for another zone: each
// zone has its own receipt key, so a key's zone is the one most of its
// receipts name.
func (a *auditor) checkKeysAndZones() {
	counts := map[string]map[string]int{} // key → zone → receipts
	for _, r := range a.records {
		if counts[r.keyID] == nil {
			counts[r.keyID] = map[string]int{}
		}
		counts[r.keyID][r.zone]++
	}
	for _, k := range a.opts.Keys {
		if counts[k.ID()] == nil && a.registerHostOf(k.ID()) == "" { // a registered host's keys: see registers
			f := newFinding(KindUnusedKey, "", 0, "",
				"receipt key %s signed no receipt in the folder: its zone's receipts are missing (or the key is not a zone's)", k.ID())
			f.subject = k.ID()
			a.findings = append(a.findings, f)
		}
	}
	home := map[string]string{}
	for k, zs := range counts {
		best := ""
		for z, n := range zs {
			if best == "" || n > zs[best] || (n == zs[best] && z < best) {
				best = z
			}
		}
		home[k] = best
	}
	for _, r := range a.records {
		if h := home[r.keyID]; h != r.zone {
			a.findings = append(a.findings, newFinding(KindZoneMismatch, r.zone, r.seq, r.file,
				"a receipt for zone %s signed with the receipt key of zone %s (%s, which signed %d receipts there)",
				r.zone, h, r.keyID, counts[r.keyID][h]))
		}
	}
}

// scope keeps the receipts of the audited zones (--zone).
func (a *auditor) scope() {
	if len(a.opts.Zones) > 0 {
		kept := a.records[:0]
		for _, r := range a.records {
			if a.opts.inScope(r.zone) {
				kept = append(kept, r)
			}
		}
		clear(a.records[len(kept):])
		a.records = kept
	}
	a.summary.Receipts = len(a.records)
	if len(a.records) == 0 {
		what := "the folder holds no verified receipt"
		if len(a.opts.Zones) > 0 {
			what = "the folder holds no verified receipt of zone " + strings.Join(a.opts.Zones, ", ")
		}
		a.findings = append(a.findings, newFinding(KindNoReceipts, "", 0, "", "%s: nothing can be shown to have happened, or not to have happened", what))
	}
}

// orderChains groups each zone's receipts into chains, one per host (see
// chainHosts), orders each and records the chain findings.
func (a *auditor) orderChains() {
	byZone := map[string][]*record{}
	for _, r := range a.records {
		byZone[r.zone] = append(byZone[r.zone], r)
	}
	a.zones = make(map[string][]*record, len(byZone))
	a.chains = map[chainKey][]*record{}
	a.zoneOK, a.chainOK = map[string]bool{}, map[chainKey]bool{}
	for _, z := range slices.Sorted(maps.Keys(byZone)) {
		byHost := chainHosts(byZone[z])
		for _, h := range slices.Sorted(maps.Keys(byHost)) {
			k := chainKey{z, h}
			c := analyzeChain(z, byHost[h], a.claims[k])
			for i := range c.findings {
				c.findings[i].Host = h
			}
			a.chains[k] = c.order
			a.zones[z] = append(a.zones[z], c.order...)
			a.findings = append(a.findings, c.findings...)
			a.chainOK[k] = true
		}
		a.zoneOK[z] = true
	}
	a.markBroken()
}

// markBroken marks the chains (and their zones) that a chain finding is
// about.
func (a *auditor) markBroken() {
	for _, f := range a.findings {
		switch f.Kind {
		case KindGap, KindFork, KindReorder, KindRestart, KindZoneMismatch, KindHostMismatch:
			if _, ok := a.zoneOK[f.Zone]; ok {
				a.zoneOK[f.Zone] = false
			}
			k := chainKey{f.Zone, f.Host}
			if f.Host == "" {
				k.host = a.hostOfFile(f.Zone, f.File)
			}
			if _, ok := a.chainOK[k]; ok {
				a.chainOK[k] = false
			}
		}
	}
}

// hostOfFile is the host of the chain holding a receipt file of zone, or "".
func (a *auditor) hostOfFile(zoneName, file string) string {
	for _, r := range a.zones[zoneName] {
		if r.file == file {
			return r.chain
		}
	}
	return ""
}

// registerHostOf is the host a register gives a receipt key, or "".
func (a *auditor) registerHostOf(keyID string) string {
	for _, r := range a.opts.Registers {
		if h := r.HostOfKey(keyID); h != "" {
			return h
		}
	}
	return ""
}

// registers checks the folder against each zone register in scope: the
// zone is there, every host it lists has a chain (missing-host), and every
// chain of the zone signed with a registered key is signed with its own
// host's (host-mismatch).
func (a *auditor) registers() {
	for _, reg := range a.opts.Registers {
		if !a.opts.inScope(reg.Zone) {
			continue
		}
		if _, ok := a.zones[reg.Zone]; !ok {
			a.findings = append(a.findings, newFinding(KindMissingZone, reg.Zone, 0, "",
				"the zone register names zone %s (%s), but the folder holds no receipt of that zone", reg.Zone, plural(len(reg.Hosts), "host", "hosts")))
			continue
		}
		for _, h := range reg.Hosts {
			if _, ok := a.chains[chainKey{reg.Zone, h.Name}]; !ok {
				f := newFinding(KindMissingHost, reg.Zone, 0, "",
					"the zone register lists host %s, but the folder holds no receipt of it (not even its genesis record): its receipts were not carried out", h.Name)
				f.Host = h.Name
				a.findings = append(a.findings, f)
			}
		}
		for _, host := range a.hostsOf(reg.Zone) {
			order := a.chains[chainKey{reg.Zone, host}]
			seen := map[string]bool{}
			for _, r := range order {
				owner := reg.HostOfKey(r.keyID)
				if owner == "" || owner == host || seen[r.keyID] {
					continue
				}
				seen[r.keyID] = true
				f := newFinding(KindHostMismatch, reg.Zone, r.seq, r.file,
					"the chain of host %s is signed with receipt key %s, which the zone register gives host %s: each host signs with keys of its own", host, r.keyID, owner)
				f.Host = host
				a.findings = append(a.findings, f)
			}
		}
	}
	a.markBroken()
}

// hostsOf lists the hosts of a zone's chains in the folder, sorted.
func (a *auditor) hostsOf(zoneName string) []string {
	var out []string
	for k := range a.chains {
		if k.zone == zoneName {
			out = append(out, k.host)
		}
	}
	slices.Sort(out)
	return out
}

// reconcile matches applies with the ledger and reports on each apply in
// the window.
func (a *auditor) reconcile() {
	var ix ledgerIndex
	if a.ledger != nil {
		ix = newLedgerIndex(a.entries)
	}
	for _, z := range slices.Sorted(maps.Keys(a.zones)) {
		for _, r := range a.zones[z] {
			if !r.isApply() {
				continue
			}
			var lb *LedgerBundle
			if a.ledger != nil {
				if lb = ix.match(r); lb != nil {
					lb.Applies.recs = append(lb.Applies.recs, r)
				}
			}
			if !a.opts.inWindow(r.started()) {
				continue
			}
			for _, l := range r.extra().local {
				msg := l.msg
				if (l.kind == KindRefused || l.kind == KindTampering) && (r.ledger == LedgerNotInLedger || r.ledger == LedgerMismatch) {
					msg += "; the bundle is not in the builder's ledger"
				}
				a.findings = append(a.findings, Finding{Severity: infoOf(l.kind).severity, Kind: l.kind, Zone: r.zone, Host: r.chain, Seq: r.seq, File: r.file, Message: msg, subject: l.subject})
			}
			if r.ran() {
				a.findings = append(a.findings, ledgerFindings(r, ix)...)
			}
		}
	}
	if a.ledger == nil {
		return
	}
	audited := map[string]bool{}
	for z := range a.zones {
		audited[z] = true
	}
	hasChain := map[chainKey]bool{}
	for k := range a.chains {
		hasChain[k] = true
	}
	sortLedger(a.entries)
	a.ledger.Bundles = []LedgerBundle{}
	missing := map[string][]string{} // zone → bundles that target it
	for _, b := range a.entries {
		b.Hosts = []HostStatus{}
		for _, z := range targetZones(b.Targets) {
			if audited[z] {
				b.Hosts = append(b.Hosts, hostStatuses(b, z, a.fleet(z))...)
			}
		}
		settleStatus(b, audited)
		if !a.opts.inWindow(b.IssuedAt) {
			continue
		}
		a.findings = append(a.findings, neverApplied(b, audited, hasChain, a.chains)...)
		a.ledger.Bundles = append(a.ledger.Bundles, *b)
		for _, z := range targetZones(b.Targets) {
			if !audited[z] && a.opts.inScope(z) && a.opts.register(z) == nil { // a register's zone is reported missing once
				missing[z] = append(missing[z], bundleVersion(b.Name, b.Version))
			}
		}
	}
	for _, z := range slices.Sorted(maps.Keys(missing)) {
		bs := missing[z]
		a.findings = append(a.findings, newFinding(KindMissingZone, z, 0, "",
			"the ledger has %s for zone %s (%s), but the folder holds no receipt of that zone",
			plural(len(bs), "bundle", "bundles"), z, clipList(bs, 5)))
	}
}

// fleet lists the hosts of an audited zone, by name: those with a chain
// in the folder and those its register lists. A host's roles are the
// register's, else those the newest receipt of its chain records.
func (a *auditor) fleet(z string) []fleetHost {
	reg := a.opts.register(z)
	var out []fleetHost
	for _, h := range a.hostsOf(z) {
		fh := fleetHost{name: h, chain: true}
		if rh := reg.Host(h); rh != nil {
			fh.roles = rh.Roles
		} else if head := chainHead(a.chains[chainKey{z, h}]); head != nil && head.policy != nil {
			fh.roles = head.policy.HostRoles
		}
		out = append(out, fh)
	}
	if reg != nil {
		for _, h := range reg.Hosts {
			if !slices.ContainsFunc(out, func(f fleetHost) bool { return f.name == h.Name }) {
				out = append(out, fleetHost{name: h.Name, roles: h.Roles})
			}
		}
	}
	slices.SortFunc(out, func(x, y fleetHost) int { return cmp.Compare(x.name, y.name) })
	return out
}

// chainHead is the receipt of a chain with the highest seq (the latest
// started among equals), or nil.
func chainHead(order []*record) *record {
	var head *record
	for _, r := range order {
		if head == nil || newer(r, head) {
			head = r
		}
	}
	return head
}

// clipList joins at most n items, saying how many more there are.
func clipList(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
}

// ran reports whether an outcome means the apply changed (or tried to
// change) the zone: steps ran.
func ran(result receipt.OutcomeResult) bool {
	return result == receipt.Applied || result == receipt.Failed || result == receipt.RolledBack
}

func applyRef(r *record) ApplyRef {
	return ApplyRef{
		Zone: r.zone, Host: r.chain, Seq: r.seq, File: r.file, Started: r.started(),
		Result: r.result, Reason: r.reason, Operator: operatorName(*r.operator),
		Approvers: r.bundle.Approvers(),
	}
}

// report assembles the Report in its deterministic order.
func (a *auditor) report() *Report {
	now := a.opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	r := &Report{
		FormatVersion: ReportFormatVersion,
		GeneratedAt:   now.UTC(),
		Airlock:       a.opts.Version,
		Options:       a.opts.Args,
		Dir:           a.opts.Dir,
		Since:         a.opts.Since,
		Until:         a.opts.Until,
		Ledger:        a.ledger,
		Zones:         []Zone{},
		src:           &source{dir: a.opts.Dir},
		window:        a.opts.inWindow,
	}
	if r.Options == nil {
		r.Options = []string{}
	}
	r.Keys = []string{}
	for _, k := range a.opts.allKeys() {
		r.Keys = append(r.Keys, k.ID())
	}
	r.Policy, r.PolicySHA256 = a.policy()
	chainOf := make(map[string]string, len(a.records))
	fileRec := make(map[string]*record, len(a.records))
	for _, rec := range a.records {
		chainOf[rec.file] = rec.chain
		fileRec[rec.file] = rec
	}
	for i := range a.findings {
		if f := &a.findings[i]; f.Host == "" && f.Zone != "" && !f.namesLedgerFile() {
			f.Host = chainOf[f.File] // the chain of the receipt a finding is about
		}
	}
	r.flagged = map[string]string{}
	for _, f := range a.findings {
		if f.File != "" && f.Zone != "" && !f.namesLedgerFile() && severityRank(f.Severity) < severityRank(r.flagged[f.File]) {
			r.flagged[f.File] = f.Severity
		}
	}
	for _, name := range slices.Sorted(maps.Keys(a.zones)) {
		z := a.zone(name)
		a.summary.Applies += z.Outcomes.total()
		a.summary.ControlChanges += z.ControlChanges
		a.summary.Outcomes.addAll(z.Outcomes)
		r.Zones = append(r.Zones, z)
	}
	for i := range r.Zones {
		r.Zones[i].Entries = entryList{r, &r.Zones[i]}
	}
	sortFindings(a.findings)
	setIDs(a.findings)
	r.Findings = a.findings
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	s := &a.summary
	s.Zones = len(r.Zones)
	s.Kinds = map[string]int{}
	for _, f := range r.Findings {
		s.Kinds[f.Kind]++
		switch f.Severity {
		case SeverityError:
			s.Errors++
		case SeverityWarning:
			s.Warnings++
		default:
			s.Infos++
		}
	}
	a.judge(r.Findings, s)
	s.NotChecked = notChecked(r.Findings)
	r.Summary = *s
	r.countApplicationFindings(fileRec)
	r.Evidence = a.evidenceRows(r)
	r.NextState = a.nextState(r)
	r.State = a.stateReport(r.NextState)
	return r
}

// policy is the audit's policy — its rules, gates and scope — and the
// SHA-256 of its encoding.
func (a *auditor) policy() (AuditPolicy, string) {
	o := a.opts
	sc := Scope{Dir: o.Dir, Zones: orEmpty(slices.Clone(o.Zones)), Since: o.Since, Until: o.Until, Keys: []string{}, Registers: []string{},
		Ledger: o.LedgerDir, LedgerKeys: []string{}, Expect: []string{}, FirstAudit: o.FirstAudit}
	for _, k := range o.Keys {
		sc.Keys = append(sc.Keys, k.ID())
	}
	for _, r := range o.Registers {
		sc.Registers = append(sc.Registers, r.Zone)
	}
	for _, k := range o.LedgerKeys {
		sc.LedgerKeys = append(sc.LedgerKeys, k.ID())
	}
	for _, e := range o.Expect {
		sc.Expect = append(sc.Expect, e.Zone+orNone("/", e.Host)+"="+e.SHA256)
	}
	if o.State != nil {
		sc.State = o.State.sha256
	}
	p := AuditPolicy{Rules: AuditPolicyURI, Gates: a.gates(), Scope: sc}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil { // plain data
		return p, ""
	}
	return p, hexSHA256(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// zone summarises one zone and its hosts' chains.
func (a *auditor) zone(name string) Zone {
	order := a.zones[name]
	reg := a.opts.register(name)
	z := Zone{Name: name, Receipts: len(order), ChainOK: a.zoneOK[name], Keys: []string{}, Hosts: []string{}, Chains: []Chain{},
		Registered: reg != nil, Genesis: true, order: order, Applications: a.applications(order)}
	keySet, hostSet := map[string]bool{}, map[string]bool{}
	for _, h := range a.hostsOf(name) {
		c := a.chain(chainKey{name, h}, reg)
		z.Chains = append(z.Chains, c)
		z.Genesis = z.Genesis && c.Genesis
		z.Outcomes.addAll(c.Outcomes)
		z.ControlChanges += c.ControlChanges
		if z.FirstStarted.IsZero() || c.FirstStarted.Before(z.FirstStarted) {
			z.FirstStarted = c.FirstStarted
		}
		if c.LastStarted.After(z.LastStarted) {
			z.LastStarted = c.LastStarted
		}
		for _, k := range c.Keys {
			keySet[k] = true
		}
	}
	for _, r := range order {
		if r.host != "" {
			hostSet[r.host] = true
		}
	}
	if reg != nil {
		for _, h := range reg.Hosts {
			if _, ok := a.chains[chainKey{name, h.Name}]; !ok {
				z.MissingHosts = append(z.MissingHosts, h.Name)
			}
		}
	}
	z.Keys = slices.Sorted(maps.Keys(keySet))
	z.Hosts = slices.Sorted(maps.Keys(hostSet))
	return z
}

// chain summarises one host's chain.
func (a *auditor) chain(k chainKey, reg *zone.Register) Chain {
	order := a.chains[k]
	c := Chain{Host: k.host, Receipts: len(order), ChainOK: a.chainOK[k], Keys: []string{}}
	keySet := map[string]bool{}
	for i, r := range order {
		keySet[r.keyID] = true
		if i == 0 || r.seq < c.FirstSeq {
			c.FirstSeq = r.seq
		}
		if c.FirstStarted.IsZero() || r.started().Before(c.FirstStarted) {
			c.FirstStarted = r.started()
		}
		if r.started().After(c.LastStarted) {
			c.LastStarted = r.started()
		}
		if r.event == receipt.EventGenesis && r.seq == 1 {
			c.Genesis = true
		}
		if a.opts.inWindow(r.started()) {
			if r.isApply() {
				c.Outcomes.add(r.result)
			} else {
				c.ControlChanges++
			}
		}
	}
	if head := chainHead(order); head != nil {
		c.LastSeq, c.HeadSHA256, c.HeadFile = head.seq, head.link.String(), head.file
		if head.policy != nil {
			c.PolicySHA256, c.Roles = head.policy.SHA256, head.policy.HostRoles
		}
	}
	if rh := reg.Host(k.host); rh != nil {
		c.Registered, c.Roles = true, rh.Roles
	}
	c.Keys = slices.Sorted(maps.Keys(keySet))
	return c
}

// ParseTime reads a --since or --until value: RFC 3339
// ("2026-01-02T15:04:05Z") or a date ("2026-01-02", UTC). A date given as
// an end (endOfDay) means the last instant of that day, so that
// "--until 2026-01-31" includes the 31st.
func ParseTime(s string, endOfDay bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2026-01-02T15:04:05Z) or a date (2026-01-02)", s)
	}
	if endOfDay {
		t = t.Add(24*time.Hour - time.Nanosecond)
	}
	return t, nil
}

// dirOf is the folder part of a slash path relative to the receipts folder.
func dirOf(rel string) string { return path.Dir(rel) }
