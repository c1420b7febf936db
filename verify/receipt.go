package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
)

// CheckReceiptBundle is the check that a receipt is about a given bundle.
const CheckReceiptBundle receipt.CheckName = "receipt-bundle"

// Receipt verifies a receipt's signature against the zone receipt keys and,
// when b is not nil, that the receipt is about that bundle: the same
// statement (by SHA-256 of the signed in-toto Statement, which does not
// change when signatures are added) and bundle ID.
func Receipt(data []byte, trusted []*keys.PublicKey, b *bundle.Bundle) (*receipt.Receipt, error) {
	r, err := receipt.Verify(data, trusted)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return r, nil
	}
	raw, err := b.ReadFile(bundle.StatementFile, bundle.MaxStatementSize)
	if err != nil {
		return r, err
	}
	env, err := dsse.Read(bytes.NewReader(raw), bundle.MaxStatementSize)
	if err != nil {
		return r, &Error{Check: CheckReceiptBundle, File: bundle.StatementFile, Msg: err.Error(), Err: err}
	}
	payload, err := dsse.PayloadOf(env)
	if err != nil {
		return r, &Error{Check: CheckReceiptBundle, File: bundle.StatementFile, Msg: err.Error(), Err: err}
	}
	sum := sha256.Sum256(payload)
	got := r.Predicate().Bundle
	if got.StatementSHA256 != hex.EncodeToString(sum[:]) {
		return r, &Error{Check: CheckReceiptBundle, Msg: fmt.Sprintf("the receipt is about statement %s (bundle %s %s %s), not this bundle's %s",
			short(got.StatementSHA256), got.Name, got.Version, got.ID, hex.EncodeToString(sum[:])[:12])}
	}
	return r, nil
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	if s == "" {
		return "(none: the bundle was not verified)"
	}
	return s
}
