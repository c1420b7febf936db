// Package blobsig signs and verifies whole files the way `cosign sign-blob`
// and `cosign verify-blob --key` do, so that either tool checks the other's
// signatures: a signature file holds the standard base64 encoding of the
// signature over the file's bytes (for ECDSA, ASN.1 DER over SHA-256).
// Release checksums (SHA256SUMS) are signed this way.
package blobsig

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"airlock.dev/airlock/internal/keys"
)

// MaxSignatureSize bounds a signature file (an RSA-4096 signature in base64
// is under 700 bytes).
const MaxSignatureSize = 16 << 10

// ErrInvalid is wrapped by every verification failure: a signature that is
// malformed or does not match the key and the data.
var ErrInvalid = errors.New("invalid signature")

// Sign reads data to its end and returns the base64 signature text (no
// trailing newline, as cosign writes it).
func Sign(s *keys.Signer, data io.Reader) ([]byte, error) {
	sig, err := s.SignStream(data)
	if err != nil {
		return nil, err
	}
	out := make([]byte, base64.StdEncoding.EncodedLen(len(sig)))
	base64.StdEncoding.Encode(out, sig)
	return out, nil
}

// Verify checks the base64 signature text sigText over everything read
// from data. Surrounding white space in sigText is ignored.
func Verify(k *keys.PublicKey, data io.Reader, sigText []byte) error {
	if len(sigText) > MaxSignatureSize {
		return fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxSignatureSize)
	}
	text := bytes.TrimSpace(sigText)
	sig := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	n, err := base64.StdEncoding.Strict().Decode(sig, text)
	if err != nil || n == 0 {
		return fmt.Errorf("%w: not a base64 signature", ErrInvalid)
	}
	r := &readErr{r: data}
	err = k.VerifyStream(r, sig[:n])
	if r.err != nil {
		return fmt.Errorf("read: %w", r.err) // could not verify: not a verdict
	}
	if err != nil {
		return fmt.Errorf("%w: does not match key %s", ErrInvalid, k.ID())
	}
	return nil
}

// readErr remembers a read error, which the verifier would report as a
// bad signature.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}
