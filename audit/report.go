package audit

import (
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"errors"
	"time"

	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

// ReportFormatVersion is the version of the JSON report
// (doc/schemas/audit-report.schema.json). Fields are only added within a
// version; renaming or removing one bumps it.
const ReportFormatVersion = 4

// Report is the result of an audit: plain data, stable JSON field names.
// Zones, entries, ledger bundles and findings are in a deterministic order
// that does not depend on file names, walk order or worker scheduling.
// Each zone's entries are read again from the receipts folder while the
// report is written, so that memory does not grow with their detail.
type Report struct {
	FormatVersion int       `json:"formatVersion"`
	GeneratedAt   time.Time `json:"generatedAt"`
	// Airlock is the version of airlock that audited; Options the
	// command-line options it was given.
	Airlock string   `json:"airlock"`
	Options []string `json:"options"`
	// Dir is the receipts folder as given.
	Dir string `json:"dir"`
	// Since and Until bound the entries reported (by time.started); zero
	// when not given. Signature and chain checks always cover the whole
	// folder.
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
	// Keys are the IDs of the receipt keys given, in the order given, then
	// those of the zone registers'.
	Keys []string `json:"keys"`
	// Policy is what the audit checked against: its rules, its gates and
	// its scope; PolicySHA256 names it (the attestation's policy digest).
	Policy       AuditPolicy   `json:"policy"`
	PolicySHA256 string        `json:"policySha256"`
	Summary      Summary       `json:"summary"`
	Zones        []Zone        `json:"zones"`
	Ledger       *Ledger       `json:"ledger,omitempty"`
	Evidence     []EvidenceRow `json:"evidence"`
	Findings     []Finding     `json:"findings"`

	// State is the audit state the audit read and the one it hands on
	// (--state); absent when it keeps none.
	State *StateReport `json:"state,omitempty"`

	// NextState is the audit state to keep (--state): the chain heads,
	// findings and acknowledgements; nil when the state given could not
	// be used (none may then be written).
	NextState *State `json:"-"`

	src     *source
	window  func(time.Time) bool
	flagged map[string]string // file → highest severity of its findings
	digest  string            // of the JSON report, once computed
}

// AuditPolicy is what an audit checked against: the rules (the audit
// package documentation at a version, AuditPolicyURI), the gates (--fail-on)
// and the scope. Its digest is the SHA-256 of its JSON encoding as
// encoding/json writes it compactly (fields in this order, no HTML
// escaping); the attestation names it.
type AuditPolicy struct {
	Rules string   `json:"rules"`
	Gates []string `json:"gates"`
	Scope Scope    `json:"scope"`
}

// Scope is what an audit covered, as it was given: the receipts folder,
// the zones (--zone; none: every zone there), the window (--since,
// --until), the receipt keys and zone registers, the ledger and its keys,
// the heads stated (--expect) and the audit state read (by the SHA-256 of
// its signed payload; none for --first-audit).
type Scope struct {
	Dir        string    `json:"dir"`
	Zones      []string  `json:"zones"`
	Since      time.Time `json:"since,omitzero"`
	Until      time.Time `json:"until,omitzero"`
	Keys       []string  `json:"keys"`
	Registers  []string  `json:"registers"`
	Ledger     string    `json:"ledger,omitempty"`
	LedgerKeys []string  `json:"ledgerKeys"`
	Expect     []string  `json:"expect"`
	State      string    `json:"state,omitempty"`
	FirstAudit bool      `json:"firstAudit,omitempty"`
}

// StateReport names the audit states of an audit: the one it read (the
// last audit's, verified with the state key) and the one it hands the next
// audit, each by the SHA-256 of its signed payload. A state's
// previousSha256 names the state before it, so the reports of successive
// audits show the chain of states; a state rolled back to an earlier one
// shows as a read state that is not the last report's written one.
type StateReport struct {
	File string `json:"file"`
	// First is true for --first-audit: no state was read.
	First bool `json:"first,omitempty"`
	// Problem is why the state file could not be used (then Written is
	// absent).
	Problem string    `json:"problem,omitempty"`
	Read    *StateRef `json:"read,omitempty"`
	Written *StateRef `json:"written,omitempty"`
}

// StateRef names one audit state.
type StateRef struct {
	SHA256    string    `json:"sha256"`
	Audits    int       `json:"audits"`
	UpdatedAt time.Time `json:"updatedAt"`
	// KeyID is the state key whose signature verified (read states).
	KeyID string `json:"keyId,omitempty"`
	// Acknowledgements counts the acknowledgements it holds.
	Acknowledgements int `json:"acknowledgements"`
}

// Summary counts what the audit saw.
type Summary struct {
	// OK is false when any finding fails a gate: every error that is not
	// acknowledged, and what --fail-on names (the report's policy.gates).
	OK bool `json:"ok"`
	// Failing counts the findings that fail a gate; Acknowledged those the
	// audit state acknowledges (they fail none).
	Failing      int `json:"failing"`
	Acknowledged int `json:"acknowledged"`
	// NotChecked names what this audit could not check, so that its PASS
	// does not claim it: "completeness" (a chain with no earlier head to
	// compare: no --state head or --expect for it) and "host-identity" (a
	// zone without its register: which key is which host's).
	NotChecked []string `json:"notChecked"`
	// Files is every file found under the receipts folder.
	Files int `json:"files"`
	// Receipts is the number of distinct receipts that verified (of the
	// audited zones).
	Receipts int `json:"receipts"`
	// Rejected is the number of files that look like receipts but failed
	// verification (unparseable, unknown-key, tampered, invalid, unreadable).
	Rejected int `json:"rejected"`
	// Duplicates are copies of a receipt, counted once.
	Duplicates int `json:"duplicates"`
	// Skipped are files that are not receipts (not-a-receipt, skipped).
	Skipped int `json:"skipped"`
	Zones   int `json:"zones"`
	// Applies, ControlChanges and Outcomes count receipts started within
	// [Since, Until].
	Applies        int      `json:"applies"`
	ControlChanges int      `json:"controlChanges"`
	Outcomes       Outcomes `json:"outcomes"`
	Errors         int      `json:"errors"`
	Warnings       int      `json:"warnings"`
	Infos          int      `json:"infos"`
	// Kinds counts findings by kind.
	Kinds map[string]int `json:"kinds"`
}

// Outcomes counts applies by outcome result.
type Outcomes struct {
	Applied        int `json:"applied"`
	AlreadyApplied int `json:"alreadyApplied"`
	Refused        int `json:"refused"`
	Failed         int `json:"failed"`
	RolledBack     int `json:"rolledBack"`
}

func (o *Outcomes) add(result receipt.OutcomeResult) {
	switch result {
	case receipt.Applied:
		o.Applied++
	case receipt.AlreadyApplied:
		o.AlreadyApplied++
	case receipt.Refused:
		o.Refused++
	case receipt.Failed:
		o.Failed++
	case receipt.RolledBack:
		o.RolledBack++
	}
}

func (o *Outcomes) addAll(p Outcomes) {
	o.Applied += p.Applied
	o.AlreadyApplied += p.AlreadyApplied
	o.Refused += p.Refused
	o.Failed += p.Failed
	o.RolledBack += p.RolledBack
}

func (o Outcomes) total() int {
	return o.Applied + o.AlreadyApplied + o.Refused + o.Failed + o.RolledBack
}

// Zone is one zone: the chains of its hosts.
type Zone struct {
	Name string `json:"name"`
	// Keys are the receipt keys that signed this zone's receipts; Hosts the
	// hosts its receipts name.
	Keys  []string `json:"keys"`
	Hosts []string `json:"hosts"`
	// Receipts counts the zone's distinct verified receipts in the folder.
	Receipts int `json:"receipts"`
	// Registered is true when a zone register (--zone-register) lists
	// the zone's hosts; MissingHosts are the registered hosts with no
	// receipt in the folder.
	Registered   bool     `json:"registered,omitempty"`
	MissingHosts []string `json:"missingHosts,omitempty"`
	// Genesis is true when every chain starts with its host's genesis
	// record; ChainOK when no chain has a gap, fork, reorder, restart or
	// zone- or host-mismatch finding.
	Genesis      bool      `json:"genesis"`
	ChainOK      bool      `json:"chainOk"`
	FirstStarted time.Time `json:"firstStarted"`
	LastStarted  time.Time `json:"lastStarted"`
	// Chains are the zone's hash chains, one per host, by host name.
	Chains []Chain `json:"chains"`
	// Outcomes, ControlChanges and Entries cover receipts started within
	// [Since, Until]; Entries are in chain order, chain by chain.
	Outcomes       Outcomes  `json:"outcomes"`
	ControlChanges int       `json:"controlChanges"`
	Entries        entryList `json:"entries"`
	// Applications are the zone's applications (release names), by name.
	Applications []Application `json:"applications"`

	order []*record
}

// Chain is one host's chain of receipts in a zone.
type Chain struct {
	Host string `json:"host"`
	// Registered is true when the zone register lists the host; Roles
	// are its roles (the register's, else those the head's policy
	// records).
	Registered bool     `json:"registered,omitempty"`
	Roles      []string `json:"roles,omitempty"`
	// Keys are the receipt keys that signed the chain.
	Keys     []string `json:"keys"`
	Receipts int      `json:"receipts"`
	FirstSeq uint64   `json:"firstSeq"`
	LastSeq  uint64   `json:"lastSeq"`
	// HeadSHA256 is the link digest of the receipt with the highest seq,
	// HeadFile that receipt. A missing newest receipt cannot be seen in the
	// folder: compare this with the host's chain head, or audit with
	// --state or --expect.
	HeadSHA256 string `json:"headSha256"`
	HeadFile   string `json:"headFile"`
	// PolicySHA256 is the trust.yaml digest the head records.
	PolicySHA256 string `json:"policySha256,omitempty"`
	// Genesis is true when the chain starts with the host's genesis record.
	Genesis bool `json:"genesis"`
	// ChainOK is true when the chain has no gap, fork, reorder, restart,
	// zone- or host-mismatch finding.
	ChainOK      bool      `json:"chainOk"`
	FirstStarted time.Time `json:"firstStarted"`
	LastStarted  time.Time `json:"lastStarted"`
	// Outcomes and ControlChanges cover receipts started within
	// [Since, Until].
	Outcomes       Outcomes `json:"outcomes"`
	ControlChanges int      `json:"controlChanges"`
}

// Apply is one entry of a zone's chain as the report shows it: an apply,
// a refused attempt, or a control change (genesis, policy commit). It
// keeps no step output beyond the masked tail of failed steps.
type Apply struct {
	File       string        `json:"file"`
	Zone       string        `json:"zone"`
	Host       string        `json:"host"`
	Seq        uint64        `json:"seq"`
	Event      receipt.Event `json:"event"`
	ReceiptID  string        `json:"receiptId"`
	SHA256     string        `json:"sha256"`
	PrevSHA256 string        `json:"prevSha256"`
	// KeyID is the receipt key whose signature verified.
	KeyID       string                `json:"keyId"`
	Started     time.Time             `json:"started"`
	Finished    time.Time             `json:"finished"`
	ClockSource string                `json:"clockSource,omitempty"`
	Clock       *receipt.Clock        `json:"clock,omitempty"`
	Applier     string                `json:"applier,omitempty"`
	Operator    receipt.Operator      `json:"operator"`
	Attributed  bool                  `json:"attributed"`
	Person      string                `json:"person"`
	Bundle      BundleRef             `json:"bundle"`
	Result      receipt.OutcomeResult `json:"result"`
	Reason      receipt.Reason        `json:"reason"`
	Message     string                `json:"message,omitempty"`
	Resumed     bool                  `json:"resumed,omitempty"`
	Overrides   []string              `json:"overrides,omitempty"`
	// FailedChecks are the verification checks that did not pass.
	FailedChecks []receipt.Check `json:"failedChecks,omitempty"`
	// Ledger is the reconciliation: "match" (by statement digest),
	// "not-in-ledger", "mismatch" (same bundle id, other statement),
	// "id-match" (no statement digest, as when the applier could not verify
	// the bundle, but the id it claims is in the ledger) or "unknown" (no
	// digest, id not in the ledger); empty when no ledger was given.
	Ledger       string                `json:"ledger,omitempty"`
	Policy       *receipt.Policy       `json:"policy,omitempty"`
	PolicyChange *receipt.PolicyChange `json:"policyChange,omitempty"`
	Release      *receipt.Release      `json:"release,omitempty"`
	FilesTotal   int                   `json:"filesTotal,omitempty"`
	FilesList    string                `json:"filesList,omitempty"`
	// Steps are at most MaxSteps steps; StepsOmitted counts the rest.
	Steps        []Step `json:"steps"`
	StepsOmitted int    `json:"stepsOmitted,omitempty"`
	// Flag is the highest severity of the findings about this entry.
	Flag string `json:"flag,omitempty"`
}

// BundleRef is what a receipt says about the bundle it applied: the
// receipt's own bundle fields, without the operator's source path.
type BundleRef struct {
	receipt.Bundle
}

// Approvers returns the key IDs that signed the bundle in the approve role.
func (b BundleRef) Approvers() []string {
	var out []string
	for _, s := range b.Signers {
		if s.Role == zone.RoleApprove {
			out = append(out, s.KeyID)
		}
	}
	return out
}

// ApproverNames returns the approvers as "Name (key)" or the key alone.
func (b BundleRef) ApproverNames() []string {
	var out []string
	for _, s := range b.Signers {
		if s.Role == zone.RoleApprove {
			out = append(out, signerLabel(s))
		}
	}
	return out
}

func signerLabel(s receipt.Signer) string {
	if s.Name == "" {
		return shortKey(s.KeyID)
	}
	return s.Name + " (" + shortKey(s.KeyID) + ")"
}

// Step is one step of an apply, without its output; Tail is the end of the
// masked output of a step that failed (why it failed).
type Step struct {
	Name     string             `json:"name"`
	Kind     string             `json:"kind"`
	When     string             `json:"when,omitempty"`
	Result   receipt.StepResult `json:"result"`
	ExitCode int                `json:"exitCode"`
	Attempts int                `json:"attempts"`
	Started  time.Time          `json:"started,omitzero"`
	Finished time.Time          `json:"finished,omitzero"`
	Error    string             `json:"error,omitempty"`
	Tail     string             `json:"tail,omitempty"`
}

// Ledger is the reconciliation with the builder's ledger.
type Ledger struct {
	Dir   string `json:"dir"`
	Files int    `json:"files"`
	// SignaturesChecked is true when ledger keys were given and every
	// accepted entry verified with one of them.
	SignaturesChecked bool `json:"signaturesChecked"`
	// Bundles are the distinct bundle statements issued within
	// [Since, Until], by name, channel and sequence.
	Bundles []LedgerBundle `json:"bundles"`
}

// Ledger bundle statuses.
const (
	StatusApplied      = "applied"       // applied (or already applied) on every audited host it is for
	StatusPartial      = "partial"       // applied on some of the audited hosts it is for, not on others
	StatusAttempted    = "attempted"     // only failed, rolled-back or refused applies
	StatusNeverApplied = "never-applied" // no receipt names it
	StatusNotAudited   = "not-audited"   // none of its target zones has receipts here
)

// LedgerBundle is one bundle the builder signed and what became of it.
type LedgerBundle struct {
	File            string    `json:"file"`
	StatementSHA256 string    `json:"statementSha256"`
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	Version         string    `json:"version"`
	Channel         string    `json:"channel"`
	Sequence        uint64    `json:"sequence"`
	IssuedAt        time.Time `json:"issuedAt"`
	Expires         time.Time `json:"expires"`
	Targets         []string  `json:"targets"`
	ChangeTicket    string    `json:"changeTicket,omitempty"`
	// SignedBy are the ledger keys whose signature verified (only with
	// ledger keys).
	SignedBy []string `json:"signedBy,omitempty"`
	Status   string   `json:"status"`
	// Hosts are, for each audited zone it targets, the hosts it is for
	// (the zone's hosts in the folder and in its register that its host:
	// and role: targets admit) and what became of it on each.
	Hosts []HostStatus `json:"hosts"`
	// Applies are every receipt in the folder that names this bundle, in
	// zone and chain order, regardless of Since and Until.
	Applies ApplyRefs `json:"applies"`
	// Images are the images the bundle carried (format 3), by name, and
	// ImagesNotPushed those of them that no receipt of the folder records
	// as pushed (or found present) by a push step of this bundle.
	Images          []string `json:"images,omitempty"`
	ImagesNotPushed []string `json:"imagesNotPushed,omitempty"`
}

// HostStatus is what became of a ledger bundle on one host it is for: the
// outcome of the newest receipt of the host's chain that names it, or
// "not-applied" when none does.
type HostStatus struct {
	Zone   string `json:"zone"`
	Host   string `json:"host"`
	Result string `json:"result"`
	Reason string `json:"reason,omitempty"`
	Seq    uint64 `json:"seq,omitempty"`
	File   string `json:"file,omitempty"`
}

// NotApplied is the HostStatus result of a host no receipt shows the
// bundle applied, attempted or refused on.
const NotApplied = "not-applied"

// ApplyRefs are the receipts that name a ledger bundle, kept as the
// audit's records and written as [ApplyRef] when the report is.
type ApplyRefs struct{ recs []*record }

// List returns the references.
func (a ApplyRefs) List() []ApplyRef {
	out := make([]ApplyRef, len(a.recs))
	for i, r := range a.recs {
		out[i] = applyRef(r)
	}
	return out
}

// MarshalJSONTo writes the references as an array of ApplyRef.
func (a ApplyRefs) MarshalJSONTo(enc *jsontext.Encoder) error {
	if err := enc.WriteToken(jsontext.BeginArray); err != nil {
		return err
	}
	for _, r := range a.recs {
		if err := jsonv2.MarshalEncode(enc, applyRef(r)); err != nil {
			return err
		}
	}
	return enc.WriteToken(jsontext.EndArray)
}

// ApplyRef points from a ledger bundle to a receipt.
type ApplyRef struct {
	Zone      string                `json:"zone"`
	Host      string                `json:"host"`
	Seq       uint64                `json:"seq"`
	File      string                `json:"file"`
	Started   time.Time             `json:"started"`
	Result    receipt.OutcomeResult `json:"result"`
	Reason    receipt.Reason        `json:"reason"`
	Operator  string                `json:"operator"`
	Approvers []string              `json:"approvers,omitempty"`
}

// OK reports whether the audit passed: no finding fails a gate (every
// error, and what --fail-on names), unless acknowledged.
func (r *Report) OK() bool { return r.Summary.OK }

// ErrProblems is wrapped by [Report.Err] when the audit did not pass.
var ErrProblems = errors.New("audit found problems")

type problemsError struct{ msg string }

func (e *problemsError) Error() string { return e.msg }
func (e *problemsError) Unwrap() error { return ErrProblems }

// operatorName is how an operator is shown: the name given with --operator,
// else the OS account.
func operatorName(o receipt.Operator) string {
	if o.Name != "" && o.User != "" && o.Name != o.User {
		return o.Name + " (" + o.User + ")"
	}
	if o.User != "" {
		return o.User
	}
	return o.Name
}
