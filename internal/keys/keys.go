// Package keys loads and generates the signing keys airlock uses: ECDSA P-256
// by default, stored in the cosign-compatible "ENCRYPTED SIGSTORE PRIVATE KEY"
// PEM format so that cosign can check airlock signatures and cosign-made keys
// work as airlock keys. Ed25519 and RSA (≥ 2048 bits) keys are read too.
//
// A key is named by its ID: "SHA256:" followed by the unpadded base64 SHA-256
// of its SSH wire encoding, the same fingerprint sigstore and cosign put in a
// DSSE signature's keyid. An ID is a hint for humans and for lookup, never a
// proof: signatures are always checked against the key itself.
package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/crypto/ssh"

	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/internal/pkcs11key"
)

// MaxKeyFileSize bounds how much of a key file is read.
const MaxKeyFileSize = 64 << 10

var (
	// ErrWrongPassword means an encrypted private key did not open with the password given.
	ErrWrongPassword = errors.New("wrong password for private key")
	// ErrNoPassword means a private key is encrypted and no password source was available.
	ErrNoPassword = errors.New("private key is encrypted and no password was given (give --password-file, set AIRLOCK_PASSWORD, or run in a terminal)")
)

// The secrets a PasswordFunc is asked for.
const (
	SecretPassword   = "password"   // of an encrypted private key file
	SecretPIN        = "PIN"        // of a PKCS#11 token
	SecretPassphrase = "passphrase" // of an age-encrypted identity file
)

// Prompt names the secret a PasswordFunc is asked for, so that a person
// asked knows which key it unlocks.
type Prompt struct {
	Secret  string // SecretPassword, SecretPIN or SecretPassphrase
	For     string // what it unlocks: a key file, a token and key, an identity file
	Confirm bool   // a new secret: ask twice
}

// PasswordFunc returns the secret p asks for.
type PasswordFunc func(p Prompt) ([]byte, error)

// PublicKey is a verification key with its ID.
type PublicKey struct {
	key crypto.PublicKey
	id  string
	v   signature.Verifier
}

// Signer is a private signing key.
type Signer struct {
	priv   crypto.PrivateKey
	sv     signature.SignerVerifier
	pub    *PublicKey
	token  crypto.Signer // a key held in a PKCS#11 token (priv and sv are nil)
	closer io.Closer     // its session
}

// Generate makes a new ECDSA P-256 key pair. With a nil password the private
// key is written as plain PKCS#8 ("PRIVATE KEY"); otherwise it is encrypted
// (scrypt + secretbox) exactly as `cosign generate-key-pair` does.
func Generate(password []byte) (privPEM, pubPEM []byte, err error) {
	var pf cryptoutils.PassFunc
	if password != nil {
		pf = cryptoutils.StaticPasswordFunc(password)
	}
	privPEM, pubPEM, err = cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), pf)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	return privPEM, pubPEM, nil
}

// ParsePublic reads a PEM "PUBLIC KEY".
func ParsePublic(pemBytes []byte) (*PublicKey, error) {
	if len(pemBytes) > MaxKeyFileSize {
		return nil, fmt.Errorf("public key: larger than %d bytes", MaxKeyFileSize)
	}
	k, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	return newPublicKey(k)
}

// LoadPublic reads a PEM public key file.
func LoadPublic(path string) (*PublicKey, error) {
	b, err := capped.ReadFile(path, MaxKeyFileSize)
	if err != nil {
		return nil, err
	}
	k, err := ParsePublic(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ParsePrivate reads a PEM private key, asking pw for the password when the
// key is encrypted. pw may be nil for unencrypted keys.
func ParsePrivate(pemBytes []byte, pw PasswordFunc) (*Signer, error) {
	return parsePrivate(pemBytes, "private key", pw)
}

func parsePrivate(pemBytes []byte, name string, pw PasswordFunc) (*Signer, error) {
	if len(pemBytes) > MaxKeyFileSize {
		return nil, fmt.Errorf("private key: larger than %d bytes", MaxKeyFileSize)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("private key: no PEM block found")
	}
	var pf cryptoutils.PassFunc
	var askErr error
	switch block.Type {
	case string(cryptoutils.EncryptedSigstorePrivateKeyPEMType), "ENCRYPTED COSIGN PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
		if pw == nil {
			return nil, ErrNoPassword
		}
		pf = func(confirm bool) ([]byte, error) {
			b, err := pw(Prompt{Secret: SecretPassword, For: name, Confirm: confirm})
			askErr = err
			return b, err
		}
	case string(cryptoutils.PrivateKeyPEMType), string(cryptoutils.ECPrivateKeyPEMType), string(cryptoutils.PKCS1PrivateKeyPEMType):
		pf = cryptoutils.SkipPassword
	default:
		return nil, fmt.Errorf("private key: unsupported PEM type %q", block.Type)
	}
	encrypted := block.Type != string(cryptoutils.PrivateKeyPEMType)
	if encrypted {
		// An encrypted key's scrypt needs a 64 MiB work area (cosign's
		// parameters). Collect what is garbage first, so that it does not
		// add to the 64 MiB, and the work area right after, so that the heap
		// does not stay sized for it and what the caller allocates next (a
		// build's buffers) reuses it.
		runtime.GC()
		defer runtime.GC()
	}
	priv, err := cryptoutils.UnmarshalPEMToPrivateKey(pemBytes, pf)
	if askErr != nil {
		return nil, askErr // no password: the asker's error says how to give one
	}
	if err != nil {
		if pf != nil && block.Type != string(cryptoutils.PrivateKeyPEMType) && bytes.Contains([]byte(err.Error()), []byte("decryption failed")) {
			return nil, ErrWrongPassword
		}
		return nil, fmt.Errorf("private key: %w", err)
	}
	return NewSigner(priv)
}

// LoadPrivate reads a PEM private key file, or opens the key in a PKCS#11
// token that a pkcs11: URI names (see package pkcs11key); pw is asked for
// a file's password or a token's PIN. Close the signer when done.
func LoadPrivate(path string, pw PasswordFunc) (*Signer, error) {
	if pkcs11key.IsURI(path) {
		return loadToken(path, pw)
	}
	b, err := capped.ReadFile(path, MaxKeyFileSize)
	if err != nil {
		return nil, err
	}
	s, err := parsePrivate(b, path, pw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// NewSigner wraps a private key of a supported type.
func NewSigner(priv crypto.PrivateKey) (*Signer, error) {
	var pubKey crypto.PublicKey
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		pubKey = k.Public()
	case ed25519.PrivateKey:
		pubKey = k.Public()
	case *rsa.PrivateKey:
		pubKey = k.Public()
	default:
		return nil, fmt.Errorf("private key: unsupported key type %T", priv)
	}
	pub, err := newPublicKey(pubKey)
	if err != nil {
		return nil, err
	}
	sv, err := signature.LoadSignerVerifier(priv, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	return &Signer{priv: priv, sv: sv, pub: pub}, nil
}

func newPublicKey(k crypto.PublicKey) (*PublicKey, error) {
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return nil, errors.New("public key: unsupported ECDSA curve")
		}
	case ed25519.PublicKey:
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("public key: RSA key of %d bits is too small (want at least 2048)", k.N.BitLen())
		}
	default:
		return nil, fmt.Errorf("public key: unsupported key type %T", k)
	}
	sshKey, err := ssh.NewPublicKey(k)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	v, err := signature.LoadVerifier(k, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	return &PublicKey{key: k, id: ssh.FingerprintSHA256(sshKey), v: v}, nil
}

// ID is the key's fingerprint, "SHA256:<base64>".
func (k *PublicKey) ID() string { return k.id }

// Key returns the crypto public key.
func (k *PublicKey) Key() crypto.PublicKey { return k.key }

// Equal reports whether both are the same key.
func (k *PublicKey) Equal(o *PublicKey) bool {
	if k == nil || o == nil {
		return false
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := k.key.(equaler)
	return ok && e.Equal(o.key)
}

// PEM returns the PKIX "PUBLIC KEY" PEM encoding.
func (k *PublicKey) PEM() []byte {
	b, err := cryptoutils.MarshalPublicKeyToPEM(k.key)
	if err != nil {
		panic("keys: marshal a validated public key: " + err.Error())
	}
	return b
}

// Verify checks sig over msg.
func (k *PublicKey) Verify(msg, sig []byte) error {
	return k.VerifyStream(bytes.NewReader(msg), sig)
}

// VerifyStream checks sig over everything read from msg (streamed into the
// hash for ECDSA and RSA).
func (k *PublicKey) VerifyStream(msg io.Reader, sig []byte) error {
	return k.v.VerifySignature(bytes.NewReader(sig), msg)
}

// Public returns the signer's public key.
func (s *Signer) Public() *PublicKey { return s.pub }

// Close releases what the key holds open (a PKCS#11 session); a key file's
// signer holds nothing. Close may be called more than once.
func (s *Signer) Close() error {
	if s.closer == nil {
		return nil
	}
	c := s.closer
	s.closer = nil
	return c.Close()
}

// Sign signs msg (SHA-256 for ECDSA and RSA, pure Ed25519).
func (s *Signer) Sign(msg []byte) ([]byte, error) {
	return s.SignStream(bytes.NewReader(msg))
}

// SignStream signs everything read from msg. ECDSA and RSA stream it into
// SHA-256; Ed25519 reads it whole.
func (s *Signer) SignStream(msg io.Reader) ([]byte, error) {
	if s.token != nil {
		return s.signInToken(msg)
	}
	sig, err := s.sv.SignMessage(msg)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return sig, nil
}

// Derive returns a 32-byte secret bound to this private key and label:
// HMAC-SHA256 keyed with SHA-256 of the key's PKCS#8 encoding. It lets a
// builder derive salts that are stable for the same key and inputs yet
// unpredictable to anyone without the key.
//
// A key held in a token cannot be read, so for it Derive returns 32 random
// bytes: as unpredictable, but different every time (see [Signer.InToken]).
func (s *Signer) Derive(label string) []byte {
	if s.token != nil {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			panic("keys: no randomness: " + err.Error())
		}
		return b
	}
	der, err := cryptoutils.MarshalPrivateKeyToDER(s.priv)
	if err != nil {
		panic("keys: marshal a validated private key: " + err.Error())
	}
	k := sha256.Sum256(der)
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte(label))
	return m.Sum(nil)
}

// LoadPublicFiles reads several PEM public key files.
func LoadPublicFiles(paths []string) ([]*PublicKey, error) {
	ks := make([]*PublicKey, 0, len(paths))
	for _, p := range paths {
		k, err := LoadPublic(p)
		if err != nil {
			return nil, err
		}
		ks = append(ks, k)
	}
	return ks, nil
}
