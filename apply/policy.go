package apply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

// policyRefusal is an apply or a policy commit that the zone's recorded
// policy refuses before any bundle is read: trust.yaml changed without a
// commit, or an operator's co-signature is missing or unknown. Like a
// verification failure, it exits 3 (a *RefusedError).
func policyRefusal(reason receipt.Reason, format string, args ...any) *RefusedError {
	return &RefusedError{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// checkPolicy refuses an apply under a trust policy the chain has not
// recorded, and one whose operator co-signature the policy requires or
// does not know. The receipt records the policy in force — the committed
// one — and is co-signed by an operator key that policy lists, also when
// the apply is refused.
func (a *applier) checkPolicy() *RefusedError {
	current, committed := a.o.Trust.Record(), a.head.Policy()
	op := &a.j.Receipt.Operator
	if k := a.o.OperatorKey; k != nil {
		if name, ok := committed.OperatorName(k.Public().ID()); ok {
			if op.Name != "" && op.Name != name {
				return policyRefusal(receipt.ReasonOperatorUnknown, "%v: --operator %q, but the key %s is %q's", zone.ErrOperatorName, op.Name, k.Public().ID(), name)
			}
			op.Key, op.Name = receipt.NewOperatorKey(k.Public(), name), name
		}
	}
	if !current.Same(committed) {
		a.j.Receipt.Policy = committed
		msg := fmt.Sprintf("%s (sha256 %s) is not the policy the receipt chain records", a.o.Trust.File, current.SHA256)
		if committed == nil {
			msg += " (it records none)"
		} else {
			msg += fmt.Sprintf(" (sha256 %s; %s)", committed.SHA256, zone.DescribeChange(zone.Diff(committed, current)))
		}
		return policyRefusal(receipt.ReasonPolicyUncommitted, "%s: record the change with 'airlock zone commit-policy' first", msg)
	}
	switch k := a.o.OperatorKey; {
	case k != nil && op.Key == nil:
		return policyRefusal(receipt.ReasonOperatorUnknown, "%v (key %s)", zone.ErrOperatorUnknown, k.Public().ID())
	case k == nil && current.RequireOperatorSignature:
		return policyRefusal(receipt.ReasonOperatorUnsigned, "trust.yaml requires an operator's co-signature (requireOperatorSignature): give --operator-key")
	}
	return nil
}

// cosigners are the keys that co-sign this apply's receipt.
func (a *applier) cosigners() []*keys.Signer {
	if a.o.OperatorKey != nil && a.j.Receipt.Operator.Key != nil {
		return []*keys.Signer{a.o.OperatorKey}
	}
	return nil
}

// CommitOptions configures CommitPolicy.
type CommitOptions struct {
	Trust *zone.Trust
	// Operator is the person committing the change: required without an
	// OperatorKey, else it must be the name the policy gives that key.
	Operator    string
	Note        string       // why
	OperatorKey *keys.Signer // co-signs the record
	// WitnessKey is a second operator's key, co-signing too: a weakening
	// of a policy that requires two persons for it needs one.
	WitnessKey *keys.Signer
	ReceiptOut string // also copy the chain here
	Wait       time.Duration
	Now        func() time.Time
	Version    string
	Stderr     io.Writer
}

// CommitResult is what CommitPolicy recorded.
type CommitResult struct {
	// Unchanged is true when trust.yaml is the policy already recorded:
	// nothing was written.
	Unchanged   bool                  `json:"unchanged"`
	Seq         uint64                `json:"seq"`
	Receipt     string                `json:"receipt,omitempty"`
	ReceiptCopy string                `json:"receiptCopy,omitempty"`
	Change      *receipt.PolicyChange `json:"change,omitempty"` // nil for a genesis record
}

// CommitPolicy records trust.yaml's policy as the next entry of the zone's
// receipt chain, signed by the receipt key (and co-signed by the
// operator's key, which the recorded policy may require): a genesis record
// when the chain is empty, else a policy commit naming the previous policy
// and what changed. Until then, applies under the changed policy are
// refused.
func CommitPolicy(ctx context.Context, o CommitOptions) (*CommitResult, error) {
	if o.Operator == "" && o.OperatorKey == nil {
		return nil, errors.New("commit-policy: the operator's name is required (--operator, or the name trust.yaml gives --operator-key)")
	}
	a, err := start(Options{Trust: o.Trust, Operator: o.Operator, Note: o.Note, OperatorKey: o.OperatorKey,
		ReceiptOut: o.ReceiptOut, Wait: o.Wait, Now: o.Now, Version: o.Version, Stderr: o.Stderr, Bundle: "(policy commit)"})
	if err != nil {
		return nil, err
	}
	defer a.close()
	if j, err := a.state.loadJournal(); err != nil {
		return nil, err
	} else if j != nil {
		return nil, fmt.Errorf("an interrupted apply of %s is pending: finish it first (airlock apply --resume)", j.Bundle)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h, err := a.chain.Head()
	if err != nil {
		return nil, fmt.Errorf("read receipt chain: %w", err)
	}
	committed, current := h.Policy(), o.Trust.Record()
	if h != nil && current.Same(committed) {
		return &CommitResult{Unchanged: true, Seq: h.Seq}, nil
	}
	if err := checkCommitSigners(committed, current, o); err != nil {
		return nil, err
	}
	p, err := o.Trust.ControlRecord(a.chain, h, zone.RecordOptions{Operator: o.Operator, Note: o.Note,
		OperatorKey: o.OperatorKey, WitnessKey: o.WitnessKey, Version: o.Version, Now: a.now})
	if err != nil {
		if errors.Is(err, zone.ErrOperatorUnknown) {
			return nil, &RefusedError{Reason: receipt.ReasonOperatorUnknown, Err: err}
		}
		return nil, err
	}
	var co []*keys.Signer
	if p.Operator.Key != nil {
		co = append(co, o.OperatorKey)
	}
	if p.Operator.Witness != nil {
		co = append(co, o.WitnessKey)
	}
	data, err := receipt.Sign(p, nil, a.signer, co...)
	if err != nil {
		return nil, err
	}
	path, err := a.chain.Append(p.Seq, data)
	if err != nil {
		return nil, fmt.Errorf("write the policy record: %w", err)
	}
	if twoPersonUnheld(committed, p.PolicyChange) {
		fmt.Fprintf(a.o.Stderr, "airlock: warning: this change weakens the policy, and the recorded policy names fewer than two operators: requireTwoPersonForWeakening could not hold\n")
	}
	res := &CommitResult{Seq: p.Seq, Receipt: path, Change: p.PolicyChange}
	if o.ReceiptOut != "" {
		if res.ReceiptCopy, err = a.copyTo(path, o.ReceiptOut, false); err != nil {
			fmt.Fprintf(a.o.Stderr, "airlock: warning: policy record kept in %s but not copied to %s: %v\n", path, o.ReceiptOut, err)
		}
	}
	return res, nil
}

// checkCommitSigners applies the recorded policy's rules on who may commit
// a change to current: with requireOperatorSignature, an operator of the
// recorded policy co-signs; with requireTwoPersonForWeakening, a change
// that weakens the policy is co-signed by two of its operators, different
// keys of different persons (--operator-key and --witness-key). While the
// recorded policy names fewer than two operators, two persons cannot sign:
// the zone is being set up, and the record says the rule could not hold.
func checkCommitSigners(committed, current *receipt.Policy, o CommitOptions) error {
	if committed == nil {
		return nil
	}
	// Who may co-sign: an operator of the recorded policy, or — unless it
	// requires co-signatures — one the new policy adds.
	operator := func(flag string, k *keys.Signer) (string, error) {
		id := k.Public().ID()
		if name, ok := committed.OperatorName(id); ok {
			return name, nil
		}
		if name, ok := current.OperatorName(id); ok && !committed.RequireOperatorSignature {
			return name, nil
		}
		return "", policyRefusal(receipt.ReasonOperatorUnknown, "%s: key %s is not an operator of the recorded policy", flag, id)
	}
	var opName string
	if o.OperatorKey != nil {
		var err error
		if opName, err = operator("--operator-key", o.OperatorKey); err != nil {
			return err
		}
	} else if committed.RequireOperatorSignature {
		return policyRefusal(receipt.ReasonOperatorUnsigned, "the recorded policy requires an operator's co-signature: give --operator-key")
	}
	if o.WitnessKey != nil {
		if o.OperatorKey == nil {
			return errors.New("--witness-key co-signs beside --operator-key: give both")
		}
		name, err := operator("--witness-key", o.WitnessKey)
		if err != nil {
			return err
		}
		if o.WitnessKey.Public().ID() == o.OperatorKey.Public().ID() || name == opName {
			return policyRefusal(receipt.ReasonTwoPerson, "--witness-key must be another person's key than --operator-key (both are %s's)", name)
		}
	}
	change := zone.Diff(committed, current)
	if !committed.RequireTwoPersonForWeakening || !change.Weakens || twoPersonUnheld(committed, change) {
		return nil
	}
	// Two persons whom the policy before the change trusted: an operator
	// the change itself adds does not count.
	_, opKnown := committed.OperatorName(keyID(o.OperatorKey))
	_, witKnown := committed.OperatorName(keyID(o.WitnessKey))
	if !opKnown || !witKnown {
		return policyRefusal(receipt.ReasonTwoPerson, "this change weakens the policy (%s), and the recorded policy requires two persons for that "+
			"(requireTwoPersonForWeakening): give --operator-key and --witness-key, the keys of two of its operators", zone.DescribeChange(change))
	}
	return nil
}

// keyID is the id of k's public key; "" for no key.
func keyID(k *keys.Signer) string {
	if k == nil {
		return ""
	}
	return k.Public().ID()
}

// twoPersonUnheld reports whether a weakening change needed two persons
// under the committed policy but could not have them: it names fewer than
// two operators (a zone being set up).
func twoPersonUnheld(committed *receipt.Policy, change *receipt.PolicyChange) bool {
	return committed != nil && change != nil && committed.RequireTwoPersonForWeakening && change.Weakens && len(committed.Operators) < 2
}

// DriftResult is what RecordDrift found.
type DriftResult struct {
	// Unchanged is true when trust.yaml is the policy the chain records:
	// nothing was written.
	Unchanged bool `json:"unchanged"`
	// Seq is the chain entry that records the drift (or, when unchanged,
	// the chain's newest entry).
	Seq uint64 `json:"seq"`
	// Receipt is the drift record's path; "" when unchanged.
	Receipt string `json:"receipt,omitempty"`
	// Already is true when the chain's newest entry records this drift
	// already: nothing new was written.
	Already     bool                  `json:"already,omitempty"`
	ReceiptCopy string                `json:"receiptCopy,omitempty"`
	Change      *receipt.PolicyChange `json:"change,omitempty"`
}

// RecordDrift compares trust.yaml with the policy the zone's chain
// records and, when they differ, records that as the next entry of the
// chain (event drift), signed by the receipt key — once per trust.yaml
// found: a chain whose newest entry records the same drift gets nothing
// new. An edit of trust.yaml that nobody commits is thus on the record as
// soon as a command of airlock that can sign reads it (plan, zone check;
// apply refuses it with a receipt of its own), not only when an apply is
// tried. The error is a *RefusedError (reason policy-uncommitted) when
// they differ.
func RecordDrift(ctx context.Context, o Options) (*DriftResult, error) {
	if o.Bundle == "" {
		o.Bundle = "(policy check)"
	}
	a, err := start(o)
	if err != nil {
		return nil, err
	}
	defer a.close()
	if j, err := a.state.loadJournal(); err != nil {
		return nil, err
	} else if j != nil {
		return nil, fmt.Errorf("an interrupted apply of %s is pending: finish it first (airlock apply --resume)", j.Bundle)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h, err := a.chain.Head()
	if err != nil {
		return nil, fmt.Errorf("read receipt chain: %w", err)
	}
	committed, current := h.Policy(), o.Trust.Record()
	if h == nil || committed == nil || current.Same(committed) {
		// No recorded policy to drift from: apply refuses it, and
		// commit-policy records the first.
		res := &DriftResult{Unchanged: committed != nil}
		if h != nil {
			res.Seq = h.Seq
		}
		if !res.Unchanged {
			return res, policyRefusal(receipt.ReasonPolicyUncommitted, "%s: the receipt chain records no policy: record it with 'airlock zone commit-policy'", o.Trust.File)
		}
		return res, nil
	}
	change := zone.Diff(committed, current)
	change.FoundSHA256 = current.SHA256
	msg := fmt.Sprintf("%s (sha256 %s) is not the policy the receipt chain records (sha256 %s; %s): commit it with 'airlock zone commit-policy', or restore it",
		o.Trust.File, current.SHA256, committed.SHA256, zone.DescribeChange(change))
	if hp := h.Receipt.Predicate(); hp.EventOf() == receipt.EventDrift && hp.PolicyChange.FoundSHA256 == current.SHA256 {
		return &DriftResult{Seq: h.Seq, Receipt: h.File, Already: true, Change: hp.PolicyChange}, policyRefusal(receipt.ReasonPolicyUncommitted, "%s", msg)
	}
	p, err := a.chain.Next(h, receipt.Header{Event: receipt.EventDrift, Operator: receipt.CurrentOperator(o.Operator, o.Note),
		Version: o.Version, Now: a.now, Policy: committed, ClockOverride: o.ClockOverride})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrClockBehind, err)
	}
	p.Time.Finished = p.Time.Started
	p.PolicyChange = change
	p.Outcome = receipt.Outcome{Result: receipt.Recorded, Reason: receipt.ReasonPolicyUncommitted, Message: msg}
	data, err := receipt.Sign(p, nil, a.signer)
	if err != nil {
		return nil, err
	}
	path, err := a.chain.Append(p.Seq, data)
	if err != nil {
		return nil, fmt.Errorf("write the drift record: %w", err)
	}
	res := &DriftResult{Seq: p.Seq, Receipt: path, Change: change}
	if o.ReceiptOut != "" {
		if res.ReceiptCopy, err = a.copyTo(path, o.ReceiptOut, false); err != nil {
			fmt.Fprintf(a.o.Stderr, "airlock: warning: drift record kept in %s but not copied to %s: %v\n", path, o.ReceiptOut, err)
		}
	}
	return res, policyRefusal(receipt.ReasonPolicyUncommitted, "%s", msg)
}
