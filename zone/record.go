package zone

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
)

// RecordOptions say who records a control change of a zone, and when.
type RecordOptions struct {
	Operator string // the person (--operator)
	Note     string
	// OperatorKey, when set, co-signs the record; it must be one of the
	// policy's operators. The record names its person (Operator, when
	// given, must be that name).
	OperatorKey *keys.Signer
	// WitnessKey, when set, co-signs the record too: a second operator.
	WitnessKey *keys.Signer
	Version    string    // airlock version
	Now        time.Time // the zone clock
}

// ErrOperatorName means the name given for an operator is not the one the
// policy gives the operator's key: a record names the person who signed.
var ErrOperatorName = errors.New("the operator's name is not the one trust.yaml gives the key")

// ErrOperatorUnknown means an operator key is not one of the policy's
// operators.
var ErrOperatorUnknown = errors.New("the operator key is not listed under operators in trust.yaml")

// OperatorKeyRecord checks that k is one of the policy's operators and
// returns its record for a receipt, with the name trust.yaml gives.
func (p *Policy) OperatorKeyRecord(k *keys.PublicKey) (*receipt.OperatorKey, error) {
	o := p.Operator(k)
	if o == nil {
		return nil, fmt.Errorf("%w (key %s)", ErrOperatorUnknown, k.ID())
	}
	return receipt.NewOperatorKey(o, p.NameOf(o)), nil
}

// ControlRecord is the entry of chain c after its head h (nil: none) that
// records t's policy: a genesis record for the first entry, else a policy
// commit that says how the policy differs from the one h records.
func (t *Trust) ControlRecord(c *receipt.Chain, h *receipt.Head, o RecordOptions) (*receipt.Predicate, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	p, err := c.Next(h, receipt.Header{Event: receipt.EventPolicy, Operator: receipt.CurrentOperator(o.Operator, o.Note),
		Version: o.Version, Now: o.Now, Policy: t.Record()})
	if err != nil {
		return nil, err
	}
	p.Time.Finished = p.Time.Started
	prevPolicy := h.Policy()
	if p.Seq == 1 {
		p.Event = receipt.EventGenesis
		p.Outcome = receipt.Outcome{Result: receipt.Recorded, Reason: receipt.ReasonOK, Message: "zone " + t.Policy.Zone + " created"}
	} else {
		p.PolicyChange = Diff(prevPolicy, p.Policy)
		msg := "policy committed: " + DescribeChange(p.PolicyChange)
		if p.PolicyChange.Weakens {
			msg = "policy committed (weakens the policy): " + DescribeChange(p.PolicyChange)
		}
		p.Outcome = receipt.Outcome{Result: receipt.Recorded, Reason: receipt.ReasonOK, Message: msg}
	}
	// An operator the new policy drops may still record the change.
	keyRecord := func(k *keys.Signer) (*receipt.OperatorKey, error) {
		rec, err := t.Policy.OperatorKeyRecord(k.Public())
		if err != nil {
			name, known := prevPolicy.OperatorName(k.Public().ID())
			if !known {
				return nil, err
			}
			rec = receipt.NewOperatorKey(k.Public(), name)
		}
		return rec, nil
	}
	if o.OperatorKey != nil {
		k, err := keyRecord(o.OperatorKey)
		if err != nil {
			return nil, err
		}
		if p.Operator.Name != "" && p.Operator.Name != k.Name {
			return nil, fmt.Errorf("%w: --operator %q, but the key %s is %q's", ErrOperatorName, p.Operator.Name, k.KeyID, k.Name)
		}
		p.Operator.Key, p.Operator.Name = k, k.Name
	}
	if o.WitnessKey != nil {
		w, err := keyRecord(o.WitnessKey)
		if err != nil {
			return nil, err
		}
		p.Operator.Witness = w
	}
	return p, nil
}

// ReceiptsDir is the folder of the zone's receipt chain in its state
// directory.
func (t *Trust) ReceiptsDir() string { return filepath.Join(t.StateDir, "receipts") }

// writeGenesis signs the genesis record of a new zone with the receipt key
// and writes it as the first entry of the chain.
func writeGenesis(t *Trust, signer *keys.Signer, o RecordOptions) (string, error) {
	c := receipt.OpenChain(t.ReceiptsDir(), t.Policy.Zone, t.Policy.Host, signer.Public())
	if f, err := receipt.HeadFile(c.Dir(), t.Policy.Zone); err == nil && f != nil {
		return "", fmt.Errorf("%s already holds a receipt chain of zone %s: refusing to start another", c.Dir(), t.Policy.Zone)
	}
	for _, d := range []string{t.StateDir, c.Dir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", err
		}
	}
	p, err := t.ControlRecord(c, nil, o)
	if err != nil {
		return "", err
	}
	data, err := receipt.Sign(p, nil, signer)
	if err != nil {
		return "", err
	}
	path, err := c.Append(p.Seq, data)
	if err != nil {
		return "", fmt.Errorf("write the genesis record: %w", err)
	}
	return path, nil
}
