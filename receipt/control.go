package receipt

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"

	"airlock.dev/airlock/internal/hostinfo"
	"airlock.dev/airlock/internal/keys"
)

// Event is what a chain entry records.
type Event string

// Events. A version 1 receipt has no event: it is an apply.
const (
	EventApply   Event = "apply"   // an apply of a bundle (or its refusal)
	EventGenesis Event = "genesis" // the zone's first record, written by zone init
	EventPolicy  Event = "policy"  // a change of trust.yaml, recorded by zone commit-policy
	// EventDrift (version 3): a command found trust.yaml differing from the
	// policy the chain records (an edit nobody committed); nothing ran.
	EventDrift Event = "drift"
)

// Events lists every event.
var Events = []Event{EventApply, EventGenesis, EventPolicy, EventDrift}

// IsControl reports whether the event records a control change or finding
// (genesis, policy commit, drift) rather than an apply.
func (e Event) IsControl() bool { return e == EventGenesis || e == EventPolicy || e == EventDrift }

// EventOf returns the event of a predicate: EventApply when it names none.
func (p *Predicate) EventOf() Event {
	if p.Event == "" {
		return EventApply
	}
	return p.Event
}

// Policy is a zone's trust policy as recorded in the chain: the digest of
// trust.yaml as read, and what it says about who is trusted.
type Policy struct {
	// SHA256 is the digest of trust.yaml's bytes.
	SHA256 string `json:"sha256"`
	Zone   string `json:"zone"`
	// Host is the host trust.yaml names; empty when it takes the OS host
	// name.
	Host string `json:"host,omitempty"`
	// HostRoles are the host's roles (role: targets, byRole values),
	// sorted (version 2).
	HostRoles []string `json:"hostRoles,omitempty"`
	// Roles are the signing roles with their thresholds and keys.
	Roles []PolicyRole `json:"roles"`
	// Operators are the keys that may co-sign receipts, with names.
	Operators []PolicyKey `json:"operators,omitempty"`
	// RequireOperatorSignature refuses applies without a co-signature.
	RequireOperatorSignature bool `json:"requireOperatorSignature,omitempty"`
	// ReceiptKey is the key id of the zone's receipt key, when trust.yaml
	// names its public key.
	ReceiptKey string `json:"receiptKey,omitempty"`
	// RequireTwoPersonForWeakening (version 3): a policy commit that
	// weakens this policy needs two operators' co-signatures.
	RequireTwoPersonForWeakening bool `json:"requireTwoPersonForWeakening,omitempty"`
	// Applications (version 3) are the applications trust.yaml lists, by
	// name, each with the directories it may deploy into. A zone that
	// lists none applies any release wherever its steps say.
	Applications []PolicyApplication `json:"applications,omitempty"`
}

// PolicyApplication is an application of a recorded policy: its name (the
// release name) and the directories it may deploy into, sorted.
type PolicyApplication struct {
	Name  string   `json:"name"`
	Roots []string `json:"roots"`
}

// PolicyRole is one role of a recorded policy.
type PolicyRole struct {
	Name      string      `json:"name"`
	Threshold int         `json:"threshold"`
	Keys      []PolicyKey `json:"keys"`
}

// PolicyKey is a key of a recorded policy and the person it belongs to.
type PolicyKey struct {
	KeyID string `json:"keyid"`
	Name  string `json:"name,omitempty"`
}

// Same reports whether p and o are the same policy: the same trust.yaml
// bytes and the same keys (a key file can change without trust.yaml).
func (p *Policy) Same(o *Policy) bool {
	if p == nil || o == nil {
		return p == o
	}
	return p.Digest() == o.Digest()
}

// Digest is the SHA-256 of the policy record as encoded: it covers the
// trust.yaml digest and every key id, name and threshold.
func (p *Policy) Digest() string {
	b, err := json.Marshal(p)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// OperatorName returns the name the policy gives an operator key, and
// whether the key is one of its operators.
func (p *Policy) OperatorName(keyID string) (string, bool) {
	if p == nil {
		return "", false
	}
	i := slices.IndexFunc(p.Operators, func(k PolicyKey) bool { return k.KeyID == keyID })
	if i < 0 {
		return "", false
	}
	return p.Operators[i].Name, true
}

// PolicyChange is what a policy commit changed; for a drift record, how
// the trust.yaml found differs from the policy in force.
type PolicyChange struct {
	// PreviousSHA256 is the trust.yaml digest of the policy before; "" when
	// the chain recorded none (a zone from before policies were recorded).
	PreviousSHA256 string `json:"previousSha256"`
	// FoundSHA256 (version 3, drift records) is the digest of the
	// trust.yaml found, which nobody committed.
	FoundSHA256 string `json:"foundSha256,omitempty"`
	// Changes lists each difference; empty when only settings outside the
	// summary changed (variables, paths).
	Changes []PolicyDiff `json:"changes"`
	// Weakens is true when any change weakens the policy.
	Weakens bool `json:"weakens"`
}

// PolicyDiff is one difference between two policies.
type PolicyDiff struct {
	Kind    string `json:"kind"`   // see zone.Diff
	Detail  string `json:"detail"` // for people
	Weakens bool   `json:"weakens,omitempty"`
}

// CurrentOperator records who runs this process: the OS account and what
// the system knows of the person behind it (sudo, the kernel's login uid,
// the terminal), with the name given by --operator and a note.
func CurrentOperator(name, note string) Operator {
	id := hostinfo.CurrentIdentity()
	return Operator{User: id.User, UID: id.UID, Name: name, Note: note,
		SudoUser: id.SudoUser, SudoUID: id.SudoUID, LoginUID: id.LoginUID, LoginUser: id.LoginUser, Terminal: id.Terminal}
}

// CurrentClock reads the clock's synchronisation state; nil where the
// system cannot say.
func CurrentClock() *Clock {
	c, ok := hostinfo.ReadClock()
	if !ok {
		return nil
	}
	return &Clock{Synchronised: c.Synchronised, EstimatedErrorMicros: c.EstimatedErrorMicros,
		MaxErrorMicros: c.MaxErrorMicros, Service: c.Service, Method: c.Method}
}

// StorageOf describes the receipts folder dir and the mode receipts are
// written with; nil when dir cannot be read.
func StorageOf(dir string) *Storage {
	st, err := os.Stat(dir)
	if err != nil {
		return nil
	}
	return &Storage{DirMode: fmt.Sprintf("%04o", st.Mode().Perm()), FileMode: fmt.Sprintf("%04o", FileMode)}
}

// NewOperatorKey is the record of an operator's co-signing key.
func NewOperatorKey(k *keys.PublicKey, name string) *OperatorKey {
	return &OperatorKey{KeyID: k.ID(), Name: name, PublicKey: string(k.PEM())}
}
