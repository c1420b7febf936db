package audit

import (
	"errors"
	"fmt"
	"time"

	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

// ReportFormatVersion is the version of the JSON report. Fields are only
// added within a version; renaming or removing one bumps it.
const ReportFormatVersion = 1

// Report is the result of an audit: plain data, stable JSON field names.
// Zones, applies, ledger bundles and findings are in a deterministic order
// that does not depend on file names, walk order or worker scheduling.
type Report struct {
	FormatVersion int       `json:"formatVersion"`
	GeneratedAt   time.Time `json:"generatedAt"`
	// Dir is the receipts folder as given.
	Dir string `json:"dir"`
	// Since and Until bound the applies reported (by time.started); zero
	// when not given. Signature and chain checks always cover the whole
	// folder.
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
	// Keys are the IDs of the receipt keys given, in the order given.
	Keys     []string  `json:"keys"`
	Summary  Summary   `json:"summary"`
	Zones    []Zone    `json:"zones"`
	Ledger   *Ledger   `json:"ledger,omitempty"`
	Findings []Finding `json:"findings"`
}

// Summary counts what the audit saw.
type Summary struct {
	// OK is false when any finding has severity "error".
	OK bool `json:"ok"`
	// Files is every file found under the receipts folder.
	Files int `json:"files"`
	// Receipts is the number of distinct receipts that verified.
	Receipts int `json:"receipts"`
	// Rejected is the number of files that look like receipts but failed
	// verification (unparseable, unknown-key, tampered, invalid, unreadable).
	Rejected int `json:"rejected"`
	// Duplicates are byte-identical copies of a receipt, counted once.
	Duplicates int `json:"duplicates"`
	// Skipped are files that are not receipts (not-a-receipt, skipped).
	Skipped int `json:"skipped"`
	Zones   int `json:"zones"`
	// Applies and Outcomes count receipts started within [Since, Until].
	Applies  int      `json:"applies"`
	Outcomes Outcomes `json:"outcomes"`
	Errors   int      `json:"errors"`
	Warnings int      `json:"warnings"`
	Infos    int      `json:"infos"`
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

// Zone is one zone's chain of receipts.
type Zone struct {
	Name string `json:"name"`
	// Keys are the receipt keys that signed this zone's receipts.
	Keys []string `json:"keys"`
	// Receipts counts the zone's distinct verified receipts in the folder.
	Receipts int    `json:"receipts"`
	FirstSeq uint64 `json:"firstSeq"`
	LastSeq  uint64 `json:"lastSeq"`
	// HeadSHA256 is the SHA-256 of the receipt with the highest seq. A
	// missing newest receipt cannot be seen in the folder: compare this with
	// the zone's chain head.
	HeadSHA256 string `json:"headSha256"`
	// ChainOK is true when the zone has no gap, fork, reorder, restart or
	// zone-mismatch finding.
	ChainOK      bool      `json:"chainOk"`
	FirstStarted time.Time `json:"firstStarted"`
	LastStarted  time.Time `json:"lastStarted"`
	// Outcomes and Applies cover receipts started within [Since, Until];
	// Applies are in chain order.
	Outcomes Outcomes `json:"outcomes"`
	Applies  []Apply  `json:"applies"`
}

// Apply is a summary of one verified receipt: one apply, or one refused
// attempt, in a zone. It keeps no step output, so memory stays small.
type Apply struct {
	File       string `json:"file"`
	Zone       string `json:"zone"`
	Seq        uint64 `json:"seq"`
	ReceiptID  string `json:"receiptId"`
	SHA256     string `json:"sha256"`
	PrevSHA256 string `json:"prevSha256"`
	// KeyID is the receipt key whose signature verified.
	KeyID       string                `json:"keyId"`
	Started     time.Time             `json:"started"`
	Finished    time.Time             `json:"finished"`
	ClockSource string                `json:"clockSource,omitempty"`
	Host        string                `json:"host"`
	Applier     string                `json:"applier,omitempty"`
	Operator    receipt.Operator      `json:"operator"`
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
	Ledger string `json:"ledger,omitempty"`
	// Steps are at most MaxSteps steps; StepsOmitted counts the rest.
	Steps        []Step `json:"steps"`
	StepsOmitted int    `json:"stepsOmitted,omitempty"`
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

// Step is one step of an apply, without its output.
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
	StatusApplied      = "applied"       // applied (or already applied) in at least one zone
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
	// Applies are every receipt in the folder that names this bundle, in
	// zone and chain order, regardless of Since and Until.
	Applies []ApplyRef `json:"applies"`
}

// ApplyRef points from a ledger bundle to a receipt.
type ApplyRef struct {
	Zone      string                `json:"zone"`
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

// Err returns nil when the audit passed, and otherwise an error that counts
// the problems by kind, such as
// "audit: 2 problems (1 gap, 1 tampered receipt)".
func (r *Report) Err() error {
	if r.OK() {
		return nil
	}
	n, phrase := countPhrase(r.Findings, SeverityError)
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
