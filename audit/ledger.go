package audit

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
)

// LedgerSuffix names the files read from the ledger folder.
const LedgerSuffix = ".dsse.json"

// Ledger reconciliation states of an Apply.
const (
	LedgerMatch       = "match"
	LedgerNotInLedger = "not-in-ledger"
	LedgerMismatch    = "mismatch"
	LedgerIDMatch     = "id-match"
	LedgerUnknown     = "unknown"
)

// ledgerResult is one ledger file read.
type ledgerResult struct {
	bundle  *LedgerBundle
	finding *Finding
	counted bool // a *.dsse.json file
}

// readLedger reads every *.dsse.json under dir: a DSSE envelope whose
// payload is a bundle statement, size-capped and decoded strictly. With
// ledger keys, an entry counts only if one of them signed it.
func readLedger(ctx context.Context, dir string, ledgerKeys []*keys.PublicKey, workers int) (*Ledger, []*LedgerBundle, []Finding, error) {
	results, err := scanFiles(ctx, dir, workers, func(f fileRef) ledgerResult {
		return examineLedgerFile(f, ledgerKeys)
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("ledger: %w", err)
	}
	l := &Ledger{Dir: dir, SignaturesChecked: len(ledgerKeys) > 0}
	var findings []Finding
	bySHA := map[string]*LedgerBundle{}
	byID := map[string]*LedgerBundle{}
	var entries []*LedgerBundle
	for _, r := range results {
		if r.counted {
			l.Files++
		}
		if r.finding != nil {
			findings = append(findings, *r.finding)
		}
		b := r.bundle
		if b == nil || bySHA[b.StatementSHA256] != nil {
			continue // a copy of a statement already read (re-signed or copied)
		}
		if o := byID[b.ID]; o != nil {
			f := newFinding(KindLedgerMismatch, "", 0, b.File,
				"bundle id %s has two different statements in the ledger (%s and %s)", b.ID, o.File, b.File)
			f.Related = []string{o.File}
			findings = append(findings, f)
			continue
		}
		bySHA[b.StatementSHA256] = b
		byID[b.ID] = b
		entries = append(entries, b)
	}
	return l, entries, findings, nil
}

func examineLedgerFile(f fileRef, ledgerKeys []*keys.PublicKey) ledgerResult {
	if !strings.HasSuffix(f.rel, LedgerSuffix) {
		return ledgerResult{}
	}
	if f.err != nil {
		fd := newFinding(KindLedgerInvalid, "", 0, f.rel, "cannot read: %v", f.err)
		return ledgerResult{finding: &fd, counted: true}
	}
	if !f.d.Type().IsRegular() {
		fd := newFinding(KindSkipped, "", 0, f.rel, "ledger: not a regular file (%s), not followed", bundle.FileKind(f.d.Type()))
		return ledgerResult{finding: &fd}
	}
	data, err := capped.ReadFile(f.path, bundle.MaxStatementSize)
	if err != nil {
		fd := newFinding(KindLedgerInvalid, "", 0, f.rel, "cannot read: %v", err)
		return ledgerResult{finding: &fd, counted: true}
	}
	b, err := examineLedgerBytes(f.rel, data, ledgerKeys)
	if err != nil {
		fd := newFinding(KindLedgerInvalid, "", 0, f.rel, "%v", err)
		return ledgerResult{finding: &fd, counted: true}
	}
	return ledgerResult{bundle: b, counted: true}
}

// examineLedgerBytes decodes one ledger entry. It never panics on hostile
// input.
func examineLedgerBytes(rel string, data []byte, ledgerKeys []*keys.PublicKey) (*LedgerBundle, error) {
	env, err := dsse.Read(bytes.NewReader(data), bundle.MaxStatementSize)
	if err != nil {
		return nil, fmt.Errorf("not a bundle statement envelope: %w", err)
	}
	if env.PayloadType != dsse.InTotoPayloadType {
		return nil, fmt.Errorf("payload type %q, want %q", clip(env.PayloadType), dsse.InTotoPayloadType)
	}
	var payload []byte
	var signedBy []string
	if len(ledgerKeys) > 0 {
		v, err := dsse.Verify(env, ledgerKeys)
		if err != nil {
			return nil, fmt.Errorf("no signature verifies with the ledger keys given: %w", err)
		}
		payload = v.Payload
		for _, k := range v.Signers {
			signedBy = append(signedBy, k.ID())
		}
	} else if payload, err = dsse.PayloadOf(env); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	st, err := bundle.ParseStatement(payload)
	if err != nil {
		return nil, fmt.Errorf("bundle %w", err)
	}
	p := &st.Predicate
	switch {
	case st.PredicateType != bundle.PredicateType:
		return nil, fmt.Errorf("predicate type %q, want %q", clip(st.PredicateType), bundle.PredicateType)
	case !bundle.KnownFormat(p.FormatVersion):
		return nil, fmt.Errorf("bundle format version %d, this airlock reads %d to %d", p.FormatVersion, bundle.MinFormatVersion, bundle.FormatVersion)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("bundle statement: %w", err)
	}
	sum := sha256.Sum256(payload)
	b := &LedgerBundle{
		File:            rel,
		StatementSHA256: hex.EncodeToString(sum[:]),
		ID:              p.BundleID,
		Name:            p.Name,
		Version:         p.Version,
		Channel:         p.Channel,
		Sequence:        p.Sequence,
		IssuedAt:        p.IssuedAt.UTC(),
		Expires:         p.Expires.UTC(),
		Targets:         p.Targets,
		SignedBy:        signedBy,
	}
	if p.Change != nil {
		b.ChangeTicket = clip(p.Change.Ticket)
	}
	for _, im := range p.Images {
		b.Images = append(b.Images, im.Name)
	}
	return b, nil
}

// targetZones returns the zone names of "zone:NAME" targets.
func targetZones(targets []string) []string {
	var out []string
	for _, t := range targets {
		if z, ok := strings.CutPrefix(t, "zone:"); ok && z != "" {
			out = append(out, z)
		}
	}
	return out
}

// ledgerIndex finds ledger bundles by statement digest and by bundle id.
type ledgerIndex struct {
	bySHA map[string]*LedgerBundle
	byID  map[string]*LedgerBundle
}

func newLedgerIndex(entries []*LedgerBundle) ledgerIndex {
	ix := ledgerIndex{bySHA: map[string]*LedgerBundle{}, byID: map[string]*LedgerBundle{}}
	for _, b := range entries {
		ix.bySHA[b.StatementSHA256] = b
		ix.byID[b.ID] = b
	}
	return ix
}

// match sets r.ledger and returns the ledger bundle r names, if any. A
// receipt without a statement digest (the applier could not verify the
// bundle, so it refused it) is linked by the bundle id it claims.
func (ix ledgerIndex) match(r *record) *LedgerBundle {
	b := r.bundle
	if b.StatementSHA256 == "" {
		if lb := ix.byID[b.ID]; b.ID != "" && lb != nil {
			r.ledger = LedgerIDMatch
			return lb
		}
		r.ledger = LedgerUnknown
		return nil
	}
	if lb := ix.bySHA[b.StatementSHA256]; lb != nil {
		r.ledger = LedgerMatch
		return lb
	}
	if b.ID != "" && ix.byID[b.ID] != nil {
		r.ledger = LedgerMismatch
		return nil
	}
	r.ledger = LedgerNotInLedger
	return nil
}

// ledgerFindings reports, for an apply that ran, a bundle the ledger does
// not hold or holds with another statement.
func ledgerFindings(r *record, ix ledgerIndex) []Finding {
	switch r.ledger {
	case LedgerNotInLedger:
		return []Finding{newFinding(KindNotInLedger, r.zone, r.seq, r.file,
			"%s ran bundle %s (statement sha256 %s), which the builder's ledger does not hold",
			r.result, bundleName(*r.bundle), short(r.bundle.StatementSHA256))}
	case LedgerMismatch:
		o := ix.byID[r.bundle.ID]
		f := newFinding(KindLedgerMismatch, r.zone, r.seq, r.file,
			"%s ran bundle id %s with statement sha256 %s, but the ledger's statement for that id is %s (%s)",
			r.result, r.bundle.ID, short(r.bundle.StatementSHA256), short(o.StatementSHA256), o.File)
		f.Related = []string{o.File}
		return []Finding{f}
	}
	return nil
}

// settleStatus sets a ledger bundle's status from the applies found and
// the hosts it is for (b.Hosts), given the zones that have receipts in
// the folder.
func settleStatus(b *LedgerBundle, audited map[string]bool) {
	b.ImagesNotPushed = imagesNotPushed(b)
	done := func(result string) bool {
		return result == string(receipt.Applied) || result == string(receipt.AlreadyApplied)
	}
	applied := 0
	for _, h := range b.Hosts {
		if done(h.Result) {
			applied++
		}
	}
	switch {
	case len(b.Hosts) > 0 && applied == len(b.Hosts):
		b.Status = StatusApplied
	case applied > 0:
		b.Status = StatusPartial
	case slices.ContainsFunc(b.Applies.recs, func(r *record) bool { return done(string(r.result)) }):
		b.Status = StatusApplied // on hosts it was not for (or outside the audited zones)
	case len(b.Applies.recs) > 0:
		b.Status = StatusAttempted
	case slices.ContainsFunc(targetZones(b.Targets), func(z string) bool { return audited[z] }):
		b.Status = StatusNeverApplied
	default:
		b.Status = StatusNotAudited
	}
}

// fleetHost is a host of an audited zone: its name and roles.
type fleetHost struct {
	name  string
	roles []string
	chain bool // it has receipts in the folder
}

// hostStatuses says, for each host of zone z a bundle is for (its host:
// and role: targets admit it), what became of the bundle there: the
// outcome of the newest receipt of the host's chain that names it
// (b.Applies is in chain order), or not-applied.
func hostStatuses(b *LedgerBundle, z string, hosts []fleetHost) []HostStatus {
	var out []HostStatus
	for _, h := range hosts {
		if bundle.MatchTargets(b.Targets, z, h.name, h.roles) != "" {
			continue
		}
		st := HostStatus{Zone: z, Host: h.name, Result: NotApplied}
		for _, r := range b.Applies.recs {
			if r.zone == z && r.chain == h.name {
				st.Result, st.Reason, st.Seq, st.File = string(r.result), string(r.reason), r.seq, r.file
			}
		}
		out = append(out, st)
	}
	return out
}

// neverApplied reports, for each audited zone a bundle is for, the hosts
// no receipt shows it reached: the zone as never-applied when no host's
// receipt names it, else each such host as not-applied-on-host. A
// registered host without receipts is left to its missing-host error.
// chains are the hosts' chains, used to say what superseded the bundle.
func neverApplied(b *LedgerBundle, audited map[string]bool, hasChain map[chainKey]bool, chains map[chainKey][]*record) []Finding {
	var out []Finding
	what := fmt.Sprintf("%s (%s #%d, id %s, issued %s)", bundleVersion(b.Name, b.Version), b.Channel, b.Sequence, b.ID, stamp(b.IssuedAt))
	tail := func(applies []*record) string {
		msg := ""
		if s := supersededBy(b, applies); s != nil {
			msg += fmt.Sprintf("; superseded by %s (#%d) applied %s", bundleVersion(s.bundle.Name, s.bundle.Version), s.bundle.Sequence, stamp(s.started()))
		}
		if !b.Expires.IsZero() {
			msg += "; expires " + stamp(b.Expires)
		}
		return msg
	}
	for _, z := range targetZones(b.Targets) {
		if !audited[z] {
			continue
		}
		var missed []HostStatus
		reached := false
		for _, h := range b.Hosts {
			switch {
			case h.Zone != z:
			case h.Result != NotApplied:
				reached = true
			case hasChain[chainKey{z, h.Host}]:
				missed = append(missed, h)
			}
		}
		if !reached && !slices.ContainsFunc(b.Applies.recs, func(r *record) bool { return r.zone == z }) {
			var zoneApplies []*record
			var names []string
			for _, h := range missed {
				zoneApplies = append(zoneApplies, chains[chainKey{z, h.Host}]...)
				names = append(names, h.Host)
			}
			on := ""
			if len(names) > 1 {
				on = " (hosts " + strings.Join(names, ", ") + ")"
			}
			out = append(out, Finding{Severity: infoOf(KindNeverApplied).severity, Kind: KindNeverApplied, Zone: z, File: b.File,
				Message: fmt.Sprintf("%s was built for zone %s and never applied there%s%s", what, z, on, tail(zoneApplies))})
			continue
		}
		for _, h := range missed {
			out = append(out, Finding{Severity: infoOf(KindNotAppliedOnHost).severity, Kind: KindNotAppliedOnHost, Zone: z, Host: h.Host, File: b.File,
				Message: fmt.Sprintf("%s was built for zone %s (targets %s) and did not reach host %s: no receipt of its chain names it%s",
					what, z, strings.Join(b.Targets, ", "), h.Host, tail(chains[chainKey{z, h.Host}]))})
		}
	}
	return out
}

// supersededBy returns the first apply of a later sequence of the same
// name and channel.
func supersededBy(b *LedgerBundle, applies []*record) *record {
	for _, r := range applies {
		if r.result == receipt.Applied && r.bundle.Name == b.Name && r.bundle.Channel == b.Channel && r.bundle.Sequence > b.Sequence {
			return r
		}
	}
	return nil
}

func sortLedger(entries []*LedgerBundle) {
	slices.SortFunc(entries, func(x, y *LedgerBundle) int {
		return cmp.Or(cmp.Compare(x.Name, y.Name), cmp.Compare(x.Channel, y.Channel),
			cmp.Compare(x.Sequence, y.Sequence), cmp.Compare(x.ID, y.ID), cmp.Compare(x.File, y.File))
	})
}

func bundleVersion(name, version string) string {
	switch {
	case name == "":
		return "(unnamed)"
	case version == "":
		return name
	}
	return name + " " + version
}

func bundleName(b BundleRef) string {
	s := bundleVersion(b.Name, b.Version)
	if b.ID != "" {
		s += " (id " + b.ID + ")"
	}
	return s
}

// imagesNotPushed returns the images of ledger bundle b that no receipt
// naming it records as in a registry (pushed, present or tag-kept).
func imagesNotPushed(b *LedgerBundle) []string {
	var out []string
	for _, name := range b.Images {
		if !slices.ContainsFunc(b.Applies.recs, func(r *record) bool { return slices.Contains(r.extra().images, name) }) {
			out = append(out, name)
		}
	}
	return out
}
