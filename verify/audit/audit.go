package audit

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"

	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
)

// Options say what to audit.
type Options struct {
	// Dir is the receipts folder, read recursively; any file names.
	Dir string
	// Keys are the zones' receipt keys. At least one is required.
	Keys []*keys.PublicKey
	// LedgerDir is the builder's ledger folder; empty skips reconciliation.
	LedgerDir string
	// LedgerKeys, when given, must have signed every ledger entry.
	LedgerKeys []*keys.PublicKey
	// Since and Until (inclusive, zero = open) narrow the applies reported
	// to those started in the window, and the ledger bundles to those
	// issued in it.
	Since, Until time.Time
	// Now is the report's time; zero means time.Now().
	Now time.Time
	// Workers verify receipts in parallel; 0 means GOMAXPROCS.
	Workers int
}

// Run audits the receipts folder: it verifies every file, orders each
// zone's receipts by their hash chain, reconciles them with the ledger and
// returns the report. The error is for what prevents an audit (no such
// folder, no keys, cancelled); problems found are findings in the report.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	files, err := scanFiles(ctx, opts.Dir, workers, func(f fileRef) examined {
		return examineFile(f, opts.Keys)
	})
	if err != nil {
		return nil, fmt.Errorf("receipts: %w", err)
	}
	a := newAuditor(opts)
	a.collect(files)
	if opts.LedgerDir != "" {
		l, entries, findings, err := readLedger(ctx, opts.LedgerDir, opts.LedgerKeys, workers)
		if err != nil {
			return nil, err
		}
		a.ledger, a.entries = l, entries
		a.findings = append(a.findings, findings...)
	}
	a.checkKeysAndZones()
	a.chains()
	a.reconcile()
	return a.report(), nil
}

func (o *Options) validate() error {
	switch {
	case o.Dir == "":
		return errors.New("audit: no receipts folder")
	case len(o.Keys) == 0:
		return errors.New("audit: no receipt key given")
	case !o.Since.IsZero() && !o.Until.IsZero() && o.Until.Before(o.Since):
		return fmt.Errorf("audit: until (%s) is before since (%s)", stamp(o.Until), stamp(o.Since))
	}
	return nil
}

// inWindow reports whether t is within [Since, Until].
func (o *Options) inWindow(t time.Time) bool {
	return (o.Since.IsZero() || !t.Before(o.Since)) && (o.Until.IsZero() || !t.After(o.Until))
}

// auditor holds the state of one Run.
type auditor struct {
	opts     Options
	summary  Summary
	findings []Finding
	applies  []*Apply                       // distinct verified receipts, walk order
	claims   map[string]map[uint64][]string // zone → seq → rejected files claiming it
	zones    map[string][]*Apply            // chain order
	zoneOK   map[string]bool
	ledger   *Ledger
	entries  []*LedgerBundle
}

func newAuditor(opts Options) *auditor {
	return &auditor{opts: opts, claims: map[string]map[uint64][]string{}}
}

// collect sorts the examined files into receipts and findings, dropping
// byte-identical copies.
func (a *auditor) collect(files []examined) {
	a.summary.Files = len(files)
	first := map[string]*Apply{}
	for _, e := range files {
		if f := e.finding; f != nil {
			a.findings = append(a.findings, *f)
			if f.Severity != SeverityError {
				a.summary.Skipped++
				continue
			}
			a.summary.Rejected++
			if f.Zone != "" && f.Seq != 0 {
				if a.claims[f.Zone] == nil {
					a.claims[f.Zone] = map[uint64][]string{}
				}
				a.claims[f.Zone][f.Seq] = append(a.claims[f.Zone][f.Seq], f.File)
			}
			continue
		}
		if o := first[e.apply.SHA256]; o != nil {
			a.summary.Duplicates++
			f := newFinding(KindDuplicate, e.apply.Zone, e.apply.Seq, e.apply.File,
				"the same receipt as %s (byte-identical); counted once", o.File)
			f.Related = []string{o.File}
			a.findings = append(a.findings, f)
			continue
		}
		first[e.apply.SHA256] = e.apply
		a.applies = append(a.applies, e.apply)
	}
	a.summary.Receipts = len(a.applies)
}

// checkKeysAndZones reports receipts signed by a key whose other receipts
// are for another zone: each zone has its own receipt key, so a key's zone
// is the one most of its receipts name.
func (a *auditor) checkKeysAndZones() {
	counts := map[string]map[string]int{} // key → zone → receipts
	for _, ap := range a.applies {
		if counts[ap.KeyID] == nil {
			counts[ap.KeyID] = map[string]int{}
		}
		counts[ap.KeyID][ap.Zone]++
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
	for _, ap := range a.applies {
		if h := home[ap.KeyID]; h != ap.Zone {
			a.findings = append(a.findings, newFinding(KindZoneMismatch, ap.Zone, ap.Seq, ap.File,
				"a receipt for zone %s signed with the receipt key of zone %s (%s, which signed %d receipts there)",
				ap.Zone, h, ap.KeyID, counts[ap.KeyID][h]))
		}
	}
}

// chains orders each zone's receipts and records the chain findings.
func (a *auditor) chains() {
	byZone := map[string][]*Apply{}
	for _, ap := range a.applies {
		byZone[ap.Zone] = append(byZone[ap.Zone], ap)
	}
	a.zones = make(map[string][]*Apply, len(byZone))
	for z, aps := range byZone {
		c := analyzeChain(z, aps, a.claims[z])
		a.zones[z] = c.order
		a.findings = append(a.findings, c.findings...)
	}
	a.zoneOK = map[string]bool{}
	for z := range a.zones {
		a.zoneOK[z] = true
	}
	for _, f := range a.findings {
		switch f.Kind {
		case KindGap, KindFork, KindReorder, KindRestart, KindZoneMismatch:
			if _, ok := a.zoneOK[f.Zone]; ok {
				a.zoneOK[f.Zone] = false
			}
		}
	}
}

// reconcile matches applies with the ledger and reports on each apply in
// the window.
func (a *auditor) reconcile() {
	var ix ledgerIndex
	if a.ledger != nil {
		ix = newLedgerIndex(a.entries)
	}
	for _, z := range slices.Sorted(maps.Keys(a.zones)) {
		for _, ap := range a.zones[z] {
			var lb *LedgerBundle
			if a.ledger != nil {
				if lb = ix.match(ap); lb != nil {
					lb.Applies = append(lb.Applies, applyRef(ap))
				}
			}
			if a.opts.inWindow(ap.Started) {
				a.findings = append(a.findings, applyFindings(ap, lb)...)
				if ran(ap.Result) {
					a.findings = append(a.findings, ledgerFindings(ap, ix)...)
				}
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
	settleStatus(a.entries, audited)
	sortLedger(a.entries)
	a.ledger.Bundles = []LedgerBundle{}
	for _, b := range a.entries {
		if !a.opts.inWindow(b.IssuedAt) {
			continue
		}
		a.findings = append(a.findings, neverApplied(b, audited, a.zones)...)
		a.ledger.Bundles = append(a.ledger.Bundles, *b)
	}
}

// ran reports whether an outcome means the apply changed (or tried to
// change) the zone: steps ran.
func ran(result receipt.OutcomeResult) bool {
	return result == receipt.Applied || result == receipt.Failed || result == receipt.RolledBack
}

func applyRef(ap *Apply) ApplyRef {
	return ApplyRef{
		Zone: ap.Zone, Seq: ap.Seq, File: ap.File, Started: ap.Started,
		Result: ap.Result, Reason: ap.Reason, Operator: operatorName(ap.Operator),
		Approvers: ap.Bundle.Approvers(),
	}
}

// applyFindings reports on one apply: its outcome when it needs
// attention, overrides, and applies that should not have run.
func applyFindings(ap *Apply, lb *LedgerBundle) []Finding {
	var out []Finding
	add := func(kind, format string, args ...any) {
		out = append(out, newFinding(kind, ap.Zone, ap.Seq, ap.File, format, args...))
	}
	what := bundleName(ap.Bundle)
	switch ap.Result {
	case receipt.Refused:
		msg := outcomeText(ap)
		if ap.Ledger == LedgerNotInLedger || ap.Ledger == LedgerMismatch {
			msg += "; the bundle is not in the builder's ledger"
		}
		add(KindRefused, "refused %s: %s", what, msg)
	case receipt.Failed:
		add(KindFailed, "%s failed: %s", what, outcomeText(ap))
	case receipt.RolledBack:
		add(KindRolledBack, "%s rolled back: %s", what, outcomeText(ap))
	}
	for _, o := range ap.Overrides {
		add(KindOverride, "operator %s overrode a refusal: %s", operatorName(ap.Operator), o)
	}
	if !ran(ap.Result) {
		return out
	}
	if !ap.Bundle.Verified {
		add(KindUnverifiedApply, "%s ran bundle %s whose statement the applier did not verify", ap.Result, what)
	}
	expires := ap.Bundle.Expires
	if lb != nil {
		expires = lb.Expires
	}
	if !expires.IsZero() && ap.Started.After(expires) {
		add(KindAppliedAfterExpiry, "%s started %s, after bundle %s expired (%s)", ap.Result, stamp(ap.Started), what, stamp(expires))
	}
	if ap.Bundle.Verified && len(ap.Bundle.Approvers()) == 0 {
		add(KindNoApproval, "bundle %s carries no approve-role signature", what)
	}
	return out
}

// outcomeText is the reason code and message of an apply, with its
// failed steps and checks: `step-failed: message [step "migrate" failed,
// exit 1]`.
func outcomeText(ap *Apply) string {
	text := string(ap.Reason)
	if ap.Message != "" {
		text += ": " + ap.Message
	}
	var details []string
	for _, s := range ap.Steps {
		if s.Result == receipt.StepFailed || s.Result == receipt.StepTimedOut {
			details = append(details, fmt.Sprintf("step %q %s, exit %d", s.Name, s.Result, s.ExitCode))
		}
	}
	for _, c := range ap.FailedChecks {
		details = append(details, fmt.Sprintf("check %s failed", c.Name))
	}
	if len(details) > 0 {
		text += " [" + strings.Join(details, "; ") + "]"
	}
	return text
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
		Dir:           a.opts.Dir,
		Since:         a.opts.Since,
		Until:         a.opts.Until,
		Ledger:        a.ledger,
		Zones:         []Zone{},
	}
	for _, k := range a.opts.Keys {
		r.Keys = append(r.Keys, k.ID())
	}
	for _, name := range slices.Sorted(maps.Keys(a.zones)) {
		z := a.zone(name)
		a.summary.Applies += len(z.Applies)
		for _, ap := range z.Applies {
			a.summary.Outcomes.add(ap.Result)
		}
		r.Zones = append(r.Zones, z)
	}
	sortFindings(a.findings)
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
	s.OK = s.Errors == 0
	r.Summary = *s
	return r
}

// zone summarises one zone's chain.
func (a *auditor) zone(name string) Zone {
	order := a.zones[name]
	z := Zone{Name: name, Receipts: len(order), ChainOK: a.zoneOK[name], Applies: []Apply{}}
	keySet := map[string]bool{}
	var head *Apply
	for i, ap := range order {
		keySet[ap.KeyID] = true
		if i == 0 || ap.Seq < z.FirstSeq {
			z.FirstSeq = ap.Seq
		}
		if head == nil || ap.Seq > head.Seq || (ap.Seq == head.Seq && ap.Started.After(head.Started)) {
			head = ap
		}
		if z.FirstStarted.IsZero() || ap.Started.Before(z.FirstStarted) {
			z.FirstStarted = ap.Started
		}
		if ap.Started.After(z.LastStarted) {
			z.LastStarted = ap.Started
		}
		if a.opts.inWindow(ap.Started) {
			z.Outcomes.add(ap.Result)
			z.Applies = append(z.Applies, *ap)
		}
	}
	if head != nil {
		z.LastSeq, z.HeadSHA256 = head.Seq, head.SHA256
	}
	z.Keys = slices.Sorted(maps.Keys(keySet))
	return z
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
