package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"airlock.dev/airlock/internal/pkcs11key"
)

// ErrNoPIN means a token's PIN was not given and could not be asked for.
var ErrNoPIN = pkcs11key.ErrNoPIN

// loadToken opens the key a pkcs11: URI names.
func loadToken(uri string, pw PasswordFunc) (*Signer, error) {
	u, err := pkcs11key.ParseURI(uri)
	if err != nil {
		return nil, err
	}
	k, err := pkcs11key.Open(u, askPIN(pw))
	if err != nil {
		return nil, err
	}
	pub, err := newPublicKey(k.Public())
	if err == nil {
		if _, ok := pub.key.(ed25519.PublicKey); ok {
			err = errors.New("Ed25519 keys in tokens are not supported (use ECDSA P-256)")
		}
	}
	if err != nil {
		k.Close()
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	return &Signer{token: k.Signer, closer: k, pub: pub}, nil
}

func askPIN(pw PasswordFunc) pkcs11key.AskFunc {
	if pw == nil {
		return nil
	}
	return func(what string) ([]byte, error) { return pw(Prompt{Secret: SecretPIN, For: what}) }
}

// signInToken hashes msg here and has the token sign the digest, then
// checks the signature with the public key, so that a token that returns
// something else is caught at once rather than by a verifier later.
func (s *Signer) signInToken(msg io.Reader) ([]byte, error) {
	h := sha256.New()
	if _, err := io.Copy(h, msg); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	digest := h.Sum(nil)
	sig, err := s.token.Sign(rand.Reader, digest, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign in token: %w", err)
	}
	ok := false
	switch k := s.pub.key.(type) {
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(k, digest, sig)
	case *rsa.PublicKey:
		ok = rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, sig) == nil
	}
	if !ok {
		return nil, errors.New("sign in token: the token's signature does not verify with its public key")
	}
	return sig, nil
}

// GenerateInToken creates an ECDSA P-256 key pair in the PKCS#11 token the
// URI names and returns the public key in PEM; the private key never leaves
// the token.
func GenerateInToken(uri string, pw PasswordFunc) (pubPEM []byte, err error) {
	u, err := pkcs11key.ParseURI(uri)
	if err != nil {
		return nil, err
	}
	pub, err := pkcs11key.Generate(u, askPIN(pw))
	if err != nil {
		return nil, err
	}
	return cryptoutils.MarshalPublicKeyToPEM(pub)
}

// InToken reports whether the private key is held in a PKCS#11 token.
func (s *Signer) InToken() bool { return s.token != nil }
