package apply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/internal/capped"
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

// committedPolicy returns the policy the zone's chain records at its head
// (nil when the head records none: a new state directory, or a chain from
// before policies were recorded). The head's signature is not checked
// here: after a receipt key rotation it is the old key's, and a head that
// someone planted fails the audit, which checks every signature.
func (a *applier) committedPolicy() (*receipt.Policy, error) {
	h, err := receipt.ReadHead(a.st.receiptsDir(), a.zone)
	if err != nil || h == nil || h.Receipt == nil {
		return nil, err
	}
	return h.Receipt.Predicate().Policy, nil
}

// checkPolicy refuses an apply under a trust policy the chain has not
// recorded, and one whose operator co-signature the policy requires or
// does not know. The receipt records the policy in force — the committed
// one — and is co-signed by an operator key that policy lists, also when
// the apply is refused.
func (a *applier) checkPolicy() *RefusedError {
	current := a.o.Trust.Record()
	committed, err := a.committedPolicy()
	if err != nil {
		return policyRefusal(receipt.ReasonPolicyUncommitted, "cannot read the chain head: %v", err)
	}
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
	defer a.st.release()
	if j, err := a.st.loadJournal(); err != nil {
		return nil, err
	} else if j != nil {
		return nil, fmt.Errorf("an interrupted apply of %s is pending: finish it first (airlock apply --resume)", j.Bundle)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h, err := receipt.ReadHead(a.st.receiptsDir(), a.zone)
	if err != nil {
		return nil, fmt.Errorf("read receipt chain: %w", err)
	}
	var seq uint64
	var link string
	var committed *receipt.Policy
	if h != nil {
		seq, link = h.Seq, h.Link
		if committed, err = a.committedPolicy(); err != nil {
			return nil, err
		}
	}
	current := o.Trust.Record()
	if h != nil && current.Same(committed) {
		return &CommitResult{Unchanged: true, Seq: seq}, nil
	}
	if committed != nil && committed.RequireOperatorSignature {
		if o.OperatorKey == nil {
			return nil, policyRefusal(receipt.ReasonOperatorUnsigned, "the recorded policy requires an operator's co-signature: give --operator-key")
		}
		if _, ok := committed.OperatorName(o.OperatorKey.Public().ID()); !ok {
			return nil, policyRefusal(receipt.ReasonOperatorUnknown, "key %s is not an operator of the recorded policy", o.OperatorKey.Public().ID())
		}
	}
	p, err := o.Trust.ControlRecord(seq+1, link, committed, zone.RecordOptions{Operator: o.Operator, Note: o.Note,
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
	// Written whole beside the chain, then renamed into it: a commit killed
	// before the rename leaves no record (and the next apply sweeps the
	// pending file), one killed after it is complete.
	name := a.receiptName(p.Seq)
	if err := a.st.writePending(name, data); err != nil {
		return nil, fmt.Errorf("write the policy record: %w", err)
	}
	if err := a.st.commitReceipt(name); err != nil {
		return nil, fmt.Errorf("write the policy record: %w", err)
	}
	path := a.st.receiptPath(name)
	res := &CommitResult{Seq: p.Seq, Receipt: path, Change: p.PolicyChange}
	if o.ReceiptOut != "" {
		if res.ReceiptCopy, err = a.copyOut(path, o.ReceiptOut); err != nil {
			fmt.Fprintf(a.o.Stderr, "airlock: warning: policy record kept in %s but not copied to %s: %v\n", path, o.ReceiptOut, err)
		}
	}
	return res, nil
}

func (s *state) receiptsDir() string { return filepath.Join(s.dir, "receipts") }

// copyOut copies into the folder out every entry of the zone's chain, with the
// files beside it, that the folder does not hold yet — the genesis record,
// policy commits, receipts whose copy failed before — so that the media
// always carries the chain from its start. The folder is shared by the
// hosts of a zone (their receipts have names of their own): a copy never
// replaces a file. A file of the same name with the same bytes is this
// one, copied before; with other bytes it is another receipt, and the
// copy is an error that names it. It returns the path of the copy of path.
func (a *applier) copyOut(path, out string) (string, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	// What a copy killed earlier left in the folder.
	atomicfile.Sweep(out, atomicfile.TempTag, false)
	dir := a.st.receiptsDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	have, err := os.ReadDir(out)
	if err != nil {
		return "", err
	}
	present := make(map[string]bool, len(have))
	for _, e := range have {
		present[e.Name()] = true
	}
	current := filepath.Base(path)
	var names []string
	for _, e := range ents {
		if receipt.InChain(a.zone, e.Name()) && e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	var errs []error
	for _, n := range names {
		src, dst := filepath.Join(dir, n), filepath.Join(out, n)
		var err error
		switch {
		case !present[n] || n == current || n == receipt.FilesListName(current) || n == receipt.LogName(current):
			err = copyNoReplace(src, dst)
		default:
			// Copied by an earlier apply: a size that differs shows
			// another file of the same name, without reading the chain
			// again at every apply.
			err = sameSize(src, dst)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
		}
	}
	return filepath.Join(out, current), errors.Join(errs...)
}

// errOtherFile is a file of the media folder that has a receipt's name but
// other content.
var errOtherFile = errors.New("it holds another file (a receipt of another host or zone with the same name?)")

// sameSize checks that dst, copied before, has src's size.
func sameSize(src, dst string) error {
	a, err := os.Stat(src)
	if err != nil {
		return err
	}
	b, err := os.Lstat(dst)
	if err != nil {
		return err
	}
	if !b.Mode().IsRegular() || a.Size() != b.Size() {
		return fmt.Errorf("%s already exists and %w", dst, errOtherFile)
	}
	return nil
}

// copyNoReplace copies the file src to dst unless dst holds it already;
// a dst with other content is an error, and stays as it is.
func copyNoReplace(src, dst string) error {
	if same, err := sameContent(src, dst); err == nil && same {
		return nil
	}
	data, err := capped.ReadFile(src, receipt.MaxSize<<4)
	if err != nil {
		return err
	}
	err = atomicfile.WriteNoReplace(dst, data, receipt.FileMode)
	if errors.Is(err, atomicfile.ErrExists) {
		if same, _ := sameContent(src, dst); same {
			return nil // another copy of this one got there first
		}
		return fmt.Errorf("%w: %w", err, errOtherFile)
	}
	return err
}
