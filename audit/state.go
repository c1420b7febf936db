package audit

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"airlock.dev/airlock/internal/jsonx"
	"airlock.dev/airlock/internal/names"
)

// StateFormatVersion is the version of the audit state file (--state).
const StateFormatVersion = 1

// MaxStateSize caps the state file before it is parsed.
const MaxStateSize = 16 << 20

// State is what one audit hands the next (--state FILE): the head of every
// chain it saw. A later audit whose chain no longer reaches a head is
// truncated: receipts were removed since.
type State struct {
	FormatVersion int       `json:"formatVersion"`
	UpdatedAt     time.Time `json:"updatedAt"`
	Heads         []Head    `json:"heads"`
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

// ReadState decodes a state file strictly.
func ReadState(r io.Reader) (*State, error) {
	var s State
	if _, err := jsonx.Read(r, MaxStateSize, &s); err != nil {
		return nil, fmt.Errorf("audit state: %w", err)
	}
	if s.FormatVersion != StateFormatVersion {
		return nil, fmt.Errorf("audit state: format version %d, this airlock reads %d", s.FormatVersion, StateFormatVersion)
	}
	seen := map[chainKey]bool{}
	for _, h := range s.Heads {
		if !names.Valid(h.Zone) || h.Seq == 0 {
			return nil, fmt.Errorf("audit state: head %q seq %d: want a zone name and a seq", h.Zone, h.Seq)
		}
		if _, ok := parseDigest(h.SHA256); !ok {
			return nil, fmt.Errorf("audit state: head of %s: sha256 %q is not a SHA-256", h.Zone, h.SHA256)
		}
		if h.Host != "" && !names.Valid(h.Host) {
			return nil, fmt.Errorf("audit state: head of zone %s: host %q is not a host name", h.Zone, h.Host)
		}
		if seen[h.key()] {
			return nil, fmt.Errorf("audit state: two heads for zone %s%s", h.Zone, orNone(" host ", h.Host))
		}
		seen[h.key()] = true
	}
	return &s, nil
}

// Write encodes the state as indented JSON.
func (s *State) Write(w io.Writer) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

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
		f.Host = host
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

// nextState is the state to keep after this audit: each chain's head moves
// to the newest receipt only where the chain is intact and reaches the
// head known before; other heads stay as they were, so a later audit
// still sees what was removed. A head an earlier audit kept without a
// host gives way to the head of the host's chain that holds it.
func (a *auditor) nextState(r *Report) *State {
	next := &State{FormatVersion: StateFormatVersion, UpdatedAt: r.GeneratedAt, Heads: []Head{}}
	old := map[chainKey]Head{}
	if a.opts.State != nil {
		for _, h := range a.opts.State.Heads {
			old[h.key()] = h
		}
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
	return next
}
