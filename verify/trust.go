package verify

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/pkcs11key"
)

// Role names.
const (
	RoleRelease = "release"
	RoleApprove = "approve"
)

// maxTrustSize caps trust.yaml.
const maxTrustSize = 1 << 20

var zoneRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// Policy is what a zone trusts: which keys may sign bundles in which role,
// and how many distinct keys each role needs.
type Policy struct {
	Zone  string // "" skips the target check (quick --key form)
	Host  string // host name matched against host: targets
	Roles []Role
}

// Role is a set of keys and a threshold of distinct keys.
type Role struct {
	Name      string
	Threshold int
	Keys      []*keys.PublicKey
}

// KeysPolicy is the quick form: the keys form the release role, threshold 1,
// and no zone is checked.
func KeysPolicy(ks []*keys.PublicKey) *Policy {
	return &Policy{Roles: []Role{{Name: RoleRelease, Threshold: 1, Keys: ks}}}
}

// Trust is a zone's trust.yaml.
type Trust struct {
	File   string // path of trust.yaml
	Policy *Policy
	// Identities are age identity files (absolute paths).
	Identities []string
	// ReceiptKey is the receipt signing key file or pkcs11: URI; ReceiptPub its public key.
	ReceiptKey string
	ReceiptPub string
	// StateDir is the zone's state directory (absolute).
	StateDir string
	// Variables override bundle variable values in this zone.
	Variables map[string]string
	// Auditors are age recipients for the full, masked step logs.
	Auditors []string
}

type trustFile struct {
	APIVersion string              `yaml:"apiVersion"`
	Zone       string              `yaml:"zone"`
	Host       string              `yaml:"host"`
	Roles      map[string]roleFile `yaml:"roles"`
	Identities []string            `yaml:"identities"`
	Receipts   struct {
		Key       string `yaml:"key"`
		PublicKey string `yaml:"publicKey"`
	} `yaml:"receipts"`
	State     string            `yaml:"state"`
	Variables map[string]string `yaml:"variables"`
	Auditors  []string          `yaml:"auditors"`
}

type roleFile struct {
	Threshold int      `yaml:"threshold"`
	Keys      []string `yaml:"keys"`
}

// LoadTrust reads trust.yaml; relative paths in it are relative to its folder.
func LoadTrust(path string) (*Trust, error) {
	data, err := capped.ReadFile(path, maxTrustSize)
	if err != nil {
		return nil, err
	}
	t, err := parseTrust(path, data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

func parseTrust(path string, data []byte) (*Trust, error) {
	var tf trustFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&tf); err != nil {
		return nil, err
	}
	if tf.APIVersion != "airlock/v1" {
		return nil, fmt.Errorf("apiVersion %q, want airlock/v1", tf.APIVersion)
	}
	if !zoneRE.MatchString(tf.Zone) {
		return nil, fmt.Errorf("zone %q: want a name like pci-east", tf.Zone)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	pol, err := tf.policy(abs)
	if err != nil {
		return nil, err
	}
	receiptKey := tf.Receipts.Key
	if !pkcs11key.IsURI(receiptKey) { // a key in a token is named, not a path
		receiptKey = abs(receiptKey)
	}
	t := &Trust{File: path, Policy: pol, ReceiptKey: receiptKey, ReceiptPub: abs(tf.Receipts.PublicKey),
		StateDir: abs(tf.State), Variables: tf.Variables, Auditors: tf.Auditors}
	for _, id := range tf.Identities {
		t.Identities = append(t.Identities, abs(id))
	}
	if t.StateDir == "" {
		return nil, errors.New("state: no state directory")
	}
	return t, nil
}

func (tf *trustFile) policy(abs func(string) string) (*Policy, error) {
	host := tf.Host
	if host == "" {
		host, _ = os.Hostname()
	}
	p := &Policy{Zone: tf.Zone, Host: strings.ToLower(host)}
	if len(tf.Roles) == 0 {
		return nil, errors.New("roles: at least the release role is required")
	}
	seen := map[string]string{}
	for _, name := range []string{RoleRelease, RoleApprove} {
		rf, ok := tf.Roles[name]
		if !ok {
			continue
		}
		r := Role{Name: name, Threshold: rf.Threshold}
		for _, kp := range rf.Keys {
			k, err := keys.LoadPublic(abs(kp))
			if err != nil {
				return nil, fmt.Errorf("roles.%s: %w", name, err)
			}
			if other, dup := seen[k.ID()]; dup {
				return nil, fmt.Errorf("roles.%s: key %s is already listed for role %s (each key counts once, and roles need different keys)", name, k.ID(), other)
			}
			seen[k.ID()] = name
			r.Keys = append(r.Keys, k)
		}
		if r.Threshold < 1 || r.Threshold > len(r.Keys) {
			return nil, fmt.Errorf("roles.%s: threshold %d with %d keys (want 1 to %d)", name, r.Threshold, len(r.Keys), len(r.Keys))
		}
		p.Roles = append(p.Roles, r)
	}
	for name := range tf.Roles {
		if name != RoleRelease && name != RoleApprove {
			return nil, fmt.Errorf("roles: unknown role %q (want release or approve)", name)
		}
	}
	if _, ok := tf.Roles[RoleRelease]; !ok {
		return nil, errors.New("roles: the release role is required")
	}
	return p, nil
}

// allKeys lists every key of the policy once.
func (p *Policy) allKeys() []*keys.PublicKey {
	var out []*keys.PublicKey
	for _, r := range p.Roles {
		out = append(out, r.Keys...)
	}
	return out
}

// roleOf returns the role a key belongs to.
func (p *Policy) roleOf(k *keys.PublicKey) string {
	for _, r := range p.Roles {
		for _, rk := range r.Keys {
			if rk.Equal(k) {
				return r.Name
			}
		}
	}
	return ""
}
