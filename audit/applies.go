package audit

import (
	"fmt"
	"slices"
	"strings"

	"airlock.dev/airlock/receipt"
)

// tamperChecks are the checks whose failure means a bundle was altered, or
// is not signed as the zone's policy requires: a refusal for one of them is
// a tampering attempt, ranked above operational refusals (expiry, target,
// sequence).
var tamperChecks = []receipt.CheckName{receipt.CheckEnvelope, receipt.CheckSignature, receipt.CheckPayloadType,
	receipt.CheckPredicateType, receipt.CheckManifest, receipt.CheckParts, receipt.CheckExtract}

// tampered reports whether an apply was refused as a tampering attempt:
// a signature, digest, manifest or extraction check failed — except a
// policy refusal (see policyRefused).
func tampered(rec *record) bool {
	return rec.result == receipt.Refused && slices.Contains(tamperChecks, receipt.CheckName(rec.reason)) && !policyRefused(rec)
}

// policyRefused reports whether an apply was refused because the bundle,
// authentic, was not signed as the zone's policy requires: its signature
// check failed although a key the policy trusts signed its statement (the
// receipt names the signers that verified, with their roles) — an
// approval missing, a role short of its threshold. The bundle was not
// altered: an altered statement verifies with no key.
func policyRefused(rec *record) bool {
	return rec.result == receipt.Refused && rec.reason == receipt.Reason(receipt.CheckSignature) && len(rec.bundle.Signers) > 0
}

// localFindings are the findings one apply receipt makes by itself: its
// outcome when it needs attention, overrides, applies that should not
// have run, a clock that was not synchronised.
func localFindings(rec *record, p *receipt.Predicate, overrides []string) []localFinding {
	var out []localFinding
	add := func(kind, format string, args ...any) {
		out = append(out, localFinding{kind: kind, msg: fmt.Sprintf(format, args...)})
	}
	if rec.finishedBeforeStart() {
		add(KindClockBackwards, "finished %s, %s before it started (%s): the zone clock went back while the entry was made",
			stampNano(rec.finished()), rec.started().Sub(rec.finished()), stampNano(rec.started()))
	}
	if rec.event.IsControl() {
		return out
	}
	what := bundleName(*rec.bundle)
	switch rec.result {
	case receipt.Refused:
		switch {
		case policyRefused(rec):
			add(KindRefused, "refused %s by policy: signed by %s, but not as the policy requires (not tampering: a trusted key signed it): %s",
				what, signerList(rec.bundle.Signers), outcomeText(p))
		case tampered(rec):
			add(KindTampering, "refused %s because its %s check failed: the bundle was altered, or is not signed by a key the policy trusts: %s", what, rec.reason, outcomeText(p))
		default:
			add(KindRefused, "refused %s: %s", what, outcomeText(p))
		}
	case receipt.Failed:
		add(KindFailed, "%s failed: %s", what, outcomeText(p))
	case receipt.RolledBack:
		add(KindRolledBack, "%s rolled back: %s", what, outcomeText(p))
	}
	for _, o := range overrides {
		add(KindOverride, "operator %s overrode a refusal: %s", operatorName(*rec.operator), o)
		out[len(out)-1].subject = o
	}
	if replaced := zoneValues(p); len(replaced) > 0 {
		add(KindZoneValue, "the zone replaced %s signed in bundle %s: %s",
			plural(len(replaced), "value", "values"), what, clipList(replaced, maxZoneValues))
	}
	if rec.clock == clockUnsynced {
		c := p.Time.Clock
		add(KindClockUnsynchronised, "started %s on a clock the kernel reports unsynchronised (estimated error %d µs, maximum %d µs%s)",
			stamp(rec.started()), c.EstimatedErrorMicros, c.MaxErrorMicros, orNone(", time service ", c.Service))
	}
	if !rec.ran() {
		return out
	}
	if !rec.bundle.Verified {
		add(KindUnverifiedApply, "%s ran bundle %s whose statement the applier did not verify", rec.result, what)
	}
	if exp := rec.bundle.Expires; !exp.IsZero() && rec.started().After(exp) {
		add(KindAppliedAfterExpiry, "%s started %s, after bundle %s expired (%s)", rec.result, stamp(rec.started()), what, stamp(exp))
	}
	if rec.bundle.Verified && len(rec.bundle.Approvers()) == 0 {
		add(KindNoApproval, "bundle %s carries no approve-role signature", what)
	}
	return out
}

// maxZoneValues bounds the replaced values a zone-value finding names.
const maxZoneValues = 16

// zoneValues lists the variables whose value the bundle signed and the
// zone replaced, each with where the zone's value came from (names and
// files, never a value): "DbPassword (trust.yaml fromFile secrets/db)".
func zoneValues(p *receipt.Predicate) []string {
	var out []string
	for _, v := range p.VariableSources {
		if v.Replaced {
			out = append(out, fmt.Sprintf("%s (%s)", clip(v.Name), clip(v.Where())))
		}
	}
	return out
}

// outcomeText is the reason code and message of an apply, with its
// failed steps (and the end of their masked output) and checks:
// `step-failed: message [step "migrate" failed, exit 1: …tail]`.
func outcomeText(p *receipt.Predicate) string {
	text := string(p.Outcome.Reason)
	if p.Outcome.Message != "" {
		text += ": " + clip(p.Outcome.Message)
	}
	var details []string
	for _, s := range p.Steps {
		if s.Result == receipt.StepFailed || s.Result == receipt.StepTimedOut {
			d := fmt.Sprintf("step %q %s, exit %d", clip(s.Name), s.Result, s.ExitCode)
			if t := lastLine(s.Tail); t != "" {
				d += ": " + t
			}
			details = append(details, d)
		}
	}
	n := 0
	for _, c := range p.Checks {
		if c.Result == receipt.Fail && n < maxChecks {
			details = append(details, fmt.Sprintf("check %s failed", c.Name))
			n++
		}
	}
	if len(details) > 0 {
		text += " [" + strings.Join(details, "; ") + "]"
	}
	return text
}

// lastLine is the last non-empty line of a step's output tail, clipped.
func lastLine(tail string) string {
	lines := strings.Split(strings.TrimRight(tail, "\n"), "\n")
	return clip(strings.TrimSpace(lines[len(lines)-1]))
}

func orNone(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}
