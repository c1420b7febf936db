package audit

import (
	"maps"
	"slices"
	"strconv"

	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

// controls follows each zone's trust policy along its chain. The policy in
// force is the one the genesis record or the last policy commit recorded;
// every apply records the policy it ran under, which must be that one. A
// receipt whose policy differs without a commit before it is an
// uncommitted change (an error, saying whether it weakens the policy); a
// commit is listed — as a warning when it weakens the policy. A chain
// that does not begin with a genesis record is noted. A bundle refused
// for a failed signature or integrity check and later applied in the same
// zone is a warning: the policy or the bundle changed in between.
func (a *auditor) controls() {
	for _, z := range slices.Sorted(maps.Keys(a.zones)) {
		order := a.zones[z]
		if len(order) > 0 && order[0].seq == 1 && order[0].event != receipt.EventGenesis {
			first := order[0]
			a.findings = append(a.findings, newFinding(KindNoGenesis, z, first.seq, first.file,
				"the chain begins with a receipt, not a genesis record: the zone's first policy is not recorded (a zone from before genesis records, or made without zone init)"))
		}
		var inForce *receipt.Policy
		var since *record // the entry that put inForce in force
		refusedAt := map[string]*record{}
		for _, r := range order {
			if r.event == receipt.EventDrift {
				// A drift record changes nothing: it records that
				// trust.yaml was found edited, under the policy in force.
				a.drift(r)
				continue
			}
			if r.event.IsControl() {
				a.controlChange(r, inForce, since)
				inForce, since = r.policy, r
				continue
			}
			if r.policy != nil {
				if inForce != nil && !r.policy.Same(inForce) {
					d := zone.Diff(inForce, r.policy)
					msg := "this apply ran under a policy (trust.yaml sha256 " + short(r.policy.SHA256) + ") that no commit recorded; the policy in force since seq " +
						strconv.FormatUint(since.seq, 10) + " differs: " + zone.DescribeChange(d)
					if d.Weakens {
						msg = "this apply ran under a WEAKER policy (trust.yaml sha256 " + short(r.policy.SHA256) + ") that no commit recorded; the policy in force since seq " +
							strconv.FormatUint(since.seq, 10) + " differs: " + zone.DescribeChange(d)
					}
					f := newFinding(KindPolicyUncommitted, r.zone, r.seq, r.file, "%s", msg)
					f.Related = []string{since.file}
					a.findings = append(a.findings, f)
				}
				if inForce == nil || !r.policy.Same(inForce) {
					inForce, since = r.policy, r
				}
			}
			a.afterRefusal(r, refusedAt)
		}
	}
}

// controlChange reports a genesis record or policy commit r, given the
// policy in force before it.
func (a *auditor) controlChange(r *record, inForce *receipt.Policy, since *record) {
	if !a.opts.inWindow(r.started()) || r.event != receipt.EventPolicy {
		return
	}
	c := r.extra().change
	who := operatorName(*r.operator)
	if inForce != nil && c.PreviousSHA256 != inForce.SHA256 {
		// The commit names a previous policy that is not the one in force:
		// the policy changed in between, uncommitted.
		f := newFinding(KindPolicyUncommitted, r.zone, r.seq, r.file,
			"this commit names trust.yaml sha256 %s as the previous policy, but the chain's policy in force (since seq %d) is sha256 %s",
			short(c.PreviousSHA256), since.seq, short(inForce.SHA256))
		f.Related = []string{since.file}
		a.findings = append(a.findings, f)
	}
	changes := zone.DescribeChange(c)
	if c.Weakens {
		if w := r.operator.Witness; w != nil {
			who += " and " + w.Name
		}
		a.findings = append(a.findings, newFinding(KindPolicyWeakened, r.zone, r.seq, r.file,
			"%s committed a policy change that WEAKENS the policy: %s%s", who, changes, noteOf(r.operator)))
		// The policy before the change required two of its operators for
		// a weakening, and had two: both must have co-signed.
		if inForce != nil && inForce.RequireTwoPersonForWeakening && len(inForce.Operators) >= 2 && !twoPersons(r.operator, inForce) {
			f := newFinding(KindTwoPersonMissing, r.zone, r.seq, r.file,
				"this weakening was committed without two of the operators of the policy in force co-signing it, which that policy requires (requireTwoPersonForWeakening, since seq %d)", since.seq)
			f.Related = []string{since.file}
			a.findings = append(a.findings, f)
		}
		return
	}
	a.findings = append(a.findings, newFinding(KindPolicyChange, r.zone, r.seq, r.file,
		"%s committed a policy change: %s%s", who, changes, noteOf(r.operator)))
}

// drift reports a drift record: trust.yaml was found differing from the
// policy in force, and nobody had committed the change.
func (a *auditor) drift(r *record) {
	if !a.opts.inWindow(r.started()) {
		return
	}
	c := r.extra().change
	what := "an uncommitted edit"
	if c.Weakens {
		what = "an uncommitted edit that WEAKENS the policy"
	}
	a.findings = append(a.findings, newFinding(KindPolicyDrift, r.zone, r.seq, r.file,
		"trust.yaml was found changed (sha256 %s), %s, by %s: %s", short(c.FoundSHA256), what, operatorName(*r.operator), zone.DescribeChange(c)))
}

// twoPersons reports whether a policy commit was co-signed by two different
// operators of the policy in force, of two different persons.
func twoPersons(o *receipt.Operator, inForce *receipt.Policy) bool {
	if o.Key == nil || o.Witness == nil || o.Key.KeyID == o.Witness.KeyID {
		return false
	}
	a, okA := inForce.OperatorName(o.Key.KeyID)
	b, okB := inForce.OperatorName(o.Witness.KeyID)
	return okA && okB && a != b
}

// afterRefusal reports an apply of a bundle that the zone refused before
// because a signature or integrity check failed: after a tampering
// refusal, always; after a policy refusal (an approval missing), only when
// the policy in force changed in between — the bundle was then let in by
// a changed policy rather than by the signatures it lacked.
func (a *auditor) afterRefusal(r *record, refusedAt map[string]*record) {
	key := r.bundle.StatementSHA256
	if key == "" {
		key = "id:" + r.bundle.ID
	}
	if key == "id:" {
		return
	}
	switch {
	case r.result == receipt.Refused && slices.Contains(tamperChecks, receipt.CheckName(r.reason)):
		if refusedAt[key] == nil {
			refusedAt[key] = r
		}
	case r.ran():
		first := refusedAt[key]
		if first == nil || !a.opts.inWindow(r.started()) {
			return
		}
		delete(refusedAt, key)
		why := first.reason + " check failed"
		if policyRefused(first) {
			if first.policy == nil || r.policy == nil || first.policy.Same(r.policy) {
				return // the signatures it lacked were added
			}
			why = "its signatures did not meet the policy"
		}
		f := newFinding(KindAppliedAfterRefusal, r.zone, r.seq, r.file,
			"bundle %s was refused at seq %d (%s) and ran here: the zone's policy or the bundle's signatures changed in between",
			bundleName(*r.bundle), first.seq, why)
		f.Related = []string{first.file}
		a.findings = append(a.findings, f)
	}
}

func noteOf(o *receipt.Operator) string {
	if o.Note == "" {
		return ""
	}
	return " (note: " + o.Note + ")"
}
