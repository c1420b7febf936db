package zone

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"filippo.io/age"

	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/names"
)

// Files that Init writes.
const (
	ZoneIdentityFile  = "zone.agekey"
	ZoneRecipientFile = "zone.recipient"
	ReceiptKeyFile    = "receipt.key"
	ReceiptPubFile    = "receipt.pub"
	TrustFile         = "trust.yaml"
	KeysDir           = "keys"
)

// InitOptions configures Init.
type InitOptions struct {
	Dir         string   // zone directory to create or fill (must not hold a trust.yaml)
	Zone        string   // zone name, e.g. pci-east
	ReleaseKeys []string // public key files of the release role
	ApproveKeys []string // public key files of the approve role (optional)
	StateDir    string   // default <Dir>/state
	PostQuantum bool     // make a hybrid ML-KEM-768 + X25519 age identity
	// Record says who creates the zone, for its genesis record.
	Record RecordOptions
}

// Created is what Init made.
type Created struct {
	Trust      string // path of trust.yaml
	Recipient  string // age recipient to encrypt bundles to
	ReceiptPub string // receipt public key file, for auditors
	Genesis    string // the genesis record: the first receipt of the chain
}

// Init creates a zone directory: an age identity and its recipient, a
// receipt signing key pair, copies of the trusted public keys, a
// trust.yaml that references them by relative path, complete as written,
// and the zone's genesis record — the first entry of its receipt chain,
// recording the policy. Secret files are created 0600 and never
// overwritten.
func Init(o InitOptions) (*Created, error) {
	if !names.Valid(o.Zone) {
		return nil, fmt.Errorf("zone %q: want a name such as pci-east (%s)", o.Zone, names.Want)
	}
	if len(o.ReleaseKeys) == 0 {
		return nil, errors.New("zone init: at least one release key is required")
	}
	if _, err := os.Stat(filepath.Join(o.Dir, TrustFile)); err == nil {
		return nil, fmt.Errorf("%s already exists: refusing to replace a zone's trust", filepath.Join(o.Dir, TrustFile))
	}
	// Every key once, in one role: checked before anything is written.
	seen := map[string]string{}
	releaseKeys, err := loadKeys(RoleRelease, o.ReleaseKeys, seen)
	if err != nil {
		return nil, err
	}
	approveKeys, err := loadKeys(RoleApprove, o.ApproveKeys, seen)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, KeysDir), 0o755); err != nil {
		return nil, err
	}
	release, err := copyKeys(o.Dir, RoleRelease, releaseKeys)
	if err != nil {
		return nil, err
	}
	approve, err := copyKeys(o.Dir, RoleApprove, approveKeys)
	if err != nil {
		return nil, err
	}
	recipient, err := writeIdentity(o.Dir, o.PostQuantum)
	if err != nil {
		return nil, err
	}
	priv, pub, err := keys.Generate(nil)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteNew(filepath.Join(o.Dir, ReceiptKeyFile), priv, 0o600); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteNew(filepath.Join(o.Dir, ReceiptPubFile), pub, 0o644); err != nil {
		return nil, err
	}
	state := o.StateDir
	if state == "" {
		state = "state"
	}
	doc := &Document{
		APIVersion: APIVersion,
		Zone:       o.Zone,
		Roles:      map[string]RoleKeys{RoleRelease: {Threshold: 1, Keys: KeyPaths(release)}},
		Identities: []string{ZoneIdentityFile},
		Receipts:   Receipts{Key: ReceiptKeyFile, PublicKey: ReceiptPubFile},
		State:      state,
	}
	if len(approve) > 0 {
		doc.Roles[RoleApprove] = RoleKeys{Threshold: 1, Keys: KeyPaths(approve)}
	}
	trust, err := doc.Marshal()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(o.Dir, TrustFile)
	t, err := parse(path, trust)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	signer, err := keys.ParsePrivate(priv, nil)
	if err != nil {
		return nil, err
	}
	genesis, err := writeGenesis(t, signer, o.Record)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteNew(path, trust, 0o644); err != nil {
		os.Remove(genesis)
		return nil, err
	}
	return &Created{Trust: path, Recipient: recipient, ReceiptPub: filepath.Join(o.Dir, ReceiptPubFile), Genesis: genesis}, nil
}

// loadKeys reads the public keys of a role. A key given twice, in this
// role or another (seen: key ID → role), is refused: each key counts once,
// and a release and an approval must come from different keys.
func loadKeys(role string, paths []string, seen map[string]string) ([]*keys.PublicKey, error) {
	var out []*keys.PublicKey
	for _, p := range paths {
		k, err := keys.LoadPublic(p)
		if err != nil {
			return nil, err
		}
		switch other, dup := seen[k.ID()]; {
		case dup && other == role:
			return nil, fmt.Errorf("%s: the same key is given twice", p)
		case dup:
			return nil, fmt.Errorf("%s: key %s is given for two roles, %s and %s: a release and its approval must come from different keys", p, k.ID(), other, role)
		}
		seen[k.ID()] = role
		out = append(out, k)
	}
	return out, nil
}

// copyKeys copies public keys to keys/<role>-N.pub.
func copyKeys(dir, role string, ks []*keys.PublicKey) ([]string, error) {
	var rel []string
	for i, k := range ks {
		name := filepath.ToSlash(filepath.Join(KeysDir, fmt.Sprintf("%s-%d.pub", role, i+1)))
		if err := atomicfile.WriteFile(filepath.Join(dir, filepath.FromSlash(name)), k.PEM(), 0o644); err != nil {
			return nil, err
		}
		rel = append(rel, name)
	}
	return rel, nil
}

func writeIdentity(dir string, pq bool) (string, error) {
	var secret, recipient string
	if pq {
		id, err := age.GenerateHybridIdentity()
		if err != nil {
			return "", err
		}
		secret, recipient = id.String(), id.Recipient().String()
	} else {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			return "", err
		}
		secret, recipient = id.String(), id.Recipient().String()
	}
	content := "# airlock zone identity: decrypts bundles for this zone. Keep it secret.\n# recipient: " + recipient + "\n" + secret + "\n"
	if err := atomicfile.WriteNew(filepath.Join(dir, ZoneIdentityFile), []byte(content), 0o600); err != nil {
		return "", err
	}
	if err := atomicfile.WriteNew(filepath.Join(dir, ZoneRecipientFile), []byte(recipient+"\n"), 0o644); err != nil {
		return "", err
	}
	return recipient, nil
}
