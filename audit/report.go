package audit

import (
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"errors"
	"fmt"
	"time"

	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

// ReportFormatVersion is the version of the JSON report
// (doc/schemas/audit-report.schema.json). Fields are only added within a
// version; renaming or removing one bumps it.
const ReportFormatVersion = 3

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
	Keys     []string      `json:"keys"`
	Summary  Summary       `json:"summary"`
	Zones    []Zone        `json:"zones"`
	Ledger   *Ledger       `json:"ledger,omitempty"`
	Evidence []EvidenceRow `json:"evidence"`
	Findings []Finding     `json:"findings"`

	// NextState is the audit state to keep (--state): the chain heads.
	NextState *State `json:"-"`

	src     *source
	window  func(time.Time) bool
	flagged map[string]string // file → highest severity of its findings
	digest  string            // of the JSON report, once computed
}

// Summary counts what the audit saw.
type Summary struct {
	// OK is false when any finding has severity "error".
	OK bool `json:"ok"`
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

// OK reports whether the audit passed: no finding of severity "error".
func (r *Report) OK() bool { return r.Summary.Errors == 0 }

// ErrProblems is wrapped by [Report.Err] when the audit did not pass.
var ErrProblems = errors.New("audit found problems")

// Fail-on levels for [Report.Err].
const (
	FailOnError   = SeverityError
	FailOnWarning = SeverityWarning
)

// Err returns nil when the audit passed at the given level (FailOnError:
// no error; FailOnWarning: no error and no warning), and otherwise an
// error that counts the problems by kind, such as
// "audit: 2 problems (1 gap, 1 tampered receipt)".
func (r *Report) Err(failOn string) error {
	n, phrase := countPhrase(r.Findings, SeverityError)
	if failOn == FailOnWarning {
		w, wp := countPhrase(r.Findings, SeverityWarning)
		if w > 0 && n == 0 {
			return &problemsError{msg: fmt.Sprintf("audit: %s (%s) with --fail-on warning", plural(w, "warning", "warnings"), wp)}
		}
	}
	if n == 0 {
		return nil
	}
	return &problemsError{msg: fmt.Sprintf("audit: %s (%s)", plural(n, "problem", "problems"), phrase)}
}

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
