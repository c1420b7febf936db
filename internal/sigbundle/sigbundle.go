// Package sigbundle writes and checks a Sigstore bundle
// (https://github.com/sigstore/protobuf-specs, media type
// application/vnd.dev.sigstore.bundle.v0.3+json) that holds one signature
// over a file made with a key — no certificate, no transparency log entry,
// no timestamp: what `cosign sign-blob --key K --bundle F` writes when
// nothing is uploaded, and what `cosign verify-blob --key K.pub --bundle F
// --insecure-ignore-tlog FILE` checks offline. The signature is the one
// package blobsig makes (over the file's bytes); the bundle carries it
// with the file's SHA-256 and a hint naming the key.
package sigbundle

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"airlock.dev/airlock/internal/blobsig"
	"airlock.dev/airlock/internal/jsonx"
	"airlock.dev/airlock/internal/keys"
)

// MediaType is the bundle format written and read.
const MediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// MaxSize bounds a bundle read by Verify.
const MaxSize = 64 << 10

// Bundle is the JSON of a key-signed message bundle (the protobuf-specs
// Bundle message with only the fields such a bundle has).
type Bundle struct {
	MediaType            string               `json:"mediaType"`
	VerificationMaterial VerificationMaterial `json:"verificationMaterial"`
	MessageSignature     MessageSignature     `json:"messageSignature"`
}

// VerificationMaterial names the key: the verifier brings the key itself.
type VerificationMaterial struct {
	PublicKey struct {
		Hint string `json:"hint"`
	} `json:"publicKey"`
}

// MessageSignature is a signature over a file (the "message").
type MessageSignature struct {
	MessageDigest struct {
		Algorithm string `json:"algorithm"`
		Digest    string `json:"digest"` // standard base64
	} `json:"messageDigest"`
	Signature string `json:"signature"` // standard base64
}

// Hint is the key hint cosign writes: the base64 SHA-256 of the key's DER
// (PKIX) encoding.
func Hint(k *keys.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(k.Key())
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

// New returns the bundle of sigText — a signature over data as
// blobsig.Sign returns it (base64) — made by k. It checks the signature
// first, so that no bundle holds one that does not verify.
func New(k *keys.PublicKey, data []byte, sigText []byte) ([]byte, error) {
	if err := blobsig.Verify(k, bytes.NewReader(data), sigText); err != nil {
		return nil, err
	}
	hint, err := Hint(k)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(data)
	b := Bundle{MediaType: MediaType}
	b.VerificationMaterial.PublicKey.Hint = hint
	b.MessageSignature.MessageDigest.Algorithm = "SHA2_256"
	b.MessageSignature.MessageDigest.Digest = base64.StdEncoding.EncodeToString(digest[:])
	b.MessageSignature.Signature = string(bytes.TrimSpace(sigText))
	out, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// ErrMismatch is wrapped when a bundle is not for the data or the key.
var ErrMismatch = errors.New("the bundle does not match")

// Verify checks a bundle read from r against data and the key: the
// media type, the digest of data, and the signature (blobsig.ErrInvalid
// when it does not verify).
func Verify(k *keys.PublicKey, data []byte, r io.Reader) error {
	var b Bundle
	if _, err := jsonx.Read(r, MaxSize, &b); err != nil {
		return fmt.Errorf("sigstore bundle: %w", err)
	}
	if b.MediaType != MediaType {
		return fmt.Errorf("sigstore bundle: media type %q, want %q", b.MediaType, MediaType)
	}
	if b.MessageSignature.MessageDigest.Algorithm != "SHA2_256" {
		return fmt.Errorf("sigstore bundle: digest algorithm %q, want SHA2_256", b.MessageSignature.MessageDigest.Algorithm)
	}
	digest := sha256.Sum256(data)
	if b.MessageSignature.MessageDigest.Digest != base64.StdEncoding.EncodeToString(digest[:]) {
		return fmt.Errorf("%w: it is for other data (digest)", ErrMismatch)
	}
	if hint, err := Hint(k); err == nil && b.VerificationMaterial.PublicKey.Hint != hint {
		return fmt.Errorf("%w: it names another key (hint %s)", ErrMismatch, b.VerificationMaterial.PublicKey.Hint)
	}
	return blobsig.Verify(k, bytes.NewReader(data), []byte(b.MessageSignature.Signature))
}
