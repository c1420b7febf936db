// Package zone owns a zone's configuration on disk: it reads, validates and
// writes trust.yaml (the zone's trust policy), and creates a zone directory
// for `airlock zone init`. Package verify gets the parsed [Policy]; package
// apply gets the whole [Trust].
package zone

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/names"
	"airlock.dev/airlock/internal/pkcs11key"
)

// Role names.
const (
	RoleRelease = "release"
	RoleApprove = "approve"
)

// Roles lists the roles a policy may have, in order.
var Roles = []string{RoleRelease, RoleApprove}

const (
	// APIVersion is the trust.yaml format this code reads and writes.
	APIVersion = "airlock/v1"
	// MaxTrustSize caps trust.yaml before it is parsed.
	MaxTrustSize = 1 << 20
)

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

// Keys lists every key of the policy once.
func (p *Policy) Keys() []*keys.PublicKey {
	var out []*keys.PublicKey
	for _, r := range p.Roles {
		out = append(out, r.Keys...)
	}
	return out
}

// RoleOf returns the role a key belongs to, or "".
func (p *Policy) RoleOf(k *keys.PublicKey) string {
	for _, r := range p.Roles {
		for _, rk := range r.Keys {
			if rk.Equal(k) {
				return r.Name
			}
		}
	}
	return ""
}

// Trust is a zone's trust.yaml, parsed and checked, with every path made
// absolute.
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

// Document is trust.yaml as written: paths as given, relative to the file.
// Fields decode strictly: an unknown key is an error.
type Document struct {
	APIVersion string              `yaml:"apiVersion"`
	Zone       string              `yaml:"zone"`
	Host       string              `yaml:"host,omitempty"`
	Roles      map[string]RoleKeys `yaml:"roles"`
	Identities []string            `yaml:"identities"`
	Receipts   Receipts            `yaml:"receipts"`
	State      string              `yaml:"state"`
	Variables  map[string]string   `yaml:"variables,omitempty"`
	Auditors   []string            `yaml:"auditors,omitempty"`
}

// RoleKeys is a role's threshold and key files in trust.yaml.
type RoleKeys struct {
	Threshold int      `yaml:"threshold"`
	Keys      []string `yaml:"keys"`
}

// Receipts names the receipt signing key files in trust.yaml.
type Receipts struct {
	Key       string `yaml:"key"`
	PublicKey string `yaml:"publicKey"`
}

// Load reads trust.yaml; relative paths in it are relative to its folder.
func Load(path string) (*Trust, error) {
	data, err := capped.ReadFile(path, MaxTrustSize)
	if err != nil {
		return nil, err
	}
	t, err := parse(path, data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ParseDocument decodes trust.yaml strictly, without touching the file
// system: one document, known keys only, a known apiVersion and a valid
// zone name.
func ParseDocument(data []byte) (*Document, error) {
	var d Document
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&d); err != nil {
		return nil, err
	}
	if d.APIVersion != APIVersion {
		return nil, fmt.Errorf("apiVersion %q, want %s", d.APIVersion, APIVersion)
	}
	if !names.Valid(d.Zone) {
		return nil, fmt.Errorf("zone %q: want a name like pci-east (%s)", d.Zone, names.Want)
	}
	if d.Host != "" && !names.Valid(strings.ToLower(d.Host)) {
		return nil, fmt.Errorf("host %q: want a host name (%s)", d.Host, names.Want)
	}
	if d.State == "" {
		return nil, errors.New("state: no state directory")
	}
	return &d, nil
}

func parse(path string, data []byte) (*Trust, error) {
	d, err := ParseDocument(data)
	if err != nil {
		return nil, err
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
	pol, err := d.policy(abs)
	if err != nil {
		return nil, err
	}
	receiptKey := d.Receipts.Key
	if !pkcs11key.IsURI(receiptKey) { // a key in a token is named, not a path
		receiptKey = abs(receiptKey)
	}
	t := &Trust{File: path, Policy: pol, ReceiptKey: receiptKey, ReceiptPub: abs(d.Receipts.PublicKey),
		StateDir: abs(d.State), Variables: d.Variables, Auditors: d.Auditors}
	for _, id := range d.Identities {
		t.Identities = append(t.Identities, abs(id))
	}
	return t, nil
}

// policy loads the role keys and checks thresholds and separation of
// duties: a key counts for one role only.
func (d *Document) policy(abs func(string) string) (*Policy, error) {
	host := d.Host
	if host == "" {
		host, _ = os.Hostname()
	}
	p := &Policy{Zone: d.Zone, Host: strings.ToLower(host)}
	for name := range d.Roles {
		if name != RoleRelease && name != RoleApprove {
			return nil, fmt.Errorf("roles: unknown role %q (want release or approve)", name)
		}
	}
	if _, ok := d.Roles[RoleRelease]; !ok {
		return nil, errors.New("roles: the release role is required")
	}
	seen := map[string]string{}
	for _, name := range Roles {
		rf, ok := d.Roles[name]
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
	return p, nil
}

// Marshal writes d as trust.yaml, with a header comment and commented-out
// examples of the optional settings it does not use.
func (d *Document) Marshal() ([]byte, error) {
	var n yaml.Node
	if err := n.Encode(d); err != nil {
		return nil, fmt.Errorf("encode trust.yaml: %w", err)
	}
	orderRoles(&n)
	n.HeadComment = "airlock trust policy for zone " + d.Zone + ". Paths are relative to this file."
	var foot []string
	if len(d.Variables) == 0 {
		foot = append(foot, "variables:        # zone values for variables the bundle declares", "  LogLevel: warn")
	}
	if len(d.Auditors) == 0 {
		foot = append(foot, "auditors:         # age recipients of the full, masked step logs", "  - age1...")
	}
	n.FootComment = strings.Join(foot, "\n")
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, fmt.Errorf("encode trust.yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// orderRoles lists the roles of an encoded Document in the order of Roles
// rather than by name.
func orderRoles(doc *yaml.Node) {
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value != "roles" {
			continue
		}
		m := doc.Content[i+1]
		var out []*yaml.Node
		for _, name := range Roles {
			for j := 0; j+1 < len(m.Content); j += 2 {
				if m.Content[j].Value == name {
					out = append(out, m.Content[j], m.Content[j+1])
				}
			}
		}
		m.Content = out
	}
}
