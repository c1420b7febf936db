// Package zone owns a zone's configuration on disk: it reads, validates and
// writes trust.yaml (the zone's trust policy), and creates a zone directory
// for `airlock zone init`. Package verify gets the parsed [Policy]; package
// apply gets the whole [Trust].
package zone

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

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
// and how many distinct keys each role needs; which operators may co-sign
// receipts, and whether they must.
type Policy struct {
	Zone string // "" skips the target check (quick --key form)
	Host string // host name matched against host: targets
	// HostRoles are the host's roles, matched against role: targets and
	// choosing byRole variable values (sorted).
	HostRoles []string
	Roles     []Role
	// Operators are keys that may co-sign receipts (apply --operator-key).
	Operators []*keys.PublicKey
	// RequireOperatorSignature refuses an apply without a co-signature.
	RequireOperatorSignature bool
	// RequireTwoPersonForWeakening makes a policy commit that weakens the
	// policy need two operators' co-signatures.
	RequireTwoPersonForWeakening bool
	// Names are the persons trust.yaml names for keys, by key ID.
	Names map[string]string
	// Applications are the release names trust.yaml lists under
	// applications (sorted): when there are any, only these may be
	// applied here (the target check). nil: any release may.
	Applications []string
}

// Role is a set of keys and a threshold of distinct keys.
type Role struct {
	Name      string
	Threshold int
	Keys      []*keys.PublicKey
}

// NameOf returns the person trust.yaml names for a key, or "".
func (p *Policy) NameOf(k *keys.PublicKey) string { return p.Names[k.ID()] }

// Operator returns the operator key of the policy equal to k, or nil.
func (p *Policy) Operator(k *keys.PublicKey) *keys.PublicKey {
	for _, o := range p.Operators {
		if o.Equal(k) {
			return o
		}
	}
	return nil
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
	// Variables override bundle variable values in this zone: literals,
	// or files kept in the zone (FromFile, absolute), read only by Read.
	Variables map[string]Value
	// Auditors are age recipients for the full, masked step logs.
	Auditors []string
	// SHA256 is the digest of trust.yaml's bytes as read.
	SHA256 string
	// Host is the host as trust.yaml gives it: "" when the policy takes the
	// OS host name (Policy.Host is then that name).
	Host string
	// ReceiptKeyID is the id of the receipt public key, read with
	// trust.yaml ("" when it names none).
	ReceiptKeyID string
	// Applications are the applications trust.yaml lists, by release
	// name: the directories each may deploy into and its own values.
	Applications map[string]*Application
	// Registry is the zone's container registry (nil: none).
	Registry *Registry
}

// Document is trust.yaml as written: paths as given, relative to the file.
// Fields decode strictly: an unknown key is an error.
type Document struct {
	APIVersion string `yaml:"apiVersion"`
	Zone       string `yaml:"zone"`
	Host       string `yaml:"host,omitempty"`
	// HostRoles are the roles of this host in its zone (web, db, …):
	// bundles target them as role:NAME, and variables take values byRole.
	// Not to be confused with Roles, the signing roles.
	HostRoles []string            `yaml:"hostRoles,omitempty"`
	Roles     map[string]RoleKeys `yaml:"roles"`
	// Operators are the keys that may co-sign receipts, each with the name
	// of its person (required).
	Operators []KeyRef `yaml:"operators,omitempty"`
	// RequireOperatorSignature refuses applies without an operator's
	// co-signature.
	RequireOperatorSignature bool `yaml:"requireOperatorSignature,omitempty"`
	// RequireTwoPersonForWeakening makes a policy commit that weakens the
	// policy need two operators' co-signatures (zone commit-policy
	// --operator-key and --witness-key).
	RequireTwoPersonForWeakening bool             `yaml:"requireTwoPersonForWeakening,omitempty"`
	Identities                   []string         `yaml:"identities"`
	Receipts                     Receipts         `yaml:"receipts"`
	State                        string           `yaml:"state"`
	Variables                    map[string]Value `yaml:"variables,omitempty"`
	// Applications are the applications of the zone by release name: the
	// directories each may deploy into, and its own variable values
	// (more specific than the zone-wide Variables).
	Applications map[string]ApplicationDoc `yaml:"applications,omitempty"`
	Auditors     []string                  `yaml:"auditors,omitempty"`
	// Registry is the zone's container registry, where push steps push.
	Registry *RegistryDoc `yaml:"registry,omitempty"`
}

// RoleKeys is a role's threshold and key files in trust.yaml.
type RoleKeys struct {
	Threshold int      `yaml:"threshold"`
	Keys      []KeyRef `yaml:"keys"`
}

// KeyRef is a public key file in trust.yaml and, optionally, the person it
// belongs to. It is written as the path alone (keys/alice.pub) or as a
// mapping ({path: keys/alice.pub, name: Alice Roe}).
type KeyRef struct {
	Path string
	Name string
}

// maxKeyNameLength caps the name of a key's person, in bytes.
const maxKeyNameLength = 200

// UnmarshalYAML reads a path or a {path, name} mapping, strictly.
func (k *KeyRef) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Decode(&k.Path)
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			var dst *string
			switch key.Value {
			case "path":
				dst = &k.Path
			case "name":
				dst = &k.Name
			default:
				return fmt.Errorf("line %d: key entry: field %s not found (want path and name)", key.Line, key.Value)
			}
			if err := val.Decode(dst); err != nil {
				return err
			}
		}
		switch {
		case k.Path == "":
			return fmt.Errorf("line %d: key entry without a path", n.Line)
		case len(k.Name) > maxKeyNameLength || strings.ContainsFunc(k.Name, unicode.IsControl):
			return fmt.Errorf("line %d: key name: at most %d bytes, no control characters", n.Line, maxKeyNameLength)
		}
		return nil
	}
	return fmt.Errorf("line %d: a key is a path or a mapping {path: …, name: …}", n.Line)
}

// MarshalYAML writes the path alone when the key has no name.
func (k KeyRef) MarshalYAML() (any, error) {
	if k.Name == "" {
		return k.Path, nil
	}
	return struct {
		Path string `yaml:"path"`
		Name string `yaml:"name"`
	}{k.Path, k.Name}, nil
}

// KeyPaths makes unnamed key entries of paths.
func KeyPaths(paths []string) []KeyRef {
	out := make([]KeyRef, len(paths))
	for i, p := range paths {
		out[i] = KeyRef{Path: p}
	}
	return out
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
	if err := CheckHostRoles(d.HostRoles); err != nil {
		return nil, fmt.Errorf("hostRoles: %w", err)
	}
	if d.State == "" {
		return nil, errors.New("state: no state directory")
	}
	if err := d.checkApplications(); err != nil {
		return nil, err
	}
	if d.Registry != nil {
		if err := d.Registry.check(); err != nil {
			return nil, err
		}
	}
	return &d, nil
}

// MaxHostRoles caps the roles of one host.
const MaxHostRoles = 64

// CheckHostRoles checks a host's roles: valid names, each once.
func CheckHostRoles(roles []string) error {
	if len(roles) > MaxHostRoles {
		return fmt.Errorf("%d roles, at most %d", len(roles), MaxHostRoles)
	}
	seen := map[string]bool{}
	for _, r := range roles {
		switch {
		case !names.Valid(r):
			return fmt.Errorf("role %q: want a name like web (%s)", r, names.Want)
		case seen[r]:
			return fmt.Errorf("role %s is listed twice", r)
		}
		seen[r] = true
	}
	return nil
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
	sum := sha256.Sum256(data)
	t := &Trust{File: path, Policy: pol, ReceiptKey: receiptKey, ReceiptPub: abs(d.Receipts.PublicKey),
		StateDir: abs(d.State), Auditors: d.Auditors, SHA256: hex.EncodeToString(sum[:]),
		Host: strings.ToLower(d.Host)}
	if len(d.Variables) > 0 {
		t.Variables = make(map[string]Value, len(d.Variables))
		for name, v := range d.Variables {
			t.Variables[name] = v.Resolve(dir)
		}
	}
	t.Applications = d.applications(dir)
	if d.Registry != nil {
		t.Registry = d.Registry.resolve(dir)
	}
	for name := range t.Applications {
		pol.Applications = append(pol.Applications, name)
	}
	slices.Sort(pol.Applications)
	for _, id := range d.Identities {
		t.Identities = append(t.Identities, abs(id))
	}
	if t.ReceiptPub != "" {
		k, err := keys.LoadPublic(t.ReceiptPub)
		if err != nil {
			return nil, fmt.Errorf("receipts.publicKey: %w", err)
		}
		t.ReceiptKeyID = k.ID()
	}
	return t, nil
}

// policy loads the role and operator keys and checks thresholds and
// separation of duties: a key counts for one role only, and an operator's
// key is none of the signing roles' keys.
func (d *Document) policy(abs func(string) string) (*Policy, error) {
	host := d.Host
	if host == "" {
		host, _ = os.Hostname()
		// The host names the files of its receipt chain.
		if !names.Valid(strings.ToLower(host)) {
			return nil, fmt.Errorf("host: the system's host name %q is not a valid host name (%s): set host: in trust.yaml", host, names.Want)
		}
	}
	p := &Policy{Zone: d.Zone, Host: strings.ToLower(host), HostRoles: slices.Sorted(slices.Values(d.HostRoles)),
		RequireOperatorSignature: d.RequireOperatorSignature, RequireTwoPersonForWeakening: d.RequireTwoPersonForWeakening,
		Names: map[string]string{}}
	for name := range d.Roles {
		if name != RoleRelease && name != RoleApprove {
			return nil, fmt.Errorf("roles: unknown role %q (want release or approve)", name)
		}
	}
	if _, ok := d.Roles[RoleRelease]; !ok {
		return nil, errors.New("roles: the release role is required")
	}
	seen := map[string]string{}
	load := func(field, role string, kr KeyRef) (*keys.PublicKey, error) {
		k, err := keys.LoadPublic(abs(kr.Path))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		if other, dup := seen[k.ID()]; dup {
			return nil, fmt.Errorf("%s: key %s is already listed for %s (each key counts once, and roles need different keys)", field, k.ID(), other)
		}
		seen[k.ID()] = role
		if kr.Name != "" {
			p.Names[k.ID()] = kr.Name
		}
		return k, nil
	}
	for _, name := range Roles {
		rf, ok := d.Roles[name]
		if !ok {
			continue
		}
		r := Role{Name: name, Threshold: rf.Threshold}
		for _, kr := range rf.Keys {
			k, err := load("roles."+name, "role "+name, kr)
			if err != nil {
				return nil, err
			}
			r.Keys = append(r.Keys, k)
		}
		if r.Threshold < 1 || r.Threshold > len(r.Keys) {
			return nil, fmt.Errorf("roles.%s: threshold %d with %d keys (want 1 to %d)", name, r.Threshold, len(r.Keys), len(r.Keys))
		}
		p.Roles = append(p.Roles, r)
	}
	for _, kr := range d.Operators {
		if kr.Name == "" {
			return nil, fmt.Errorf("operators: %s has no name (an operator key names its person: {path: …, name: …})", kr.Path)
		}
		k, err := load("operators", "operators", kr)
		if err != nil {
			return nil, err
		}
		p.Operators = append(p.Operators, k)
	}
	if p.RequireOperatorSignature && len(p.Operators) == 0 {
		return nil, errors.New("requireOperatorSignature: true needs at least one key under operators")
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
		foot = append(foot, "variables:        # zone values for variables the bundle declares", "  LogLevel: warn",
			"  DbPassword: { fromFile: secrets/db-password }   # a secret kept in a file of the zone (chmod 600)")
	}
	if len(d.Applications) == 0 {
		foot = append(foot, "applications:     # once listed, only these releases apply here, each within its roots",
			"  payments-api:", "    roots: [/srv/payments-api]   # the directories its deploy steps may deploy into",
			"    variables: { InstallRoot: /srv/payments-api }   # its own values, more specific than variables:")
	}
	if len(d.Auditors) == 0 {
		foot = append(foot, "auditors:         # age recipients of the full, masked step logs", "  - age1...")
	}
	if len(d.Operators) == 0 {
		foot = append(foot, "operators:        # keys that co-sign receipts (apply --operator-key), with their person",
			"  - { path: keys/alice-operator.pub, name: Alice Roe }",
			"requireOperatorSignature: true   # refuse applies without an operator's co-signature")
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
