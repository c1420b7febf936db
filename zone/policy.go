package zone

import (
	"fmt"
	"slices"
	"strings"

	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
)

// Record is the policy as the receipt chain records it: the digest of
// trust.yaml and the roles, thresholds, keys (with their persons' names),
// operators, zone and host (as trust.yaml gives it: a zone directory made
// elsewhere and carried in keeps its policy), and the applications with
// their roots.
func (t *Trust) Record() *receipt.Policy {
	p := t.Policy
	rec := &receipt.Policy{SHA256: t.SHA256, Zone: p.Zone, Host: t.Host, HostRoles: p.HostRoles, Roles: []receipt.PolicyRole{},
		RequireOperatorSignature: p.RequireOperatorSignature, RequireTwoPersonForWeakening: p.RequireTwoPersonForWeakening}
	for _, r := range p.Roles {
		rec.Roles = append(rec.Roles, receipt.PolicyRole{Name: r.Name, Threshold: r.Threshold, Keys: p.policyKeys(r.Keys)})
	}
	rec.Operators = p.policyKeys(p.Operators)
	rec.ReceiptKey = t.ReceiptKeyID
	rec.Applications = t.recordApplications()
	return rec
}

func (p *Policy) policyKeys(ks []*keys.PublicKey) []receipt.PolicyKey {
	var out []receipt.PolicyKey
	for _, k := range ks {
		out = append(out, receipt.PolicyKey{KeyID: k.ID(), Name: p.NameOf(k)})
	}
	return out
}

// Kinds of policy differences (receipt.PolicyDiff.Kind).
const (
	DiffFirst            = "first-record"                // the chain recorded no policy before
	DiffZone             = "zone-changed"                // the zone name changed (weakens)
	DiffHost             = "host-changed"                // the host name matched against host: targets changed (weakens)
	DiffHostRoleAdded    = "host-role-added"             // the host took a role: it accepts bundles for role:NAME (weakens)
	DiffHostRoleRemoved  = "host-role-removed"           // the host gave up a role
	DiffRoleRemoved      = "role-removed"                // a signing role was removed (weakens)
	DiffRoleAdded        = "role-added"                  // a signing role was added
	DiffThresholdLowered = "threshold-lowered"           // fewer signatures needed (weakens)
	DiffThresholdRaised  = "threshold-raised"            // more signatures needed
	DiffKeyAdded         = "key-added"                   // a key may now sign in a role (weakens)
	DiffKeyRemoved       = "key-removed"                 // a key may no longer sign in a role
	DiffKeyRenamed       = "key-renamed"                 // a key's person changed
	DiffOperatorAdded    = "operator-added"              // a key may now co-sign receipts (weakens)
	DiffOperatorFirst    = "operator-first"              // the first operator of a zone that had none: setup
	DiffOperatorRemoved  = "operator-removed"            // a key may no longer co-sign receipts
	DiffOperatorRenamed  = "operator-renamed"            // an operator key's person changed
	DiffOperatorOptional = "operator-signature-optional" // co-signatures no longer required (weakens)
	DiffOperatorRequired = "operator-signature-required" // co-signatures now required
	DiffReceiptKey       = "receipt-key-changed"         // receipts are signed by another key (weakens)
	DiffTwoPersonOff     = "two-person-optional"         // a weakening no longer needs two persons (weakens)
	DiffTwoPersonOn      = "two-person-required"         // a weakening now needs two persons
	// Applications (trust.yaml applications:).
	DiffApplicationFirst       = "application-first"        // the first applications of a zone that listed none: setup
	DiffApplicationAdded       = "application-added"        // an application may now be applied (weakens)
	DiffApplicationRemoved     = "application-removed"      // an application may no longer be applied
	DiffApplicationRootAdded   = "application-root-added"   // an application may deploy into another directory (weakens)
	DiffApplicationRootRemoved = "application-root-removed" // an application may no longer deploy into a directory
	DiffApplicationsUnlisted   = "applications-unlisted"    // no application is listed: any release deploys anywhere (weakens)
	DiffOtherSettings          = "settings"                 // trust.yaml changed outside what the record summarises
)

// DiffKind is a kind of policy difference and whether it weakens a policy.
type DiffKind struct {
	Kind    string
	Weakens bool
}

// DiffKinds lists every difference kind.
var DiffKinds = []DiffKind{
	{DiffFirst, false}, {DiffZone, true}, {DiffHost, true}, {DiffHostRoleAdded, true}, {DiffHostRoleRemoved, false}, {DiffRoleRemoved, true}, {DiffRoleAdded, false},
	{DiffThresholdLowered, true}, {DiffThresholdRaised, false}, {DiffKeyAdded, true}, {DiffKeyRemoved, false},
	{DiffKeyRenamed, false}, {DiffOperatorAdded, true}, {DiffOperatorFirst, false}, {DiffOperatorRemoved, false}, {DiffOperatorRenamed, false},
	{DiffOperatorOptional, true}, {DiffOperatorRequired, false}, {DiffReceiptKey, true},
	{DiffTwoPersonOff, true}, {DiffTwoPersonOn, false},
	{DiffApplicationFirst, false}, {DiffApplicationAdded, true}, {DiffApplicationRemoved, false},
	{DiffApplicationRootAdded, true}, {DiffApplicationRootRemoved, false}, {DiffApplicationsUnlisted, true},
	{DiffOtherSettings, false},
}

func weakens(kind string) bool {
	i := slices.IndexFunc(DiffKinds, func(d DiffKind) bool { return d.Kind == kind })
	return i >= 0 && DiffKinds[i].Weakens
}

// Diff lists how policy next differs from prev (nil: the chain recorded no
// policy), in a fixed order, and whether any difference weakens it: a role
// removed, a threshold lowered, a key or operator added, the co-signature
// made optional, the zone or host changed, a host role added, an
// application added or given another root, the applications unlisted.
func Diff(prev, next *receipt.Policy) *receipt.PolicyChange {
	c := &receipt.PolicyChange{Changes: []receipt.PolicyDiff{}}
	add := func(kind, format string, a ...any) {
		d := receipt.PolicyDiff{Kind: kind, Detail: fmt.Sprintf(format, a...), Weakens: weakens(kind)}
		c.Changes = append(c.Changes, d)
		c.Weakens = c.Weakens || d.Weakens
	}
	if prev == nil {
		add(DiffFirst, "the chain recorded no policy before")
		return c
	}
	c.PreviousSHA256 = prev.SHA256
	if prev.Zone != next.Zone {
		add(DiffZone, "zone %s → %s", prev.Zone, next.Zone)
	}
	if prev.Host != next.Host {
		add(DiffHost, "host %s → %s", prev.Host, next.Host)
	}
	for _, r := range next.HostRoles {
		if !slices.Contains(prev.HostRoles, r) {
			add(DiffHostRoleAdded, "host role %s added", r)
		}
	}
	for _, r := range prev.HostRoles {
		if !slices.Contains(next.HostRoles, r) {
			add(DiffHostRoleRemoved, "host role %s removed", r)
		}
	}
	for _, pr := range prev.Roles {
		nr := roleOf(next, pr.Name)
		if nr == nil {
			add(DiffRoleRemoved, "role %s (threshold %d, %d keys) removed", pr.Name, pr.Threshold, len(pr.Keys))
			continue
		}
		switch {
		case nr.Threshold < pr.Threshold:
			add(DiffThresholdLowered, "role %s threshold %d → %d", pr.Name, pr.Threshold, nr.Threshold)
		case nr.Threshold > pr.Threshold:
			add(DiffThresholdRaised, "role %s threshold %d → %d", pr.Name, pr.Threshold, nr.Threshold)
		}
		diffKeys("role "+pr.Name, pr.Keys, nr.Keys, DiffKeyAdded, DiffKeyRemoved, DiffKeyRenamed, add)
	}
	for _, nr := range next.Roles {
		if roleOf(prev, nr.Name) == nil {
			add(DiffRoleAdded, "role %s (threshold %d, %d keys) added", nr.Name, nr.Threshold, len(nr.Keys))
		}
	}
	// The first operators of a zone that had none are its setup: nobody
	// could co-sign before, and nothing was weakened.
	operatorAdded := DiffOperatorAdded
	if len(prev.Operators) == 0 {
		operatorAdded = DiffOperatorFirst
	}
	diffKeys("operators", prev.Operators, next.Operators, operatorAdded, DiffOperatorRemoved, DiffOperatorRenamed, add)
	switch {
	case prev.RequireOperatorSignature && !next.RequireOperatorSignature:
		add(DiffOperatorOptional, "operator co-signatures no longer required")
	case !prev.RequireOperatorSignature && next.RequireOperatorSignature:
		add(DiffOperatorRequired, "operator co-signatures now required")
	}
	switch {
	case prev.RequireTwoPersonForWeakening && !next.RequireTwoPersonForWeakening:
		add(DiffTwoPersonOff, "a weakening no longer needs two persons")
	case !prev.RequireTwoPersonForWeakening && next.RequireTwoPersonForWeakening:
		add(DiffTwoPersonOn, "a weakening now needs two persons")
	}
	if prev.ReceiptKey != next.ReceiptKey {
		add(DiffReceiptKey, "receipt key %s → %s", orNone(prev.ReceiptKey), orNone(next.ReceiptKey))
	}
	diffApplications(prev, next, add)
	if len(c.Changes) == 0 && prev.SHA256 != next.SHA256 {
		add(DiffOtherSettings, "trust.yaml changed (sha256 %s → %s) outside roles, operators and applications' roots: variables, identities, paths or auditors", short(prev.SHA256), short(next.SHA256))
	}
	return c
}

func roleOf(p *receipt.Policy, name string) *receipt.PolicyRole {
	for i := range p.Roles {
		if p.Roles[i].Name == name {
			return &p.Roles[i]
		}
	}
	return nil
}

func diffKeys(where string, prev, next []receipt.PolicyKey, added, removed, renamed string, add func(kind, format string, a ...any)) {
	find := func(ks []receipt.PolicyKey, id string) *receipt.PolicyKey {
		for i := range ks {
			if ks[i].KeyID == id {
				return &ks[i]
			}
		}
		return nil
	}
	for _, k := range next {
		switch o := find(prev, k.KeyID); {
		case o == nil:
			add(added, "%s: key %s added", where, keyLabel(k))
		case o.Name != k.Name:
			add(renamed, "%s: key %s: %q → %q", where, k.KeyID, o.Name, k.Name)
		}
	}
	for _, k := range prev {
		if find(next, k.KeyID) == nil {
			add(removed, "%s: key %s removed", where, keyLabel(k))
		}
	}
}

func keyLabel(k receipt.PolicyKey) string {
	if k.Name == "" {
		return k.KeyID
	}
	return k.KeyID + " (" + k.Name + ")"
}

// DescribeChange is a one-line description of a policy change.
func DescribeChange(c *receipt.PolicyChange) string {
	var parts []string
	for _, d := range c.Changes {
		parts = append(parts, d.Detail)
	}
	return strings.Join(parts, "; ")
}

func orNone(s string) string {
	if s == "" {
		return "(none named)"
	}
	return s
}

func short(hex string) string {
	if len(hex) > 12 {
		return hex[:12]
	}
	return hex
}
