//go:build cgo

package pkcs11key

import (
	"crypto"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"
)

// Supported reports whether this build can use PKCS#11 tokens.
const Supported = true

// Key is a private key held in a token, with the session that reaches it.
type Key struct {
	crypto.Signer
	ctx *crypto11.Context
}

// Close logs out and unloads the module when no other key uses it.
func (k *Key) Close() error { return k.ctx.Close() }

// Open logs in to the URI's token and finds the one key pair it names.
func Open(u *URI, ask AskFunc) (*Key, error) {
	ctx, err := configure(u, ask)
	if err != nil {
		return nil, err
	}
	found, err := ctx.FindKeyPairs(u.ID, label(u))
	if err != nil {
		ctx.Close()
		return nil, fmt.Errorf("%s: find key: %w", u, err)
	}
	switch len(found) {
	case 0:
		ctx.Close()
		return nil, fmt.Errorf("%s: the token holds no key pair named so", u.Describe())
	case 1:
		return &Key{Signer: found[0], ctx: ctx}, nil
	}
	ctx.Close()
	return nil, fmt.Errorf("%s: the token holds %d key pairs named so: add id= to the URI", u.Describe(), len(found))
}

// Generate creates an ECDSA P-256 key pair in the token, labelled with the
// URI's object (and its id, else a random one), and returns the public key.
// It refuses to add a key under a label or id that is already used.
func Generate(u *URI, ask AskFunc) (crypto.PublicKey, error) {
	if u.Object == "" {
		return nil, fmt.Errorf("%s: give the new key a label with object=", u)
	}
	ctx, err := configure(u, ask)
	if err != nil {
		return nil, err
	}
	defer ctx.Close()
	for _, probe := range []struct{ id, label []byte }{{nil, label(u)}, {u.ID, nil}} {
		if probe.id == nil && probe.label == nil {
			continue
		}
		found, err := ctx.FindKeyPairs(probe.id, probe.label)
		if err != nil {
			return nil, fmt.Errorf("%s: find key: %w", u, err)
		}
		if len(found) > 0 {
			return nil, fmt.Errorf("%s: the token already holds a key named so: refusing to add another", u.Describe())
		}
	}
	id := u.ID
	if id == nil {
		id = make([]byte, 16)
		if _, err := rand.Read(id); err != nil {
			return nil, err
		}
	}
	k, err := ctx.GenerateECDSAKeyPairWithLabel(id, label(u), elliptic.P256())
	if err != nil {
		return nil, fmt.Errorf("%s: generate an ECDSA P-256 key pair: %w", u.Describe(), err)
	}
	return k.Public(), nil
}

func label(u *URI) []byte {
	if u.Object == "" {
		return nil
	}
	return []byte(u.Object)
}

// configure loads the module and logs in to the token.
func configure(u *URI, ask AskFunc) (*crypto11.Context, error) {
	module, err := u.module()
	if err != nil {
		return nil, err
	}
	pin, err := u.pin(ask)
	if err != nil {
		return nil, err
	}
	cfg := &crypto11.Config{Path: module, TokenLabel: u.Token, TokenSerial: u.Serial, SlotNumber: u.Slot, Pin: pin}
	ctx, err := crypto11.Configure(cfg)
	var p11 pkcs11.Error
	switch {
	case errors.As(err, &p11) && (p11 == pkcs11.CKR_PIN_INCORRECT || p11 == pkcs11.CKR_PIN_LEN_RANGE):
		return nil, fmt.Errorf("%s: %w", u.Describe(), ErrWrongPIN)
	case errors.As(err, &p11) && p11 == pkcs11.CKR_PIN_LOCKED:
		return nil, fmt.Errorf("%s: the PIN is locked after too many wrong tries", u.Describe())
	case err != nil:
		return nil, fmt.Errorf("%s: open token with module %s: %w", u, module, err)
	}
	return ctx, nil
}
