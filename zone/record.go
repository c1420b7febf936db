package zone

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/internal/hostinfo"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/uuid"
	"airlock.dev/airlock/receipt"
)

// RecordOptions say who records a control change of a zone, and when.
type RecordOptions struct {
	Operator string // the person (--operator)
	Note     string
	// OperatorKey, when set, co-signs the record; it must be one of the
	// policy's operators.
	OperatorKey *keys.Signer
	Version     string    // airlock version
	Now         time.Time // the zone clock
}

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

// ControlRecord is the chain entry that records t's policy as entry seq,
// after the entry whose link digest is prevLink: a genesis record at seq 1,
// else a policy commit that says how the policy differs from prevPolicy,
// the one the chain recorded last (nil: none).
func (t *Trust) ControlRecord(seq uint64, prevLink string, prevPolicy *receipt.Policy, o RecordOptions) (*receipt.Predicate, error) {
	now := o.Now.UTC()
	if o.Now.IsZero() {
		now = time.Now().UTC()
	}
	p := &receipt.Predicate{
		ReceiptID:  uuid.NewV7(now),
		Event:      receipt.EventPolicy,
		Zone:       t.Policy.Zone,
		Seq:        seq,
		PrevSHA256: prevLink,
		Operator:   receipt.CurrentOperator(o.Operator, o.Note),
		Host:       receipt.Host{Name: t.Policy.Host, OS: runtime.GOOS, Arch: runtime.GOARCH},
		Applier:    receipt.Applier{Version: o.Version, SHA256: hostinfo.ExecutableSHA256()},
		Time:       receipt.Times{Started: now, Finished: now, Source: "system clock", Clock: receipt.CurrentClock()},
		Checks:     []receipt.Check{},
		Steps:      []receipt.Step{},
		Policy:     t.Record(),
		Storage:    receipt.StorageOf(t.ReceiptsDir()),
	}
	if seq == 1 {
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
	if o.OperatorKey != nil {
		k, err := t.Policy.OperatorKeyRecord(o.OperatorKey.Public())
		if err != nil {
			// An operator the new policy drops may still record the change.
			name, known := prevPolicy.OperatorName(o.OperatorKey.Public().ID())
			if !known {
				return nil, err
			}
			k = receipt.NewOperatorKey(o.OperatorKey.Public(), name)
		}
		p.Operator.Key = k
		if p.Operator.Name == "" {
			p.Operator.Name = k.Name
		}
	}
	return p, nil
}

// ReceiptsDir is the folder of the zone's receipt chain in its state
// directory.
func (t *Trust) ReceiptsDir() string { return filepath.Join(t.StateDir, "receipts") }

// writeGenesis signs the genesis record of a new zone with the receipt key
// and writes it as the first receipt of the chain.
func writeGenesis(t *Trust, signer *keys.Signer, o RecordOptions) (string, error) {
	dir := t.ReceiptsDir()
	if h, err := receipt.ReadHead(dir, t.Policy.Zone); err == nil && h != nil {
		return "", fmt.Errorf("%s already holds a receipt chain of zone %s: refusing to start another", dir, t.Policy.Zone)
	}
	if err := os.MkdirAll(t.StateDir, 0o700); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	p, err := t.ControlRecord(1, "", nil, o)
	if err != nil {
		return "", err
	}
	data, err := receipt.Sign(p, nil, signer)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, receipt.FileName(t.Policy.Zone, t.Policy.Host, 1))
	if err := atomicfile.WriteNoReplace(path, data, receipt.FileMode); err != nil {
		return "", fmt.Errorf("write the genesis record: %w", err)
	}
	return path, nil
}
