package zone

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/internal/capped"
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
	StateDir    string   // default <Dir>/state (with Host: <Dir>/hosts/<Host>/state)
	PostQuantum bool     // make a hybrid ML-KEM-768 + X25519 age identity
	// Host, when set, makes a zone of named hosts, this one its first:
	// the zone register and recipients file in Dir, the host's files in
	// Dir/hosts/<Host> (see AddHost). Roles are its host roles; with
	// OwnIdentity it decrypts with an age identity of its own rather than
	// the zone's.
	Host        string
	Roles       []string
	OwnIdentity bool
	// Record says who creates the zone, for its genesis record.
	Record RecordOptions
}

// Created is what Init and AddHost made.
type Created struct {
	Trust      string // path of the host's trust.yaml
	Recipient  string // age recipient the host decrypts for (the zone's, or its own)
	ReceiptPub string // receipt public key file, for auditors
	Genesis    string // the genesis record: the first receipt of the host's chain

	// For a zone of named hosts:
	Zone        string   // the zone's name
	Host        string   // the host's name
	Roles       []string // its host roles
	HostDir     string   // Dir/hosts/<Host>: what to copy to the host
	OwnIdentity bool     // it has an age identity of its own
	Register    string   // the zone register (zone.yaml): for auditors
	Recipients  string   // the recipients file: for the builder
	// RecipientCount is how many recipients the recipients file lists.
	RecipientCount int
	// Notes are things the operator must know (a host the register
	// cannot list).
	Notes []string
}

// Init creates a zone directory: an age identity and its recipient, a
// receipt signing key pair, copies of the trusted public keys, a
// trust.yaml that references them by relative path, complete as written,
// and the zone's genesis record — the first entry of its receipt chain,
// recording the policy. Secret files are created 0600 and never
// overwritten. With o.Host it makes a zone of named hosts instead: the
// zone's identity, register and recipients file in Dir, and the first
// host's folder in Dir/hosts (see AddHost).
func Init(o InitOptions) (*Created, error) {
	if !names.Valid(o.Zone) {
		return nil, fmt.Errorf("zone %q: want a name such as pci-east (%s)", o.Zone, names.Want)
	}
	if len(o.ReleaseKeys) == 0 {
		return nil, errors.New("zone init: at least one release key is required")
	}
	if o.Host == "" && (len(o.Roles) > 0 || o.OwnIdentity) {
		return nil, errors.New("zone init: roles and an own identity are a host's: give --host")
	}
	for _, f := range []string{TrustFile, RegisterFile} {
		if _, err := os.Stat(filepath.Join(o.Dir, f)); err == nil {
			return nil, fmt.Errorf("%s already exists: refusing to replace a zone's trust", filepath.Join(o.Dir, f))
		}
	}
	if err := checkNewHost(o.Host, o.Roles); err != nil {
		return nil, err
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
	// A new zone needs two persons for a weakening of its policy.
	spec := hostSpec{dir: o.Dir, zone: o.Zone, host: o.Host, hostRoles: o.Roles, state: o.StateDir, pq: o.PostQuantum, record: o.Record,
		roles: []roleSpec{{RoleRelease, 1, unnamed(releaseKeys)}}, twoPerson: true}
	if len(approveKeys) > 0 {
		spec.roles = append(spec.roles, roleSpec{RoleApprove, 1, unnamed(approveKeys)})
	}
	if o.Host == "" {
		spec.identity = identitySpec{file: ZoneIdentityFile, recipientFile: ZoneRecipientFile}
		return spec.write()
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	reg := &Register{APIVersion: APIVersion, Zone: o.Zone}
	return addHost(o.Dir, reg, spec, o.OwnIdentity)
}

// checkNewHost checks the name and roles of a host to be made.
func checkNewHost(host string, roles []string) error {
	if host != "" && !names.Valid(host) {
		return fmt.Errorf("host %q: want a host name such as app-01 (%s)", host, names.Want)
	}
	if err := CheckHostRoles(roles); err != nil {
		return fmt.Errorf("roles: %w", err)
	}
	return nil
}

// HostOptions configures AddHost.
type HostOptions struct {
	Dir         string   // the zone directory: holds zone.yaml (or a trust.yaml of a zone without named hosts)
	Host        string   // the new host's name
	Roles       []string // its host roles
	OwnIdentity bool     // an age identity of its own, not the zone's
	StateDir    string   // its state directory, relative to its folder (default state)
	PostQuantum bool     // a post-quantum hybrid identity, when one is made
	Record      RecordOptions
}

// AddHost adds a host to a zone: Dir/hosts/<Host> gets everything the
// host needs — its trust.yaml (the signing roles, operators, settings and
// variables of the zone's first host, with this host's name and roles), a
// receipt key pair of its own, copies of the trusted keys, the zone's age
// identity or (OwnIdentity) one of its own, and its genesis record — and
// the zone register (zone.yaml) and recipients file list it. A zone made
// without named hosts gets its register here; its own trust.yaml is the
// policy copied, and its host is registered when trust.yaml names it.
func AddHost(o HostOptions) (*Created, error) {
	if err := checkNewHost(o.Host, o.Roles); err != nil {
		return nil, err
	}
	if o.Host == "" {
		return nil, errors.New("zone host add: the host's name is required")
	}
	reg, template, notes, err := zoneOf(o.Dir)
	if err != nil {
		return nil, err
	}
	spec, err := specFrom(template)
	if err != nil {
		return nil, fmt.Errorf("the zone's policy (%s): %w", template, err)
	}
	if spec.zone != reg.Zone {
		return nil, fmt.Errorf("%s is a policy of zone %s, the register's zone is %s", template, spec.zone, reg.Zone)
	}
	spec.host, spec.hostRoles, spec.state, spec.pq, spec.record = o.Host, o.Roles, o.StateDir, o.PostQuantum, o.Record
	c, err := addHost(o.Dir, reg, spec, o.OwnIdentity)
	if c != nil {
		c.Notes = append(notes, c.Notes...)
	}
	return c, err
}

// zoneOf reads the register of the zone in dir and finds the trust.yaml a
// new host copies its policy from: the zone's own (a zone made without
// named hosts, whose register is made here) or its first registered
// host's.
func zoneOf(dir string) (*Register, string, []string, error) {
	top := filepath.Join(dir, TrustFile)
	_, topErr := os.Stat(top)
	reg, err := ReadRegister(filepath.Join(dir, RegisterFile))
	switch {
	case err == nil && topErr == nil:
		return reg, top, nil, nil
	case err == nil:
		for _, h := range reg.Hosts {
			p := filepath.Join(dir, HostsDir, h.Name, TrustFile)
			if _, err := os.Stat(p); err == nil {
				return reg, p, nil, nil
			}
		}
		return nil, "", nil, fmt.Errorf("no registered host of %s has its folder in %s: the new host's policy is copied from one", filepath.Join(dir, RegisterFile), filepath.Join(dir, HostsDir))
	case !errors.Is(err, os.ErrNotExist):
		return nil, "", nil, err
	case topErr != nil:
		return nil, "", nil, fmt.Errorf("%s holds no zone: neither %s nor %s (make one with airlock zone init)", dir, RegisterFile, TrustFile)
	}
	// A zone without named hosts gets its register.
	t, err := Load(top)
	if err != nil {
		return nil, "", nil, err
	}
	reg = &Register{APIVersion: APIVersion, Zone: t.Policy.Zone}
	if t.Host == "" || t.ReceiptPub == "" {
		return reg, top, []string{fmt.Sprintf("%s names no host (or no receipts.publicKey): its host is not in the register; audit its receipts with --key %s beside --zone-register",
			top, filepath.Join(dir, ReceiptPubFile))}, nil
	}
	pub, err := capped.ReadFile(t.ReceiptPub, 1<<20)
	if err != nil {
		return nil, "", nil, err
	}
	reg.Hosts = append(reg.Hosts, RegisteredHost{Name: t.Host, Roles: t.Policy.HostRoles, Identity: IdentityZone, ReceiptKeys: []string{string(pub)}})
	return reg, top, nil, nil
}

// addHost makes the folder of a new host of reg's zone in dir/hosts and
// lists it in the register and the recipients file.
func addHost(dir string, reg *Register, spec hostSpec, own bool) (*Created, error) {
	if reg.Host(spec.host) != nil {
		return nil, fmt.Errorf("host %s is already in %s", spec.host, filepath.Join(dir, RegisterFile))
	}
	spec.dir = filepath.Join(dir, HostsDir, spec.host)
	if _, err := os.Lstat(spec.dir); err == nil {
		return nil, fmt.Errorf("%s already exists: refusing to replace a host's files", spec.dir)
	}
	entry := RegisteredHost{Name: spec.host, Roles: spec.hostRoles, Identity: IdentityZone}
	zoneRecipient, err := zoneIdentity(dir, spec.pq, own)
	if err != nil {
		return nil, err
	}
	if own {
		entry.Identity = IdentityOwn
		spec.identity = identitySpec{file: HostIdentity, recipientFile: HostRecipient}
	} else {
		spec.identity = identitySpec{file: ZoneIdentityFile, copyFrom: filepath.Join(dir, ZoneIdentityFile), recipient: zoneRecipient}
	}
	if err := os.MkdirAll(filepath.Join(dir, HostsDir), 0o755); err != nil {
		return nil, err
	}
	c, err := spec.write()
	if err != nil {
		os.RemoveAll(spec.dir)
		return nil, err
	}
	undo := func() {
		os.RemoveAll(spec.dir)
		os.Remove(c.Genesis) // a state directory outside the host's folder
	}
	pub, err := capped.ReadFile(c.ReceiptPub, 1<<20)
	if err != nil {
		undo()
		return nil, err
	}
	if own {
		entry.Recipient = c.Recipient
	}
	entry.ReceiptKeys = []string{string(pub)}
	reg.Hosts = append(reg.Hosts, entry)
	c.Register, c.Recipients = filepath.Join(dir, RegisterFile), filepath.Join(dir, RecipientsFile)
	if err := reg.Write(c.Register); err != nil {
		undo()
		return nil, err
	}
	recipients := reg.Recipients(zoneRecipient)
	if err := atomicfile.WriteFile(c.Recipients, recipients, 0o644); err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(recipients), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			c.RecipientCount++
		}
	}
	c.Zone, c.Host, c.Roles, c.HostDir, c.OwnIdentity = reg.Zone, spec.host, spec.hostRoles, spec.dir, own
	return c, nil
}

// zoneIdentity returns the recipient of the zone's shared identity in dir,
// making the identity if a host is to share it and there is none yet; ""
// when there is none and none is needed (own).
func zoneIdentity(dir string, pq, own bool) (string, error) {
	data, err := capped.ReadFile(filepath.Join(dir, ZoneRecipientFile), 1<<20)
	switch {
	case err == nil:
		return strings.TrimSpace(string(data)), nil
	case !errors.Is(err, os.ErrNotExist):
		return "", err
	case own:
		return "", nil
	}
	return writeIdentity(dir, identitySpec{file: ZoneIdentityFile, recipientFile: ZoneRecipientFile}, pq)
}

// hostSpec is what one host's folder holds.
type hostSpec struct {
	dir       string // the folder to write (trust.yaml, keys, identity, receipt key)
	zone      string
	host      string // "" when trust.yaml is to name none
	hostRoles []string
	roles     []roleSpec
	operators []namedKey
	requireOp bool
	twoPerson bool // requireTwoPersonForWeakening
	variables map[string]Value
	apps      map[string]ApplicationDoc
	auditors  []string
	state     string // default "state"
	identity  identitySpec
	pq        bool
	record    RecordOptions
}

type roleSpec struct {
	name      string
	threshold int
	keys      []namedKey
}

type namedKey struct {
	key  *keys.PublicKey
	name string
}

func unnamed(ks []*keys.PublicKey) []namedKey {
	out := make([]namedKey, len(ks))
	for i, k := range ks {
		out[i] = namedKey{key: k}
	}
	return out
}

// identitySpec says how a host gets its age identity: copied from a file
// (copyFrom, whose recipient is given), or made (with its recipient in
// recipientFile).
type identitySpec struct {
	file          string
	copyFrom      string
	recipient     string
	recipientFile string
}

// specFrom is the policy of the trust.yaml at path, for a new host: its
// signing roles with their keys, operators, settings, variables and
// applications.
func specFrom(path string) (hostSpec, error) {
	data, err := capped.ReadFile(path, MaxTrustSize)
	if err != nil {
		return hostSpec{}, err
	}
	d, err := ParseDocument(data)
	if err != nil {
		return hostSpec{}, err
	}
	t, err := parse(path, data)
	if err != nil {
		return hostSpec{}, err
	}
	spec := hostSpec{zone: d.Zone, requireOp: d.RequireOperatorSignature, twoPerson: d.RequireTwoPersonForWeakening,
		variables: d.Variables, apps: d.Applications, auditors: d.Auditors}
	named := func(ks []*keys.PublicKey) []namedKey {
		out := unnamed(ks)
		for i := range out {
			out[i].name = t.Policy.NameOf(out[i].key)
		}
		return out
	}
	for _, r := range t.Policy.Roles {
		spec.roles = append(spec.roles, roleSpec{r.Name, r.Threshold, named(r.Keys)})
	}
	spec.operators = named(t.Policy.Operators)
	return spec, nil
}

// write makes the host's folder: keys, identity, receipt key pair,
// trust.yaml and the genesis record of its chain.
func (s hostSpec) write() (*Created, error) {
	if err := os.MkdirAll(filepath.Join(s.dir, KeysDir), 0o755); err != nil {
		return nil, err
	}
	doc := &Document{APIVersion: APIVersion, Zone: s.zone, Host: s.host, HostRoles: s.hostRoles, Roles: map[string]RoleKeys{},
		RequireOperatorSignature: s.requireOp, RequireTwoPersonForWeakening: s.twoPerson, Variables: s.variables, Applications: s.apps, Auditors: s.auditors, State: s.state}
	for _, r := range s.roles {
		refs, err := copyKeys(s.dir, r.name, r.keys)
		if err != nil {
			return nil, err
		}
		doc.Roles[r.name] = RoleKeys{Threshold: r.threshold, Keys: refs}
	}
	ops, err := copyKeys(s.dir, "operator", s.operators)
	if err != nil {
		return nil, err
	}
	doc.Operators = ops
	recipient := s.identity.recipient
	if s.identity.copyFrom != "" {
		data, err := capped.ReadFile(s.identity.copyFrom, 1<<20)
		if err == nil {
			err = atomicfile.WriteNew(filepath.Join(s.dir, s.identity.file), data, 0o600)
		}
		if err != nil {
			return nil, fmt.Errorf("the zone identity: %w", err)
		}
	} else if recipient, err = writeIdentity(s.dir, s.identity, s.pq); err != nil {
		return nil, err
	}
	doc.Identities = []string{s.identity.file}
	priv, pub, err := keys.Generate(nil)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteNew(filepath.Join(s.dir, ReceiptKeyFile), priv, 0o600); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteNew(filepath.Join(s.dir, ReceiptPubFile), pub, 0o644); err != nil {
		return nil, err
	}
	doc.Receipts = Receipts{Key: ReceiptKeyFile, PublicKey: ReceiptPubFile}
	if doc.State == "" {
		doc.State = "state"
	}
	trust, err := doc.Marshal()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(s.dir, TrustFile)
	t, err := parse(path, trust)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	signer, err := keys.ParsePrivate(priv, nil)
	if err != nil {
		return nil, err
	}
	genesis, err := writeGenesis(t, signer, s.record)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteNew(path, trust, 0o644); err != nil {
		os.Remove(genesis)
		return nil, err
	}
	return &Created{Trust: path, Recipient: recipient, ReceiptPub: filepath.Join(s.dir, ReceiptPubFile), Genesis: genesis}, nil
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

// copyKeys copies public keys to keys/<role>-N.pub and returns trust.yaml's
// references to them, with the names of their persons.
func copyKeys(dir, role string, ks []namedKey) ([]KeyRef, error) {
	var refs []KeyRef
	for i, k := range ks {
		name := filepath.ToSlash(filepath.Join(KeysDir, fmt.Sprintf("%s-%d.pub", role, i+1)))
		if err := atomicfile.WriteFile(filepath.Join(dir, filepath.FromSlash(name)), k.key.PEM(), 0o644); err != nil {
			return nil, err
		}
		refs = append(refs, KeyRef{Path: name, Name: k.name})
	}
	return refs, nil
}

// writeIdentity makes an age identity in dir/id.file (0600, never over
// another) and its recipient in dir/id.recipientFile, and returns the
// recipient.
func writeIdentity(dir string, id identitySpec, pq bool) (string, error) {
	var secret, recipient string
	if pq {
		k, err := age.GenerateHybridIdentity()
		if err != nil {
			return "", err
		}
		secret, recipient = k.String(), k.Recipient().String()
	} else {
		k, err := age.GenerateX25519Identity()
		if err != nil {
			return "", err
		}
		secret, recipient = k.String(), k.Recipient().String()
	}
	what := "zone identity: decrypts bundles for this zone"
	if id.file == HostIdentity {
		what = "host identity: decrypts bundles for this host"
	}
	content := "# airlock " + what + ". Keep it secret.\n# recipient: " + recipient + "\n" + secret + "\n"
	if err := atomicfile.WriteNew(filepath.Join(dir, id.file), []byte(content), 0o600); err != nil {
		return "", err
	}
	if err := atomicfile.WriteNew(filepath.Join(dir, id.recipientFile), []byte(recipient+"\n"), 0o644); err != nil {
		return "", err
	}
	return recipient, nil
}
