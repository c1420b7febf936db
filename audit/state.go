package audit

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"airlock.dev/airlock/internal/names"
)

// StateFormatVersion is the version of the audit state (--state): 2 is
// signed (see StatePayloadType); 1 was not, and is refused.
const StateFormatVersion = 2

// State is what one audit hands the next (--state FILE), signed by the
// auditor's state key: the head of every chain it saw, its findings, and
// the auditor's acknowledgements of findings. A later audit whose chain
// no longer reaches a head is truncated: receipts were removed since.
type State struct {
	FormatVersion int       `json:"formatVersion"`
	UpdatedAt     time.Time `json:"updatedAt"`
	// Audits counts the audits that wrote the state, the one that wrote it
	// included: 1 after the first audit (--first-audit).
	Audits int `json:"audits"`
	// PreviousSHA256 is the SHA-256 of the payload of the state this one
	// replaced ("" for the first): the states form a chain, which the
	// reports (state.read, state.written) let an assessor follow.
	PreviousSHA256 string `json:"previousSha256"`
	Heads          []Head `json:"heads"`
	// Findings are the findings of the audit that wrote the state (at most
	// MaxStateFindings; FindingsOmitted counts the rest): the IDs
	// `airlock audit ack` accepts.
	Findings        []StateFinding `json:"findings"`
	FindingsOmitted int            `json:"findingsOmitted,omitempty"`
	// Acks are the auditor's acknowledgements of findings, kept from audit
	// to audit.
	Acks []Acknowledgement `json:"acks"`

	sha256 string // of the payload read, or to be written
	keyID  string // the state key that verified it
}

// Head is the newest receipt of one chain as an audit saw it. Chains are
// keyed by zone and host; Host is empty in the state of an audit from
// before hosts had chains of their own (a zone's single chain).
type Head struct {
	Zone   string    `json:"zone"`
	Host   string    `json:"host,omitempty"`
	Seq    uint64    `json:"seq"`
	SHA256 string    `json:"sha256"` // the receipt's link digest
	File   string    `json:"file"`   // where it was, relative to the receipts folder
	SeenAt time.Time `json:"seenAt"` // when an audit first saw it as the head
}

// chainKey names a chain: a zone, and a host for zones with a chain per
// host.
type chainKey struct{ zone, host string }

func (h Head) key() chainKey { return chainKey{h.Zone, h.Host} }

// Expectation states the head a chain must reach (--expect
// ZONE[/HOST]=SHA256), as read from the zone itself.
type Expectation struct {
	Zone, Host string
	SHA256     string
}

// ParseExpectation reads ZONE[/HOST]=SHA256.
func ParseExpectation(s string) (Expectation, error) {
	chain, sum, ok := strings.Cut(s, "=")
	zone, host, withHost := strings.Cut(chain, "/")
	e := Expectation{Zone: zone, Host: strings.ToLower(host), SHA256: strings.ToLower(sum)}
	if _, okSum := parseDigest(e.SHA256); !ok || !okSum || !names.Valid(zone) || (withHost && !names.Valid(e.Host)) {
		return Expectation{}, fmt.Errorf("--expect %q: want ZONE[/HOST]=SHA256 (the chain head's sha256, 64 hex digits)", s)
	}
	return e, nil
}

// completeness checks what the folder alone cannot show: every chain
// must reach the head an earlier audit saw (--state) and every head
// stated (--expect); a zone or host those name must be in the folder. A
// head without a host (the state of an audit before hosts had chains of
// their own, or --expect ZONE=SHA256) may be reached by any chain of its
// zone.
func (a *auditor) completeness() {
	if p := a.opts.StateProblem; p != nil {
		var se *StateError
		if errors.As(p, &se) && se.Missing {
			a.findings = append(a.findings, newFinding(KindStateMissing, "", 0, "",
				"%v: the chains cannot be compared with the heads the last audit saw, so receipts removed since would not be seen; "+
					"restore the state the last audit wrote, or, if no audit of this evidence kept a state before, audit with --first-audit (the report records it)", p))
		} else {
			a.findings = append(a.findings, newFinding(KindStateInvalid, "", 0, "",
				"%v: the chains cannot be compared with the heads the last audit saw, and no new state is written; "+
					"restore the state the last audit wrote (or move it away and start over with --first-audit, which the report records)", p))
		}
	}
	missing := map[chainKey]bool{}
	reach := func(zoneName, host, sum, from string) {
		if !a.opts.inScope(zoneName) {
			return
		}
		if _, ok := a.zones[zoneName]; !ok {
			if !missing[chainKey{zoneName, ""}] {
				missing[chainKey{zoneName, ""}] = true
				a.findings = append(a.findings, newFinding(KindMissingZone, zoneName, 0, "",
					"%s names zone %s, but the folder holds no receipt of that zone", from, zoneName))
			}
			return
		}
		order := a.zones[zoneName]
		if host != "" {
			var ok bool
			if order, ok = a.chains[chainKey{zoneName, host}]; !ok {
				if !missing[chainKey{zoneName, host}] {
					missing[chainKey{zoneName, host}] = true
					f := newFinding(KindMissingHost, zoneName, 0, "", "%s names host %s of zone %s, but the folder holds no receipt of that host", from, host, zoneName)
					f.Host = host
					a.findings = append(a.findings, f)
				}
				return
			}
		}
		want, _ := parseDigest(sum)
		if slices.ContainsFunc(order, func(r *record) bool { return r.link == want }) {
			return
		}
		f := newFinding(KindTruncated, zoneName, 0, "", "%s: no chain of zone %s reaches it: receipts after it were removed or never carried out", from, zoneName)
		if hosts := a.hostsOf(zoneName); host != "" || len(hosts) == 1 {
			// One chain: say where it ends.
			if host == "" {
				host = hosts[0]
			}
			head := chainHead(a.chains[chainKey{zoneName, host}])
			f = newFinding(KindTruncated, zoneName, head.seq, head.file,
				"%s: the chain of zone %s%s does not reach it; it ends at seq %d (sha256 %s): receipts after it were removed or never carried out",
				from, zoneName, orNone(" host ", host), head.seq, short(head.link.String()))
		}
		f.Host, f.subject = host, sum[:12]
		a.findings = append(a.findings, f)
	}
	for _, e := range a.opts.Expect {
		reach(e.Zone, e.Host, e.SHA256, fmt.Sprintf("--expect names head sha256 %s", short(e.SHA256)))
	}
	if s := a.opts.State; s != nil {
		for _, h := range s.Heads {
			reach(h.Zone, h.Host, h.SHA256, fmt.Sprintf("the audit state names head seq %d (sha256 %s, seen %s)", h.Seq, short(h.SHA256), stamp(h.SeenAt)))
		}
	}
}

// unchecked reports what the audit could not check, so that a PASS does
// not claim it: a chain with no earlier head to compare (a missing newest
// receipt would not be seen) and a zone of several hosts audited without
// its register (which receipt key is which host's is not known, so a
// host's receipts re-signed with another host's key would pass).
func (a *auditor) unchecked() {
	compared := func(k chainKey) bool {
		for _, e := range a.opts.Expect {
			if e.Zone == k.zone && (e.Host == "" || e.Host == k.host) {
				return true
			}
		}
		if s := a.opts.State; s != nil {
			for _, h := range s.Heads {
				if h.Zone == k.zone && (h.Host == "" || h.Host == k.host) {
					return true
				}
			}
		}
		return false
	}
	why := "no --state or --expect given"
	switch {
	case a.opts.StateProblem != nil:
		why = "the audit state could not be used"
	case a.opts.State != nil:
		why = "the audit state names no head of it (a chain new since the last audit)"
	case a.opts.FirstAudit:
		why = "the first audit (--first-audit): no earlier audit kept a head"
	}
	for _, z := range slices.Sorted(maps.Keys(a.zones)) {
		hosts := a.hostsOf(z)
		for _, h := range hosts {
			if compared(chainKey{z, h}) {
				continue
			}
			head := chainHead(a.chains[chainKey{z, h}])
			f := newFinding(KindNoEarlierHead, z, 0, "",
				"no earlier head to compare (%s): receipts removed from the end of this chain, after its head seq %d (sha256 %s), would not be seen; "+
					"completeness is checked against the heads kept with --state from audit to audit, or stated with --expect %s/%s=SHA256 as read on the host",
				why, head.seq, short(head.link.String()), z, h)
			f.Host = h
			a.findings = append(a.findings, f)
		}
		if a.opts.register(z) == nil && len(hosts) > 1 {
			a.findings = append(a.findings, newFinding(KindHostUnchecked, z, 0, "",
				"host identity not checked: zone %s has %d host chains (%s) and was audited without its register (--zone-register zone.yaml), "+
					"so which receipt key is which host's is not known: a host's receipts re-signed with another host's key would pass",
				z, len(hosts), clipList(hosts, 5)))
		}
	}
}

// notChecked names what the findings say the audit could not check.
func notChecked(fs []Finding) []string {
	out := []string{}
	for _, f := range fs {
		switch {
		case f.Kind == KindNoEarlierHead && !slices.Contains(out, "completeness"):
			out = append(out, "completeness")
		case f.Kind == KindHostUnchecked && !slices.Contains(out, "host-identity"):
			out = append(out, "host-identity")
		}
	}
	slices.Sort(out)
	return out
}

// nextState is the state to keep after this audit, or nil when the state
// given could not be used (the audit then hands none on: the auditor must
// restore it, or start over with --first-audit). Each chain's head moves
// to the newest receipt only where the chain is intact and reaches the
// head known before; other heads stay as they were, so a later audit
// still sees what was removed. A head an earlier audit kept without a
// host gives way to the head of the host's chain that holds it. The
// acknowledgements are kept; the findings are this audit's.
func (a *auditor) nextState(r *Report) *State {
	if a.opts.StateProblem != nil {
		return nil
	}
	next := &State{FormatVersion: StateFormatVersion, UpdatedAt: r.GeneratedAt, Audits: 1, Heads: []Head{},
		Findings: []StateFinding{}, Acks: []Acknowledgement{}}
	old := map[chainKey]Head{}
	if s := a.opts.State; s != nil {
		for _, h := range s.Heads {
			old[h.key()] = h
		}
		next.Audits, next.PreviousSHA256 = s.Audits+1, s.sha256
		next.Acks = append(next.Acks, s.Acks...)
	}
	for _, f := range r.Findings {
		if len(next.Findings) == MaxStateFindings {
			next.FindingsOmitted++
			continue
		}
		next.Findings = append(next.Findings, StateFinding{ID: f.ID, Severity: f.Severity, Kind: f.Kind})
	}
	truncated := map[chainKey]bool{}
	for _, f := range r.Findings {
		if f.Kind == KindTruncated {
			truncated[chainKey{f.Zone, f.Host}] = true
			truncated[chainKey{f.Zone, ""}] = true
		}
	}
	for _, z := range r.Zones {
		for _, c := range z.Chains {
			k := chainKey{z.Name, c.Host}
			if !c.ChainOK || truncated[k] || c.HeadSHA256 == "" {
				continue
			}
			h := Head{Zone: z.Name, Host: c.Host, Seq: c.LastSeq, SHA256: c.HeadSHA256, File: c.HeadFile, SeenAt: r.GeneratedAt}
			if o, ok := old[k]; ok && o.SHA256 == h.SHA256 {
				h.SeenAt = o.SeenAt
			}
			old[k] = h
			if o, ok := old[chainKey{z.Name, ""}]; ok && !truncated[chainKey{z.Name, ""}] {
				want, _ := parseDigest(o.SHA256)
				if slices.ContainsFunc(a.chains[k], func(r *record) bool { return r.link == want }) {
					delete(old, chainKey{z.Name, ""})
				}
			}
		}
	}
	for _, h := range old {
		next.Heads = append(next.Heads, h)
	}
	slices.SortFunc(next.Heads, func(x, y Head) int { return cmp.Or(cmp.Compare(x.Zone, y.Zone), cmp.Compare(x.Host, y.Host)) })
	if payload, err := next.Payload(); err == nil { // an error shows when the state is written
		next.sha256 = hexSHA256(payload)
	}
	return next
}

// stateReport names the states the audit read and hands on, when it keeps
// one.
func (a *auditor) stateReport(next *State) *StateReport {
	o := a.opts
	if o.StateFile == "" && o.State == nil && !o.FirstAudit && o.StateProblem == nil {
		return nil
	}
	sr := &StateReport{File: o.StateFile, First: o.FirstAudit}
	if o.StateProblem != nil {
		sr.Problem = o.StateProblem.Error()
	}
	ref := func(s *State) *StateRef {
		return &StateRef{SHA256: s.sha256, Audits: s.Audits, UpdatedAt: s.UpdatedAt, KeyID: s.keyID, Acknowledgements: len(s.Acks)}
	}
	if o.State != nil {
		sr.Read = ref(o.State)
	}
	if next != nil {
		sr.Written = ref(next)
	}
	return sr
}
