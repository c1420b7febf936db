// Package pkcs11key signs with private keys held in a PKCS#11 token — an
// HSM, a smart card, a USB token, SoftHSM2 — named by an RFC 7512 URI:
//
//	pkcs11:token=airlock;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so
//
// The token is named by exactly one of token (its label), serial or
// slot-id; the key by object (its label), id, or both. The PKCS#11 module
// (a shared library) comes from the URI's module-path, else from
// AIRLOCK_PKCS11_MODULE. The PIN comes from the URI's pin-value or
// pin-source (a file), else AIRLOCK_PKCS11_PIN, else the caller's prompt.
// The private key never leaves the token; signatures are ECDSA (ASN.1 DER)
// or RSA PKCS#1 v1.5 over SHA-256, the same as those of key files.
//
// Talking to a module needs cgo: a build without it (such as the release
// binaries) parses URIs but returns [ErrUnsupported] for every key.
package pkcs11key

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	pkcs11uri "github.com/stefanberger/go-pkcs11uri"

	"airlock.dev/airlock/internal/capped"
)

// Scheme prefixes every PKCS#11 URI.
const Scheme = "pkcs11:"

// Environment variables consulted when the URI does not say.
const (
	ModuleEnv = "AIRLOCK_PKCS11_MODULE" // path of the PKCS#11 module
	PINEnv    = "AIRLOCK_PKCS11_PIN"    // the token's user PIN
)

// maxPINFileSize bounds a pin-source file.
const maxPINFileSize = 4 << 10

var (
	// ErrUnsupported means this build has no PKCS#11 support (no cgo).
	ErrUnsupported = errors.New("this airlock was built without cgo and has no PKCS#11 support: " +
		"to use pkcs11: keys on linux/amd64, take the release's airlock-linux-amd64-pkcs11; " +
		"elsewhere, build airlock with a C compiler (CGO_ENABLED=1 make build)")
	// ErrNoPIN means no PIN was given and none could be asked for.
	ErrNoPIN = errors.New("no PIN was given (add pin-source=FILE to the URI, set " + PINEnv + ", or run in a terminal)")
	// ErrWrongPIN means the token refused the PIN.
	ErrWrongPIN = errors.New("wrong PIN")
)

// AskFunc asks a person for the PIN; what names the token and key.
type AskFunc func(what string) ([]byte, error)

// URI is a parsed PKCS#11 URI naming one key in one token.
type URI struct {
	Token  string // token label
	Serial string // token serial number
	Slot   *int   // slot-id
	Object string // key label
	ID     []byte // key id (CKA_ID)

	ModulePath string // module-path ("" when not given)
	pinValue   string
	pinSource  string
}

// Supported path and query attributes; any other is refused rather than
// silently ignored, since it would narrow which token or key is meant.
var (
	pathAttrs  = map[string]bool{"token": true, "serial": true, "slot-id": true, "object": true, "id": true, "type": true}
	queryAttrs = map[string]bool{"module-path": true, "pin-value": true, "pin-source": true}
)

// IsURI reports whether s names a key in a token rather than a key file.
func IsURI(s string) bool { return strings.HasPrefix(s, Scheme) }

// ParseURI parses an RFC 7512 URI that names one private key.
func ParseURI(s string) (*URI, error) {
	p := pkcs11uri.New()
	if err := p.Parse(s); err != nil {
		return nil, fmt.Errorf("pkcs11 URI: %s", strings.TrimPrefix(strings.ToLower(err.Error()), "malformed pkcs11 uri: "))
	}
	path, query, _ := strings.Cut(strings.TrimPrefix(s, Scheme), "?")
	if err := checkAttrs(path, ";", pathAttrs); err != nil {
		return nil, err
	}
	if err := checkAttrs(query, "&", queryAttrs); err != nil {
		return nil, err
	}
	get := func(name string) string { v, _ := p.GetPathAttribute(name, false); return v }
	u := &URI{Token: get("token"), Serial: get("serial"), Object: get("object"), ID: []byte(get("id"))}
	if len(u.ID) == 0 {
		u.ID = nil
	}
	if v, ok := p.GetPathAttribute("slot-id", false); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("pkcs11 URI: slot-id %q is not a number", v)
		}
		u.Slot = &n
	}
	if t := get("type"); t != "" && t != "private" {
		return nil, fmt.Errorf("pkcs11 URI: type=%s, want a private key (type=private or none)", t)
	}
	u.ModulePath, _ = p.GetQueryAttribute("module-path", false)
	u.pinValue, _ = p.GetQueryAttribute("pin-value", false)
	u.pinSource, _ = p.GetQueryAttribute("pin-source", false)

	named := 0
	for _, set := range []bool{u.Token != "", u.Serial != "", u.Slot != nil} {
		if set {
			named++
		}
	}
	if named != 1 {
		return nil, fmt.Errorf("pkcs11 URI %s: name the token by exactly one of token=LABEL, serial= or slot-id=", u)
	}
	if u.Object == "" && u.ID == nil {
		return nil, fmt.Errorf("pkcs11 URI %s: name the key by object=LABEL or id=", u)
	}
	return u, nil
}

func checkAttrs(attrs, sep string, known map[string]bool) error {
	for part := range strings.SplitSeq(attrs, sep) {
		name, _, _ := strings.Cut(part, "=")
		if part != "" && !known[name] {
			return fmt.Errorf("pkcs11 URI: attribute %q is not supported (path: token, serial, slot-id, object, id, type; query: module-path, pin-source, pin-value)", name)
		}
	}
	return nil
}

// String is the URI without pin-value, safe to print.
func (u *URI) String() string {
	var path []string
	add := func(name, v string) {
		if v != "" {
			path = append(path, name+"="+escape(v, false))
		}
	}
	add("token", u.Token)
	add("serial", u.Serial)
	if u.Slot != nil {
		path = append(path, "slot-id="+strconv.Itoa(*u.Slot))
	}
	add("object", u.Object)
	if u.ID != nil {
		path = append(path, "id="+escape(string(u.ID), false))
	}
	s := Scheme + strings.Join(path, ";")
	var q []string
	if u.ModulePath != "" {
		q = append(q, "module-path="+escape(u.ModulePath, true))
	}
	if u.pinSource != "" {
		q = append(q, "pin-source="+escape(u.pinSource, true))
	}
	if len(q) > 0 {
		s += "?" + strings.Join(q, "&")
	}
	return s
}

// escape percent-encodes what RFC 7512 does not allow in an attribute value
// (the query part also allows "/", "?" and "|").
func escape(v string, query bool) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			strings.IndexByte("-._~:[]@!$'()*+,=", c) >= 0,
			query && strings.IndexByte("/?|", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Describe names the token and key for a person: `PKCS#11 token "airlock", key "release"`.
func (u *URI) Describe() string {
	token := fmt.Sprintf("token %q", u.Token)
	switch {
	case u.Serial != "":
		token = fmt.Sprintf("token with serial %q", u.Serial)
	case u.Slot != nil:
		token = fmt.Sprintf("token in slot %d", *u.Slot)
	}
	key := fmt.Sprintf("key %q", u.Object)
	if u.Object == "" {
		key = "key with id " + hex.EncodeToString(u.ID)
	}
	return "PKCS#11 " + token + ", " + key
}

// module is the path of the PKCS#11 module to load.
func (u *URI) module() (string, error) {
	m := u.ModulePath
	if m == "" {
		m = os.Getenv(ModuleEnv)
	}
	if m == "" {
		return "", fmt.Errorf("%s: no PKCS#11 module: add module-path=/path/to/module.so to the URI or set %s", u, ModuleEnv)
	}
	if !filepath.IsAbs(m) {
		return "", fmt.Errorf("%s: PKCS#11 module %q: want an absolute path", u, m)
	}
	return m, nil
}

// pin returns the user PIN: pin-value, pin-source, AIRLOCK_PKCS11_PIN, or
// ask (nil: no prompt).
func (u *URI) pin(ask AskFunc) (string, error) {
	switch {
	case u.pinValue != "":
		return u.pinValue, nil
	case u.pinSource != "":
		path := u.pinSource
		if strings.HasPrefix(path, "file:") {
			fu, err := url.Parse(path)
			if err != nil {
				return "", fmt.Errorf("%s: pin-source: %w", u, err)
			}
			path = fu.Path
		}
		b, err := capped.ReadFile(path, maxPINFileSize)
		if err != nil {
			return "", fmt.Errorf("%s: pin-source: %w", u, err)
		}
		line, _, _ := bytes.Cut(b, []byte("\n"))
		return string(bytes.TrimSuffix(line, []byte("\r"))), nil
	}
	if v := os.Getenv(PINEnv); v != "" {
		return v, nil
	}
	if ask == nil {
		return "", fmt.Errorf("%s: %w", u.Describe(), ErrNoPIN)
	}
	b, err := ask(u.Describe())
	if err != nil {
		return "", err
	}
	return string(b), nil
}
