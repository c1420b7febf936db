//go:build !cgo

package pkcs11key

import "crypto"

// Supported reports whether this build can use PKCS#11 tokens.
const Supported = false

// Key is a private key held in a token; a build without cgo has none.
type Key struct {
	crypto.Signer
}

// Close does nothing.
func (k *Key) Close() error { return nil }

// Open returns ErrUnsupported: this build has no PKCS#11 support.
func Open(u *URI, ask AskFunc) (*Key, error) { return nil, ErrUnsupported }

// Generate returns ErrUnsupported: this build has no PKCS#11 support.
func Generate(u *URI, ask AskFunc) (crypto.PublicKey, error) { return nil, ErrUnsupported }
