package zone

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"airlock.dev/airlock/internal/agekeys"
	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/names"
)

// Files of a zone of named hosts (zone init --host, zone host add).
const (
	RegisterFile   = "zone.yaml"      // the zone register: hosts, roles, receipt public keys
	RecipientsFile = "recipients.txt" // every age recipient the builder encrypts to
	HostsDir       = "hosts"          // hosts/NAME: what host NAME needs
	HostIdentity   = "host.agekey"    // a host's own age identity (--own-identity)
	HostRecipient  = "host.recipient"
)

// Identity kinds of a registered host.
const (
	IdentityZone = "zone" // the host decrypts with the zone's shared identity
	IdentityOwn  = "own"  // the host has an age identity of its own
)

const (
	// MaxRegisterSize caps zone.yaml before it is parsed.
	MaxRegisterSize = 4 << 20
	// MaxRegisteredHosts caps the hosts of one register.
	MaxRegisteredHosts = 10000
	// maxHostKeys caps the receipt keys of one host (it keeps the old
	// ones after a rotation: its older receipts are signed with them).
	maxHostKeys = 16
)

// Register is a zone's register (zone.yaml): every host of the zone, its
// roles and the public keys its receipts are signed with. It is what an
// auditor needs to audit the zone's receipts (airlock audit
// --zone-register) and what tells which hosts a bundle should reach.
// Fields decode strictly: an unknown key is an error.
type Register struct {
	APIVersion string           `yaml:"apiVersion"`
	Zone       string           `yaml:"zone"`
	Hosts      []RegisteredHost `yaml:"hosts"`

	keys []*keys.PublicKey // parsed ReceiptKeys, in host order
	host map[string]string // key id → host name
}

// RegisteredHost is one host of a zone register.
type RegisteredHost struct {
	Name  string   `yaml:"name"`
	Roles []string `yaml:"roles,omitempty"`
	// Identity is IdentityZone (it shares the zone's identity) or
	// IdentityOwn, when Recipient is its own identity's recipient.
	Identity  string `yaml:"identity"`
	Recipient string `yaml:"recipient,omitempty"`
	// ReceiptKeys are the public keys (PEM) of the host's receipt key:
	// the one it signs with now, and any it signed with before a rotation.
	ReceiptKeys []string `yaml:"receiptKeys"`
}

// ReadRegister reads zone.yaml: at most MaxRegisterSize bytes, decoded
// strictly and checked (see ParseRegister).
func ReadRegister(path string) (*Register, error) {
	data, err := capped.ReadFile(path, MaxRegisterSize)
	if err != nil {
		return nil, err
	}
	r, err := ParseRegister(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// ParseRegister decodes a zone register strictly: one document, known
// fields only, a known apiVersion, a valid zone, at least one host; hosts
// with valid, distinct names, valid roles, a known identity kind (with a
// recipient for an own identity), and receipt keys that parse and belong
// to one host only.
func ParseRegister(data []byte) (*Register, error) {
	if len(data) > MaxRegisterSize {
		return nil, fmt.Errorf("larger than %d bytes", MaxRegisterSize)
	}
	var r Register
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil {
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document")
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return &r, nil
}

func (r *Register) check() error {
	switch {
	case r.APIVersion != APIVersion:
		return fmt.Errorf("apiVersion %q, want %s", r.APIVersion, APIVersion)
	case !names.Valid(r.Zone):
		return fmt.Errorf("zone %q: want a name like pci-east (%s)", r.Zone, names.Want)
	case len(r.Hosts) == 0:
		return errors.New("hosts: the register lists no host")
	case len(r.Hosts) > MaxRegisteredHosts:
		return fmt.Errorf("hosts: %d hosts, at most %d", len(r.Hosts), MaxRegisteredHosts)
	}
	r.keys, r.host = nil, map[string]string{}
	seen := map[string]bool{}
	for i := range r.Hosts {
		h := &r.Hosts[i]
		field := fmt.Sprintf("hosts[%d]", i)
		switch {
		case !names.Valid(h.Name):
			return fmt.Errorf("%s: name %q: want a host name (%s)", field, h.Name, names.Want)
		case seen[h.Name]:
			return fmt.Errorf("%s: host %s is listed twice", field, h.Name)
		}
		seen[h.Name] = true
		field = "host " + h.Name
		if err := CheckHostRoles(h.Roles); err != nil {
			return fmt.Errorf("%s: roles: %w", field, err)
		}
		switch h.Identity {
		case IdentityZone:
			if h.Recipient != "" {
				return fmt.Errorf("%s: a recipient, but identity %s (the zone's recipient is in %s)", field, IdentityZone, RecipientsFile)
			}
		case IdentityOwn:
			if _, err := agekeys.ParseRecipient(h.Recipient, nil); err != nil {
				return fmt.Errorf("%s: recipient: %w", field, err)
			}
		default:
			return fmt.Errorf("%s: identity %q, want %s or %s", field, h.Identity, IdentityZone, IdentityOwn)
		}
		if len(h.ReceiptKeys) == 0 || len(h.ReceiptKeys) > maxHostKeys {
			return fmt.Errorf("%s: receiptKeys: %d keys, want 1 to %d", field, len(h.ReceiptKeys), maxHostKeys)
		}
		for j, pem := range h.ReceiptKeys {
			k, err := keys.ParsePublic([]byte(pem))
			if err != nil {
				return fmt.Errorf("%s: receiptKeys[%d]: %w", field, j, err)
			}
			if other, dup := r.host[k.ID()]; dup {
				return fmt.Errorf("%s: receiptKeys[%d]: key %s is already host %s's (each host signs with keys of its own)", field, j, k.ID(), other)
			}
			r.host[k.ID()] = h.Name
			r.keys = append(r.keys, k)
		}
	}
	return nil
}

// Keys returns every host's receipt public keys.
func (r *Register) Keys() []*keys.PublicKey { return slices.Clone(r.keys) }

// HostOfKey returns the host whose receipt key has this id, or "".
func (r *Register) HostOfKey(keyID string) string { return r.host[keyID] }

// Host returns the registered host of that name, or nil (also for a nil
// register).
func (r *Register) Host(name string) *RegisteredHost {
	if r == nil {
		return nil
	}
	i := slices.IndexFunc(r.Hosts, func(h RegisteredHost) bool { return h.Name == name })
	if i < 0 {
		return nil
	}
	return &r.Hosts[i]
}

// Marshal writes the register as zone.yaml, with a header comment and the
// id of every key beside it.
func (r *Register) Marshal() ([]byte, error) {
	var n yaml.Node
	if err := n.Encode(r); err != nil {
		return nil, fmt.Errorf("encode %s: %w", RegisterFile, err)
	}
	n.HeadComment = "airlock zone register of zone " + r.Zone + ": its hosts, their roles and receipt public keys.\n" +
		"Auditors: airlock audit RECEIPTS --zone-register " + RegisterFile
	for _, h := range mappingValue(&n, "hosts").Content {
		for _, k := range mappingValue(h, "receiptKeys").Content {
			if pk, err := keys.ParsePublic([]byte(k.Value)); err == nil {
				k.HeadComment = pk.ID()
			}
		}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, fmt.Errorf("encode %s: %w", RegisterFile, err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// mappingValue returns the value of key in a mapping node, or an empty
// node.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return &yaml.Node{}
}

// Write checks the register and writes it to path atomically.
func (r *Register) Write(path string) error {
	if err := r.check(); err != nil {
		return err
	}
	data, err := r.Marshal()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o644)
}

// Recipients is the content of the zone's recipients file: every age
// recipient a bundle for the zone must be encrypted to — the zone's
// shared identity's (zoneRecipient) when a host uses it, and each own
// identity's — one per line, with # comments saying whose.
func (r *Register) Recipients(zoneRecipient string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# age recipients of zone %s: build its bundles with airlock build -R %s\n", r.Zone, RecipientsFile)
	var shared []string
	for _, h := range r.Hosts {
		if h.Identity == IdentityZone {
			shared = append(shared, h.Name)
		}
	}
	if len(shared) > 0 && zoneRecipient != "" {
		fmt.Fprintf(&b, "# the zone identity, shared by %s\n%s\n", strings.Join(shared, ", "), zoneRecipient)
	}
	for _, h := range r.Hosts {
		if h.Identity == IdentityOwn {
			fmt.Fprintf(&b, "# host %s (its own identity)\n%s\n", h.Name, h.Recipient)
		}
	}
	return []byte(b.String())
}
