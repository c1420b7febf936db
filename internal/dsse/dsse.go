// Package dsse signs and verifies DSSE v1 envelopes
// (https://github.com/secure-systems-lab/dsse) with airlock keys.
//
// Signatures are made over PAE(payloadType, payload). A signature's keyid is
// the signing key's ID (see package keys), which is what cosign computes for
// a key too, so `cosign verify-blob-attestation` finds our signatures. The
// keyid is only a hint: Verify tries every candidate key against every
// signature and reports each key that signed at most once.
package dsse

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	ssl "github.com/secure-systems-lab/go-securesystemslib/dsse"

	"airlock.dev/airlock/internal/jsonx"
	"airlock.dev/airlock/internal/keys"
)

// InTotoPayloadType is the payload type of an in-toto Statement.
const InTotoPayloadType = "application/vnd.in-toto+json"

// MaxSignatures bounds the signatures one envelope may carry.
const MaxSignatures = 16

// Envelope is a DSSE envelope.
type Envelope = ssl.Envelope

// Signature is one signature of an envelope.
type Signature = ssl.Signature

// ErrNoSignature means no signature in the envelope verified with any candidate key.
var ErrNoSignature = errors.New("no valid signature from a trusted key")

// Sign makes an envelope over payload signed by every signer, in order.
func Sign(payloadType string, payload []byte, signers ...*keys.Signer) (*Envelope, error) {
	env := &Envelope{
		PayloadType: payloadType,
		Payload:     base64.StdEncoding.EncodeToString(payload),
		Signatures:  []Signature{},
	}
	for _, s := range signers {
		if err := AddSignature(env, s); err != nil {
			return nil, err
		}
	}
	return env, nil
}

// AddSignature signs env's payload with s and appends the signature. A key
// that already signed is refused (it would not count twice anyway).
func AddSignature(env *Envelope, s *keys.Signer) error {
	payload, err := decodeB64(env.Payload)
	if err != nil {
		return fmt.Errorf("decode payload: %w", err)
	}
	if len(env.Signatures) >= MaxSignatures {
		return fmt.Errorf("envelope already has %d signatures", len(env.Signatures))
	}
	pae := ssl.PAE(env.PayloadType, payload)
	for _, sig := range env.Signatures {
		raw, err := decodeB64(sig.Sig)
		if err == nil && s.Public().Verify(pae, raw) == nil {
			return fmt.Errorf("key %s has already signed this envelope", s.Public().ID())
		}
	}
	sig, err := s.Sign(pae)
	if err != nil {
		return err
	}
	env.Signatures = append(env.Signatures, Signature{
		KeyID: s.Public().ID(),
		Sig:   base64.StdEncoding.EncodeToString(sig),
	})
	return nil
}

// Marshal encodes env as indented JSON with a trailing newline.
func Marshal(env *Envelope) ([]byte, error) {
	b, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Read decodes an envelope of at most max bytes strictly (no unknown or
// duplicate fields) and checks its shape. It does not verify signatures.
func Read(r io.Reader, max int64) (*Envelope, error) {
	var env Envelope
	if _, err := jsonx.Read(r, max, &env); err != nil {
		return nil, fmt.Errorf("parse envelope: %w", err)
	}
	if env.PayloadType == "" {
		return nil, errors.New("parse envelope: no payloadType")
	}
	if len(env.Signatures) == 0 {
		return nil, errors.New("parse envelope: no signatures")
	}
	if len(env.Signatures) > MaxSignatures {
		return nil, fmt.Errorf("parse envelope: %d signatures, at most %d allowed", len(env.Signatures), MaxSignatures)
	}
	if _, err := decodeB64(env.Payload); err != nil {
		return nil, fmt.Errorf("parse envelope: payload: %w", err)
	}
	return &env, nil
}

// Verified is the result of Verify.
type Verified struct {
	// Payload is the authenticated payload. Use only this copy.
	Payload []byte
	// Signers are the distinct candidate keys with a valid signature, in the
	// order of the envelope's signatures.
	Signers []*keys.PublicKey
}

// Verify checks env's signatures against the candidate keys. It returns
// the payload and every distinct candidate that signed it; ErrNoSignature if
// none did. Thresholds and roles are the caller's policy.
func Verify(env *Envelope, candidates []*keys.PublicKey) (*Verified, error) {
	payload, err := decodeB64(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("decode payload: %w", err)
	}
	pae := ssl.PAE(env.PayloadType, payload)
	out := &Verified{Payload: payload}
	used := make([]bool, len(candidates))
	for _, s := range env.Signatures {
		sig, err := decodeB64(s.Sig)
		if err != nil {
			continue
		}
		// Try the key the hint names first; the hint decides nothing.
		for _, i := range hintOrder(candidates, s.KeyID) {
			if used[i] || candidates[i].Verify(pae, sig) != nil {
				continue
			}
			used[i] = true
			out.Signers = append(out.Signers, candidates[i])
			break
		}
	}
	if len(out.Signers) == 0 {
		return nil, ErrNoSignature
	}
	return out, nil
}

func hintOrder(c []*keys.PublicKey, hint string) []int {
	order := make([]int, 0, len(c))
	for i, k := range c {
		if k.ID() == hint {
			order = append(order, i)
		}
	}
	for i, k := range c {
		if k.ID() != hint {
			order = append(order, i)
		}
	}
	return order
}

// decodeB64 accepts standard and URL-safe base64, padded or not, as DSSE allows.
func decodeB64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("invalid base64")
}

// PayloadOf returns the decoded payload without verifying anything. Only for
// display of data that is not acted upon (inspect, receipt show).
func PayloadOf(env *Envelope) ([]byte, error) { return decodeB64(env.Payload) }
