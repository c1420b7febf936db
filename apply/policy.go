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
			op.Key = receipt.NewOperatorKey(k.Public(), name)
			if op.Name == "" {
				op.Name = name
			}
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
	Trust       *zone.Trust
	Operator    string       // the person committing the change (required)
	Note        string       // why
	OperatorKey *keys.Signer // co-signs the record
	ReceiptOut  string       // also copy the chain here
	Wait        time.Duration
	Now         func() time.Time
	Version     string
	Stderr      io.Writer
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
	if o.Operator == "" {
		return nil, errors.New("commit-policy: the operator's name is required")
	}
	a, err := start(Options{Trust: o.Trust, Operator: o.Operator, Note: o.Note, OperatorKey: o.OperatorKey,
		ReceiptOut: o.ReceiptOut, Wait: o.Wait, Now: o.Now, Version: o.Version, Stderr: o.Stderr, Bundle: "(policy commit)"})
	if err != nil {
		return nil, err
	}
	defer a.close()
	if j, err := a.st.loadJournal(); err != nil {
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
	committed := h.Policy()
	if h != nil && o.Trust.Record().Same(committed) {
		return &CommitResult{Unchanged: true, Seq: h.Seq}, nil
	}
	if committed != nil && committed.RequireOperatorSignature {
		if o.OperatorKey == nil {
			return nil, policyRefusal(receipt.ReasonOperatorUnsigned, "the recorded policy requires an operator's co-signature: give --operator-key")
		}
		if _, ok := committed.OperatorName(o.OperatorKey.Public().ID()); !ok {
			return nil, policyRefusal(receipt.ReasonOperatorUnknown, "key %s is not an operator of the recorded policy", o.OperatorKey.Public().ID())
		}
	}
	p, err := o.Trust.ControlRecord(a.chain, h, zone.RecordOptions{Operator: o.Operator, Note: o.Note,
		OperatorKey: o.OperatorKey, Version: o.Version, Now: a.now})
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
	data, err := receipt.Sign(p, nil, a.signer, co...)
	if err != nil {
		return nil, err
	}
	path, err := a.chain.Append(p.Seq, data)
	if err != nil {
		return nil, fmt.Errorf("write the policy record: %w", err)
	}
	res := &CommitResult{Seq: p.Seq, Receipt: path, Change: p.PolicyChange}
	if o.ReceiptOut != "" {
		if res.ReceiptCopy, err = a.chain.CopyOut(path, o.ReceiptOut); err != nil {
			fmt.Fprintf(a.o.Stderr, "airlock: warning: policy record kept in %s but not copied to %s: %v\n", path, o.ReceiptOut, err)
		}
	}
	return res, nil
}
