package audit

import (
	"crypto/sha256"
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
	file   string
	env    fileSum // of the file's bytes
	link   digest  // what the next receipt names
	prev   digest
	zone   string
	host   string
	chain  string // the host whose chain it is in (see chainHosts)
	seq    uint64
	keyID  string
	at     int64 // time.started, Unix nanoseconds
	fin    int64 // time.finished, Unix nanoseconds (0: not recorded)
	event  receipt.Event
	result receipt.OutcomeResult
	reason receipt.Reason
	ledger string // set by reconcile

	bundle   *BundleRef
	operator *receipt.Operator // without the co-signing key's PEM
	policy   *receipt.Policy
	storage  *receipt.Storage
	x        *recordExtra // what few receipts have; nil for most

	deployed bool // the receipt lists deployed files
	pruned   bool // the receipt names pruned releases
	clock    uint8
	hasPrev  bool
	coSigned bool // the operator's co-signature verified
	// failureStep: the receipt has a when: failure step (a back-out).
	failureStep bool
	checksPass  bool // every check passed or was skipped
	targetPass  bool // the target check passed
	evidenceOut bool // a deployed file is one of the change's test evidence files
	attributed  bool // set by people
	shared      bool // set by people: the account is shared
}

// recordExtra is what a record keeps only when its receipt has it.
type recordExtra struct {
	change    *receipt.PolicyChange // policy commits
	overrides []string
	local     []localFinding // findings from this receipt alone
	filesList string         // name of the deployed file list beside it
	filesSHA  digest
	logName   string
	logSHA    digest
	images    []string // images its push steps left in a registry (format 3)
}

var noExtra recordExtra

// extra returns the record's extra part, empty when it has none.
func (r *record) extra() *recordExtra {
	if r.x == nil {
		return &noExtra
	}
	return r.x
}

// person names who an entry is attributed to, or why it is not.
func (r *record) person() string {
	if r.event == receipt.EventGenesis {
		return personOf(r)
	}
	_, who := attribute(r, r.shared)
	return who
}

// localFinding is a finding that depends on one receipt alone, made while
// it is verified and reported when it is in the window.
type localFinding struct {
	kind, msg string
	subject   string // see Finding.subject
}

// fileSum is the first half of a file's SHA-256: enough to tell that a
// file changed between its verification and a report, in half the memory.
type fileSum [16]byte

func sumOf(data []byte) fileSum {
	full := sha256.Sum256(data)
	return fileSum(full[:16])
}

// started is the receipt's time.started.
func (r *record) started() time.Time { return time.Unix(0, r.at).UTC() }

// finished is the receipt's time.finished (zero when it has none).
func (r *record) finished() time.Time {
	if r.fin == 0 {
		return time.Time{}
	}
	return time.Unix(0, r.fin).UTC()
}

// finishedBeforeStart reports whether the receipt says it finished before
// it started: the zone clock went back while the entry was made.
func (r *record) finishedBeforeStart() bool { return r.fin != 0 && r.fin < r.at }

// ran reports whether an outcome means steps ran in the zone.
func (r *record) ran() bool { return ran(r.result) }

// isApply reports whether the record is an apply rather than a control
// change.
func (r *record) isApply() bool { return !r.event.IsControl() }

// interner shares equal strings and values between records.
type interner struct {
	mu        sync.Mutex
	strs      map[string]string
	bundles   map[digest]*BundleRef
	operators map[digest]*receipt.Operator
	policies  map[digest]*receipt.Policy
	storages  map[receipt.Storage]*receipt.Storage
}

func newInterner() *interner {
	return &interner{strs: map[string]string{}, bundles: map[digest]*BundleRef{},
		operators: map[digest]*receipt.Operator{}, policies: map[digest]*receipt.Policy{},
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

// intern shares v with an equal value already seen: values are equal when
// their JSON encodings are, and kept by the SHA-256 of the encoding.
func intern[T any](in *interner, m map[digest]*T, v *T) *T {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	key := digest(sha256.Sum256(b))
	in.mu.Lock()
	defer in.mu.Unlock()
	if o, ok := m[key]; ok {
		return o
	}
	m[key] = v
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
		at:      p.Time.Started.UnixNano(),
		event:   receipt.Event(in.str(string(p.EventOf()))),
		result:  receipt.OutcomeResult(in.str(string(p.Outcome.Result))),
		reason:  receipt.Reason(in.str(clip(string(p.Outcome.Reason)))),
		bundle:  in.bundle(bundleRef(p.Bundle)),
		policy:  in.policy(p.Policy),
		storage: in.storage(p.Storage),
	}
	if !p.Time.Finished.IsZero() {
		rec.fin = p.Time.Finished.UnixNano()
	}
	if env, ok := parseDigest(r.EnvelopeSHA256); ok {
		rec.env = fileSum(env[:16])
	}
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
	}
	x := &recordExtra{change: p.PolicyChange}
	if p.FilesList != "" {
		x.filesList = clip(p.FilesList)
		x.filesSHA, _ = parseDigest(p.FilesSHA256)
	}
	if p.Logs != nil {
		x.logName = clip(p.Logs.Name)
		x.logSHA, _ = parseDigest(p.Logs.SHA256)
	}
	rec.deployed = p.FilesTotal > 0 || len(p.Files) > 0
	rec.pruned = p.Release != nil && len(p.Release.Pruned) > 0
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
		x.overrides = append(x.overrides, in.str(clip(o.Name)))
	}
	x.local = localFindings(rec, p, x.overrides)
	for _, im := range p.Images {
		if im.Outcome != receipt.ImageFailed {
			x.images = append(x.images, in.str(clip(im.Name)))
		}
	}
	if x.change != nil || x.overrides != nil || x.local != nil || x.filesList != "" || x.logName != "" || x.images != nil {
		rec.x = x
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
