package bundle

import (
	"fmt"

	"airlock.dev/airlock/internal/dsse"
)

// The caps on what a zone reads of a bundle, in one place: the verifier
// applies them to hostile input before parsing it, and the builder (and
// sign) refuse what they would refuse, so that airlock never makes a
// bundle that airlock will not apply.
const (
	// MaxStatementSize caps the envelope before it is parsed.
	MaxStatementSize = 1 << 20
	// MaxManifestSize caps manifest.json (it is also capped by its signed size).
	MaxManifestSize = 256 << 20
	// MaxVariablesSize caps variables.json inside the payload.
	MaxVariablesSize = 4 << 20
	// MaxParts bounds how many payload parts a bundle may have.
	MaxParts = 9999
	// MaxEntries bounds the entries of a payload.
	MaxEntries = 1 << 20
	// MaxSignatures bounds the signatures of the envelope.
	MaxSignatures = dsse.MaxSignatures
)

// signatureRoom is what the builder leaves free in the envelope for the
// signatures sign may add later (MaxSignatures in all, each of well under
// 1 KiB in JSON), so that a bundle that builds can be co-signed.
const signatureRoom = (MaxSignatures - 1) << 10

// checkBuilt refuses a statement, and its signed envelope, that the
// verifier would refuse: a predicate outside the caps, or an envelope
// larger than MaxStatementSize once room is left for more signatures.
func checkBuilt(st *Statement, envelope []byte, room int) error {
	if err := st.Predicate.Validate(); err != nil {
		return fmt.Errorf("the statement would be refused when verified: %w", err)
	}
	if n := len(envelope); n+room > MaxStatementSize {
		msg := fmt.Sprintf("the signed statement takes %d bytes", n)
		if room > 0 {
			msg += fmt.Sprintf(" (and %d more for the signatures sign may add)", room)
		}
		msg += fmt.Sprintf(", more than the %d bytes verify reads", MaxStatementSize)
		if parts := len(st.Predicate.Payload.Parts); parts > 1 {
			msg += fmt.Sprintf("; it lists %d payload parts: choose a larger split size", parts)
		} else if c := st.Predicate.Change; c != nil && len(c.TestEvidence) > 0 {
			msg += fmt.Sprintf("; it lists %d test evidence files: list fewer", len(c.TestEvidence))
		}
		return fmt.Errorf("%s", msg)
	}
	return nil
}
