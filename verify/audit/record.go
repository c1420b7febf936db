package audit

import (
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"time"

	"airlock.dev/airlock/receipt"
)

// digest is a SHA-256 kept as bytes: half the memory of its hex form.
type digest [32]byte

func parseDigest(s string) (digest, bool) {
	var d digest
	if len(s) != 64 {
		return d, false
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, false
	}
	return d, true
}

func (d digest) String() string { return hex.EncodeToString(d[:]) }

// Clock states of a record.
const (
	clockUnknown uint8 = iota // the receipt does not say (version 1, or not Linux)
	clockSynced
	clockUnsynced
)

// record is what the audit keeps of one verified receipt while it checks
// chains and reconciles: small and fixed in size, with everything shared
// between receipts (bundle, operator, policy) interned. What the reports
// show beyond it is read again from the file ([source.load]), which must
// still have the digest it had.
type record struct {
	file    string
	env     digest // of the file's bytes
	link    digest // what the next receipt names
	prev    digest
	hasPrev bool
	zone    string
	host    string
	seq     uint64
	keyID   string
	started time.Time
	event   receipt.Event
	result  receipt.OutcomeResult
	reason  receipt.Reason
	message string // clipped; only for outcomes that make findings

	bundle   *BundleRef
	operator *receipt.Operator // without the co-signing key's PEM
	coSigned bool              // the operator's co-signature verified
	policy   *receipt.Policy
	change   *receipt.PolicyChange // policy commits

	clock        uint8
	clockService string
	storage      *receipt.Storage

	filesList   string // name of the deployed file list beside it, if any
	filesSHA    digest
	logName     string
	logSHA      digest
	filesTotal  int
	pruned      int
	failureStep bool // has a when: failure step (a back-out procedure)
	checksPass  bool // every check passed or was skipped
	targetPass  bool // the target check passed
	evidenceOut bool // a deployed file is one of the change's test evidence files
	overrides   []string

	local []localFinding // findings from this receipt alone
	// set by the audit
	ledger     string
	attributed bool
	person     string
}

// localFinding is a finding that depends on one receipt alone, made while
// it is verified and reported when it is in the window.
type localFinding struct {
	kind, msg string
}

// ran reports whether an outcome means steps ran in the zone.
func (r *record) ran() bool { return ran(r.result) }

// isApply reports whether the record is an apply rather than a control
// change.
func (r *record) isApply() bool { return !r.event.IsControl() }

// interner shares equal strings and values between records.
type interner struct {
	mu        sync.Mutex
	strs      map[string]string
	bundles   map[string]*BundleRef
	operators map[string]*receipt.Operator
	policies  map[string]*receipt.Policy
	storages  map[receipt.Storage]*receipt.Storage
}

func newInterner() *interner {
	return &interner{strs: map[string]string{}, bundles: map[string]*BundleRef{},
		operators: map[string]*receipt.Operator{}, policies: map[string]*receipt.Policy{},
		storages: map[receipt.Storage]*receipt.Storage{}}
}

func (in *interner) str(s string) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if v, ok := in.strs[s]; ok {
		return v
	}
	in.strs[s] = s
	return s
}

// value interns v in m under the key of its JSON encoding.
func intern[T any](in *interner, m map[string]*T, v *T) *T {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if o, ok := m[string(b)]; ok {
		return o
	}
	m[string(b)] = v
	return v
}

func (in *interner) bundle(b *BundleRef) *BundleRef { return intern(in, in.bundles, b) }

func (in *interner) operator(o *receipt.Operator) *receipt.Operator {
	return intern(in, in.operators, o)
}

func (in *interner) policy(p *receipt.Policy) *receipt.Policy {
	if p == nil {
		return nil
	}
	return intern(in, in.policies, p)
}

func (in *interner) storage(s *receipt.Storage) *receipt.Storage {
	if s == nil {
		return nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if o, ok := in.storages[*s]; ok {
		return o
	}
	in.storages[*s] = s
	return s
}

// newRecord keeps what the audit needs of a verified receipt.
func newRecord(rel string, r *receipt.Receipt, in *interner) *record {
	p := r.Predicate()
	rec := &record{
		file:    rel,
		zone:    in.str(clip(p.Zone)),
		host:    in.str(clip(p.Host.Name)),
		seq:     p.Seq,
		keyID:   in.str(r.Signer.ID()),
		started: p.Time.Started.UTC(),
		event:   receipt.Event(in.str(string(p.EventOf()))),
		result:  receipt.OutcomeResult(in.str(string(p.Outcome.Result))),
		reason:  receipt.Reason(in.str(clip(string(p.Outcome.Reason)))),
		bundle:  in.bundle(bundleRef(p.Bundle)),
		policy:  in.policy(p.Policy),
		change:  p.PolicyChange,
		storage: in.storage(p.Storage),
	}
	rec.env, _ = parseDigest(r.EnvelopeSHA256)
	rec.link, _ = parseDigest(r.SHA256)
	rec.prev, rec.hasPrev = parseDigest(p.PrevSHA256)
	op := p.Operator
	op.Note = clip(op.Note)
	if op.Key != nil {
		k := *op.Key
		k.PublicKey = "" // the verified key's PEM is not needed again
		op.Key = &k
		rec.coSigned = r.Operator != nil
	}
	rec.operator = in.operator(&op)
	if c := p.Time.Clock; c != nil {
		rec.clock = clockUnsynced
		if c.Synchronised {
			rec.clock = clockSynced
		}
		rec.clockService = in.str(clip(c.Service))
	}
	if p.FilesList != "" {
		rec.filesList = clip(p.FilesList)
		rec.filesSHA, _ = parseDigest(p.FilesSHA256)
	}
	if p.Logs != nil {
		rec.logName = clip(p.Logs.Name)
		rec.logSHA, _ = parseDigest(p.Logs.SHA256)
	}
	rec.filesTotal = max(p.FilesTotal, len(p.Files))
	if p.Release != nil {
		rec.pruned = len(p.Release.Pruned)
	}
	rec.checksPass, rec.targetPass = true, false
	for _, c := range p.Checks {
		if c.Result == receipt.Fail {
			rec.checksPass = false
		}
		if c.Name == receipt.CheckTarget && c.Result == receipt.Pass {
			rec.targetPass = true
		}
	}
	for _, s := range p.Steps {
		if s.When == "failure" {
			rec.failureStep = true
		}
	}
	for _, e := range p.Bundle.ChangeTestEvidence {
		if slices.ContainsFunc(p.Files, func(f receipt.File) bool { return f.SHA256 == e.SHA256 }) {
			rec.evidenceOut = true
		}
	}
	for _, o := range p.Override {
		rec.overrides = append(rec.overrides, in.str(clip(o.Name)))
	}
	rec.local = localFindings(rec, p)
	if len(rec.local) > 0 || rec.event.IsControl() {
		rec.message = clip(p.Outcome.Message)
	}
	return rec
}

// numericUID reports the numeric uid of an operator record, or -1.
func numericUID(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return -1
	}
	return n
}
