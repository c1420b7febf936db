// Package receipt owns the receipt format: the signed audit receipt that
// `airlock apply` writes for every apply — succeeded, failed, rolled back
// or refused — read back by `airlock receipt verify` and `airlock audit`,
// and the files beside it (the deployed file list and the encrypted log).
//
// A receipt is a DSSE envelope (payload type application/vnd.in-toto+json)
// holding an in-toto Statement v1 whose predicate type is [PredicateType],
// signed by the zone's receipt key (and, when the operator co-signs, by the
// operator's key too). Receipts of one zone form a hash chain: each names
// its sequence number and the link digest of the previous receipt (see
// [LinkDigest]). Besides applies, the chain holds the zone's control
// changes: its genesis record and every committed change of its trust
// policy ([Event]).
package receipt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/intoto"
	"airlock.dev/airlock/internal/jsonx"
	"airlock.dev/airlock/internal/keys"
)

const (
	// StatementType is the in-toto Statement v1 type.
	StatementType = intoto.StatementType
	// PredicateType identifies an airlock receipt predicate.
	PredicateType = "https://airlock.dev/receipt/v1"
	// FormatVersion is the receipt predicate version this code writes. It
	// reads every version from MinFormatVersion to FormatVersion.
	FormatVersion = 3
	// MinFormatVersion is the oldest receipt version this code reads.
	MinFormatVersion = 1
	// MaxSize caps a receipt envelope before it is parsed.
	MaxSize = 8 << 20
	// TailSize is how many bytes of masked output a step keeps in the receipt.
	TailSize = 2048
	// MaxListedFiles is how many deployed files a receipt lists itself; the
	// full list is a file beside it, named and digested in the receipt.
	MaxListedFiles = 1000
	// MaxListedSources is how many variable sources a receipt lists: those
	// the zone replaced first, so that a release of any size gives a
	// receipt of bounded size.
	MaxListedSources = 1000
)

// OutcomeResult is the result of an apply as a whole.
type OutcomeResult string

// Outcome results.
const (
	Applied        OutcomeResult = "applied"         // every step ran; the release is current
	AlreadyApplied OutcomeResult = "already-applied" // the same bundle was applied before; nothing ran
	Refused        OutcomeResult = "refused"         // nothing ran: a check failed, the bundle could not be read, or the apply was interrupted before its first step
	Failed         OutcomeResult = "failed"          // a step failed and the zone could not be fully rolled back
	RolledBack     OutcomeResult = "rolled-back"     // a step failed or the apply was interrupted during its steps; the previous release is current
	Recorded       OutcomeResult = "recorded"        // a control change (genesis, policy commit) was recorded
)

// OutcomeResults lists every outcome result.
var OutcomeResults = []OutcomeResult{Applied, AlreadyApplied, Refused, Failed, RolledBack, Recorded}

// Reason is a stable code for why an apply ended as it did. A refusal
// because a check failed has that check's name as its reason.
type Reason string

// Reasons other than check names.
const (
	ReasonOK               Reason = "ok"
	ReasonAlreadyApplied   Reason = "already-applied"
	ReasonStepFailed       Reason = "step-failed"
	ReasonInterrupted      Reason = "interrupted"
	ReasonBundleUnreadable Reason = "bundle-unreadable" // the bundle could not be opened
	ReasonUnverifiable     Reason = "unverifiable"      // verification could not finish (an I/O error)
	ReasonStaging          Reason = "staging"           // the payload could not be staged (an I/O error, not a mismatch)
	// ReasonPolicyUncommitted: trust.yaml differs from the policy the chain
	// records; `airlock zone commit-policy` must record the change first.
	ReasonPolicyUncommitted Reason = "policy-uncommitted"
	// ReasonOperatorUnsigned: the policy requires an operator co-signature
	// and none was given.
	ReasonOperatorUnsigned Reason = "operator-unsigned"
	// ReasonOperatorUnknown: the operator key given is not one of the
	// policy's operators.
	ReasonOperatorUnknown Reason = "operator-unknown"
	ReasonStateUnwritable Reason = "state-unwritable" // the state directory could not be written (full, read-only) during the apply
	// ReasonTwoPerson: a policy commit that weakens a policy requiring
	// two persons for that lacks a second operator's co-signature.
	ReasonTwoPerson Reason = "two-person"
	// ReasonTargetOwned (version 3): a deploy step's target belongs to
	// another application (the one that first deployed there), or lies
	// inside or around one that does.
	ReasonTargetOwned Reason = "target-owned"
	// ReasonBaseMissing (version 3): a delta bundle's base content is not
	// in the host's content store, or was changed there.
	ReasonBaseMissing Reason = "base-missing"
)

// Reasons lists every reason: the codes above, then every check name.
func Reasons() []Reason {
	out := []Reason{ReasonOK, ReasonAlreadyApplied, ReasonStepFailed, ReasonInterrupted,
		ReasonBundleUnreadable, ReasonUnverifiable, ReasonStaging,
		ReasonPolicyUncommitted, ReasonOperatorUnsigned, ReasonOperatorUnknown, ReasonStateUnwritable, ReasonTwoPerson, ReasonTargetOwned,
		ReasonBaseMissing}
	for _, c := range CheckNames {
		out = append(out, Reason(c))
	}
	return out
}

// CheckName names one check of a bundle, in the order they run (see
// doc/design.md, "the order of checks").
type CheckName string

// Check names.
const (
	CheckEnvelope      CheckName = "envelope"
	CheckSignature     CheckName = "signature"
	CheckPayloadType   CheckName = "payload-type"
	CheckPredicateType CheckName = "predicate-type"
	CheckFormat        CheckName = "format-version"
	CheckExpiry        CheckName = "expiry"
	CheckTarget        CheckName = "target"
	CheckSequence      CheckName = "sequence"
	CheckManifest      CheckName = "manifest"
	CheckParts         CheckName = "parts"
	CheckDecrypt       CheckName = "decrypt"
	CheckExtract       CheckName = "extract"
	CheckVariables     CheckName = "variables"
)

// CheckNames lists every check, in the order they run.
var CheckNames = []CheckName{CheckEnvelope, CheckSignature, CheckPayloadType, CheckPredicateType,
	CheckFormat, CheckExpiry, CheckTarget, CheckSequence, CheckManifest, CheckParts,
	CheckDecrypt, CheckExtract, CheckVariables}

// CheckResult is the result of one check.
type CheckResult string

// Check results.
const (
	Pass CheckResult = "pass"
	Fail CheckResult = "fail"
	Skip CheckResult = "skip"
)

// CheckResults lists every check result.
var CheckResults = []CheckResult{Pass, Fail, Skip}

// StepResult is the result of one step.
type StepResult string

// Step results.
const (
	StepSucceeded StepResult = "succeeded"
	StepFailed    StepResult = "failed"
	StepTimedOut  StepResult = "timed-out"
	StepSkipped   StepResult = "skipped" // its when: did not match
)

// StepResults lists every step result.
var StepResults = []StepResult{StepSucceeded, StepFailed, StepTimedOut, StepSkipped}

// Statement is the in-toto Statement carrying a receipt.
type Statement = intoto.Statement[Predicate]

// Subject is an in-toto ResourceDescriptor reduced to name and digest.
type Subject = intoto.Subject

// Predicate is the body of a receipt. Fields added in format version 2 are
// optional, so a version 1 receipt decodes unchanged.
type Predicate struct {
	FormatVersion int    `json:"formatVersion"`
	ReceiptID     string `json:"receiptId"`
	// Event is what the chain entry records: an apply (also when empty, as
	// in version 1), the zone's genesis, or a policy commit.
	Event      Event    `json:"event,omitempty"`
	Zone       string   `json:"zone"`
	Seq        uint64   `json:"seq"`
	PrevSHA256 string   `json:"prevSha256"` // "" only for seq 1
	Bundle     Bundle   `json:"bundle"`
	Operator   Operator `json:"operator"`
	Host       Host     `json:"host"`
	Applier    Applier  `json:"applier"`
	Time       Times    `json:"time"`
	Checks     []Check  `json:"checks"`
	Steps      []Step   `json:"steps"`
	Files      []File   `json:"files,omitempty"` // the first MaxListedFiles deployed files, by path
	FilesTotal int      `json:"filesTotal,omitempty"`
	// FilesSHA256 is the digest of the full list (FilesList).
	FilesSHA256 string   `json:"filesSha256,omitempty"`
	FilesList   string   `json:"filesList,omitempty"` // beside the receipt: "<sha256>  <path>" lines
	Variables   []string `json:"variables,omitempty"` // names only, never values
	// VariableSources (version 2) says where the value of every declared
	// variable came from, by name, in name order; never a value. Beyond
	// MaxListedSources, those the zone replaced come first, and
	// VariableSourcesTotal counts them all.
	VariableSources      []VariableSource `json:"variableSources,omitempty"`
	VariableSourcesTotal int              `json:"variableSourcesTotal,omitempty"`
	Outcome              Outcome          `json:"outcome"`
	Logs                 *LogRef          `json:"logs,omitempty"`
	Resumed              bool             `json:"resumed,omitempty"`
	Release              *Release         `json:"release,omitempty"`  // the last deploy switch (the first, after a rollback)
	Releases             []Release        `json:"releases,omitempty"` // format 2: every deploy switch, in step order
	Reapply              bool             `json:"reapply,omitempty"`  // --force-reapply was given
	Override             []Override       `json:"overrides,omitempty"`
	// LeftRunning (format 3) lists the processes the steps started that
	// were still running when the apply ended: a daemon a step started.
	// After a failure or an interruption the steps' processes are stopped
	// first, so these are what the back-out steps started.
	LeftRunning []Process `json:"leftRunning,omitempty"`
	// Policy is the trust policy in force (version 2): the digest of
	// trust.yaml and what it says. For a policy commit, the new policy.
	Policy *Policy `json:"policy,omitempty"`
	// PolicyChange is set on a policy commit: what changed from the
	// previous policy.
	PolicyChange *PolicyChange `json:"policyChange,omitempty"`
	// Storage is how the zone stores its receipts (PCI DSS 10.3.1).
	Storage *Storage `json:"storage,omitempty"`
	// Images are the images push steps pushed (format 3), each once: by
	// image, the last push of it.
	Images []Image `json:"images,omitempty"`
	// Inventory (version 3) is what the host holds after the apply and
	// can reuse, listed beside the receipt (see Inventory).
	Inventory *Inventory `json:"inventory,omitempty"`
	// Delta (version 3) says the bundle applied was a delta, and its base.
	Delta *Delta `json:"delta,omitempty"`
}

// Bundle says which bundle the apply was about. When Verified is false the
// fields come from a statement whose signature did not verify (or could not
// be read) and are only what it claimed.
type Bundle struct {
	Verified bool   `json:"verified"`
	Source   string `json:"source,omitempty"` // path the operator gave
	// StatementSHA256 is the hex SHA-256 of the bundle's in-toto Statement
	// (the DSSE payload), which stays the same when signatures are added, so
	// it matches the builder's ledger copy.
	StatementSHA256 string `json:"statementSha256,omitempty"`
	BundleRef
	IssuedAt time.Time `json:"issuedAt,omitzero"`
	Expires  time.Time `json:"expires,omitzero"`
	Targets  []string  `json:"targets,omitempty"`
	Signers  []Signer  `json:"signers,omitempty"`
	Change
}

// BundleRef is what names a bundle wherever airlock reports one: in a
// receipt, in status and history. Its members are those of a receipt's
// bundle, omitted when empty (a control record names no bundle).
type BundleRef struct {
	ID       string `json:"id,omitempty"`
	Name     string `json:"name,omitempty"`
	Version  string `json:"version,omitempty"`
	Channel  string `json:"channel,omitempty"`
	Sequence uint64 `json:"sequence,omitempty"`
}

// Change is the change record of the bundle's statement (PCI DSS 6.5.1):
// the ticket and reason, and from version 2 the security impact, the
// back-out and the test evidence.
type Change struct {
	ChangeTicket         string         `json:"changeTicket,omitempty"`
	ChangeReason         string         `json:"changeReason,omitempty"`
	ChangeSecurityImpact string         `json:"changeSecurityImpact,omitempty"`
	ChangeBackout        string         `json:"changeBackout,omitempty"`
	ChangeTestEvidence   []TestEvidence `json:"changeTestEvidence,omitempty"`
}

// TestEvidence is a file of the release that documents the change's tests,
// carried in the payload and hashed in the manifest.
type TestEvidence struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// Signer is a key that signed the bundle and the role it counted for; Name
// is the person trust.yaml gives for the key (version 2).
type Signer struct {
	KeyID string `json:"keyid"`
	Role  string `json:"role"`
	Name  string `json:"name,omitempty"`
}

// Operator identifies who ran the apply (PCI DSS 10.2.2 user
// identification): the OS account, what the system knows of the person
// behind it, and, when the operator co-signed the receipt, their key.
type Operator struct {
	User string `json:"user"`           // OS account
	UID  string `json:"uid"`            // OS user id (SID on Windows)
	Name string `json:"name,omitempty"` // --operator
	Note string `json:"note,omitempty"` // --note
	// SudoUser and SudoUID are the account that ran sudo (version 2).
	SudoUser string `json:"sudoUser,omitempty"`
	SudoUID  string `json:"sudoUid,omitempty"`
	// LoginUID is the kernel's login user id (Linux audit, loginuid), which
	// su and sudo do not change; LoginUser its account name.
	LoginUID  string `json:"loginUid,omitempty"`
	LoginUser string `json:"loginUser,omitempty"`
	// Terminal is the controlling terminal, if any.
	Terminal string `json:"terminal,omitempty"`
	// Key is the operator's co-signing key (apply --operator-key): the
	// envelope carries a signature by it, which Verify checks.
	Key *OperatorKey `json:"key,omitempty"`
	// Witness (version 3) is a second person's co-signing key, for a
	// policy commit that weakens a policy requiring two persons for that
	// (zone commit-policy --witness-key): the envelope carries a
	// signature by it too, which Verify checks.
	Witness *OperatorKey `json:"witness,omitempty"`
}

// OperatorKey is the key an operator co-signed a receipt with.
type OperatorKey struct {
	KeyID string `json:"keyid"`
	// Name is the person trust.yaml's operators list gives for the key.
	Name string `json:"name"`
	// PublicKey is the key in PEM, so that an auditor can check the
	// co-signature without the zone's files.
	PublicKey string `json:"publicKey"`
}

// Host is where the apply ran (origination).
type Host struct {
	Name string `json:"name"`
	OS   string `json:"os"`
	Arch string `json:"arch"`
}

// Applier is the program that ran the apply.
type Applier struct {
	Version string `json:"version"`
	SHA256  string `json:"sha256,omitempty"`
}

// Times are in UTC; Source names the clock.
type Times struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Source   string    `json:"source"`
	// Clock is the kernel's clock synchronisation state when the apply
	// started (version 2; absent where it cannot be read).
	Clock *Clock `json:"clock,omitempty"`
}

// Clock is the clock synchronisation state (PCI DSS 10.6).
type Clock struct {
	// Synchronised is the kernel's view: a time service disciplines the
	// clock and its estimated error is bounded.
	Synchronised bool `json:"synchronised"`
	// EstimatedErrorMicros and MaxErrorMicros are the kernel's estimated
	// and maximum error of the clock, in microseconds.
	EstimatedErrorMicros int64 `json:"estimatedErrorMicros"`
	MaxErrorMicros       int64 `json:"maxErrorMicros"`
	// Service is the time service found running (chronyd,
	// systemd-timesyncd, ntpd, …), when one could be detected.
	Service string `json:"service,omitempty"`
	// Method is how the state was read (adjtimex).
	Method string `json:"method"`
}

// Storage is how the zone keeps its receipts, as found when the receipt
// was written: modes of the receipts folder and of receipt files.
type Storage struct {
	DirMode  string `json:"dirMode"`
	FileMode string `json:"fileMode"`
}

// Check is one verification check and its result.
type Check struct {
	Name   CheckName   `json:"name"`
	Result CheckResult `json:"result"`
	Detail string      `json:"detail,omitempty"`
}

// Step is one executed (or skipped) step.
type Step struct {
	Name         string     `json:"name"`
	Kind         string     `json:"kind"` // the step kind in the manifest: run | script | deploy | check
	When         string     `json:"when"` // success | failure | always
	Started      time.Time  `json:"started,omitzero"`
	Finished     time.Time  `json:"finished,omitzero"`
	Attempts     int        `json:"attempts"`
	ExitCode     int        `json:"exitCode"`
	Result       StepResult `json:"result"`
	StdoutSHA256 string     `json:"stdoutSha256,omitempty"`
	StderrSHA256 string     `json:"stderrSha256,omitempty"`
	Tail         string     `json:"tail,omitempty"` // last TailSize bytes of masked output
	Error        string     `json:"error,omitempty"`

	// Format version 2: what a check step polled (attempts are Attempts).
	Check      string `json:"check,omitempty"`      // the URL or HOST:PORT, references resolved, secrets masked
	LastStatus int    `json:"lastStatus,omitempty"` // HTTP status of the last attempt that got a response
	Duration   string `json:"duration,omitempty"`   // how long the check polled, such as 4.02s
}

// File is a deployed file: its path and its digest after substitution;
// from version 2 also its mode, and the owner and group when a files: rule
// of the deploy step set them (as the rule names them).
//
// From version 3, a file into which a sensitive value went (a sensitive
// variable or step output substituted, or written by structured
// replacement) has no SHA256: its plain digest would let anyone who
// reads the receipt confirm guesses of the secret offline. It records
// instead the digest of the file as shipped (TemplateSHA256, the
// manifest's) and HMACSHA256, an HMAC-SHA-256 of the file as deployed
// keyed by a key that never leaves the host (HMACKey names it), with
// which the host can tell whether the file still matches.
type File struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256,omitempty"`
	Mode   string `json:"mode,omitempty"` // four octal digits, such as 0640
	Owner  string `json:"owner,omitempty"`
	Group  string `json:"group,omitempty"`
	// Format version 3: the digests of a file holding a secret.
	TemplateSHA256 string `json:"templateSha256,omitempty"`
	HMACSHA256     string `json:"hmacSha256,omitempty"`
	HMACKey        string `json:"hmacKey,omitempty"`
}

// Keyed reports whether the file is recorded by a keyed digest (it holds
// a secret) rather than by its SHA-256.
func (f File) Keyed() bool { return f.HMACSHA256 != "" }

// Subject is the in-toto subject of a deployed file: its path and its
// sha256, or for a file holding a secret its keyed digest, under the
// algorithm name SubjectHMAC, never the plain digest.
func (f File) Subject() Subject {
	if f.Keyed() {
		return Subject{Name: f.Path, Digest: map[string]string{SubjectHMAC: f.HMACSHA256}}
	}
	return intoto.SHA256(f.Path, f.SHA256)
}

// SubjectHMAC is the digest algorithm name of a keyed file digest in a
// receipt's subjects.
const SubjectHMAC = "hmac-sha256"

// Origin is where the value of a variable came from.
type Origin string

// Origins of a variable's value, from the least specific: the bundle's
// value, its value for the zone, for a role of the host or for the host
// (all signed with the bundle), then the zone's own: trust.yaml's
// variables and the --var-file.
const (
	OriginBundle     Origin = "bundle"
	OriginBundleZone Origin = "bundle-zone"
	OriginBundleRole Origin = "bundle-role"
	OriginBundleHost Origin = "bundle-host"
	OriginTrust      Origin = "trust"
	// OriginTrustApplication (version 3): trust.yaml's variables of the
	// application (applications.NAME.variables), Scope naming it.
	OriginTrustApplication Origin = "trust-application"
	OriginVarFile          Origin = "var-file"
)

// Origins lists every origin, from the least specific.
var Origins = []Origin{OriginBundle, OriginBundleZone, OriginBundleRole, OriginBundleHost, OriginTrust, OriginTrustApplication, OriginVarFile}

// Zone reports whether a value of this origin comes from the zone rather
// than from the signed bundle.
func (o Origin) Zone() bool {
	return o == OriginTrust || o == OriginTrustApplication || o == OriginVarFile
}

// VariableSource is where the value of one declared variable came from. It
// never holds the value.
type VariableSource struct {
	Name   string `json:"name"`
	Origin Origin `json:"origin"`
	// Scope is the zone, role or host of a bundle-zone, bundle-role or
	// bundle-host value, the application of a trust-application one.
	Scope string `json:"scope,omitempty"`
	// File and SHA256 are the zone file that gave the value (trust.yaml or
	// the --var-file, as the operator named it) and the digest of its bytes.
	File   string `json:"file,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// FromFile is the file kept in the zone that held the value, when
	// File names it ({fromFile: PATH}); its digest is not recorded, since
	// it would let anyone test guesses of the value.
	FromFile string `json:"fromFile,omitempty"`
	// Replaced is true when a value of the zone replaced the one the
	// bundle signed for this host.
	Replaced bool `json:"replaced,omitempty"`
}

// Where says where the value came from, as plan shows it: "bundle",
// "bundle byZone ZONE", "bundle byRole ROLE", "bundle byHost HOST", or the
// zone file (trust.yaml, --var-file) as named — "application NAME" after
// trust.yaml for an application's value —, followed by "fromFile PATH"
// when the value was read from a file it names.
func (s VariableSource) Where() string {
	switch s.Origin {
	case OriginBundleZone:
		return "bundle byZone " + s.Scope
	case OriginBundleRole:
		return "bundle byRole " + s.Scope
	case OriginBundleHost:
		return "bundle byHost " + s.Scope
	case OriginTrust, OriginTrustApplication, OriginVarFile:
		w := s.File
		if s.Origin == OriginTrustApplication {
			w += " application " + s.Scope
		}
		if s.FromFile != "" {
			w += " fromFile " + s.FromFile
		}
		return w
	}
	return string(s.Origin)
}

// Outcome is the result of the apply as a whole.
type Outcome struct {
	Result  OutcomeResult `json:"result"`
	Reason  Reason        `json:"reason"`
	Message string        `json:"message,omitempty"`
}

// Process is a process the steps of an apply left running.
type Process struct {
	PID  int    `json:"pid"`
	Name string `json:"name"`           // the kernel's name of it (at most 15 bytes)
	Step string `json:"step,omitempty"` // the step after which it was first seen
}

// Release records the deploy switch: what was current before and after,
// and the release directories removed by keep (PCI DSS 10.2.1.7).
type Release struct {
	Previous string   `json:"previous,omitempty"`
	Current  string   `json:"current,omitempty"`
	Pruned   []string `json:"pruned,omitempty"`
	// Target, format version 2: the deploy target directory whose current
	// link this is.
	Target string `json:"target,omitempty"`
	// Application (version 3) is the application the target belongs to:
	// the release name of the bundle that first deployed there.
	Application string `json:"application,omitempty"`
	// Adopted (version 3): the target had no owner recorded (its releases
	// were installed before owners were recorded), and this apply's
	// application took it.
	Adopted bool `json:"adopted,omitempty"`
}

// Override records an operator decision that bypassed a default refusal.
type Override struct {
	Name   string `json:"name"` // force-reapply | allow-rollback | clock-override
	Detail string `json:"detail,omitempty"`
}

// LogRef names the age-encrypted full log written beside the receipt.
type LogRef struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// Receipt is a parsed receipt.
type Receipt struct {
	Statement Statement
	// SHA256 is the receipt's link digest, the value the next receipt's
	// PrevSHA256 names (see LinkDigest).
	SHA256 string
	// EnvelopeSHA256 is the hex SHA-256 of the envelope bytes as read.
	EnvelopeSHA256 string
	// Signer is the key that signed it; nil for Parse.
	Signer *keys.PublicKey
	// Operator is the operator key whose co-signature verified (Verify,
	// when the predicate names one).
	Operator *keys.PublicKey
	// Witness is the witness key whose co-signature verified (Verify,
	// when the predicate names one).
	Witness *keys.PublicKey
}

// Predicate returns the receipt's predicate.
func (r *Receipt) Predicate() *Predicate { return &r.Statement.Predicate }

// VerifyError is a receipt that failed verification (bad signature, wrong
// type or shape). It is distinct from I/O errors.
type VerifyError struct {
	Reason string
	Err    error
}

func (e *VerifyError) Error() string {
	if e.Err != nil {
		return "receipt verification failed: " + e.Reason + ": " + e.Err.Error()
	}
	return "receipt verification failed: " + e.Reason
}

func (e *VerifyError) Unwrap() error { return e.Err }

// Sign wraps p in a Statement with the given subjects and signs it with s,
// then with each cosigner (the operator's key). It returns the envelope
// bytes to write.
func Sign(p *Predicate, subjects []Subject, s *keys.Signer, cosigners ...*keys.Signer) ([]byte, error) {
	if subjects == nil {
		subjects = []Subject{}
	}
	st := Statement{Type: StatementType, Subject: subjects, PredicateType: PredicateType, Predicate: *p}
	st.Predicate.FormatVersion = FormatVersion
	payload, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encode receipt: %w", err)
	}
	env, err := dsse.Sign(dsse.InTotoPayloadType, payload, append([]*keys.Signer{s}, cosigners...)...)
	if err != nil {
		return nil, fmt.Errorf("sign receipt: %w", err)
	}
	return dsse.Marshal(env)
}

// LinkDigest is the digest by which the next receipt of the chain names
// this one. For format version 2 and later it is the hex SHA-256 of the
// signed statement (the DSSE payload), so that re-encoding an envelope
// (whitespace, field order, added signatures) does not break the chain
// while any change of content does. For version 1 it is the SHA-256 of
// the envelope bytes as written, as version 1 chains were made.
func LinkDigest(formatVersion int, payload, envelope []byte) string {
	b := payload
	if formatVersion < 2 {
		b = envelope
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Verify reads an envelope from data and checks that one of the given keys
// signed it, that it is an airlock receipt of a known format, and that it is
// well formed. When the predicate names an operator key, the envelope must
// carry a valid signature by that key too. Only the signed payload is used.
func Verify(data []byte, trusted []*keys.PublicKey) (*Receipt, error) {
	if len(data) > MaxSize {
		return nil, &VerifyError{Reason: fmt.Sprintf("larger than %d bytes", MaxSize)}
	}
	env, err := dsse.Read(bytes.NewReader(data), MaxSize)
	if err != nil {
		return nil, &VerifyError{Reason: "envelope", Err: err}
	}
	if env.PayloadType != dsse.InTotoPayloadType {
		return nil, &VerifyError{Reason: fmt.Sprintf("payload type %q, want %q", env.PayloadType, dsse.InTotoPayloadType)}
	}
	v, err := dsse.Verify(env, trusted)
	if err != nil {
		return nil, &VerifyError{Reason: "signature", Err: err}
	}
	r, err := decode(v.Payload, data)
	if err != nil {
		return nil, err
	}
	op := r.Predicate().Operator
	for _, k := range v.Signers {
		// A co-signature does not make a receipt: a receipt key must
		// have signed it too.
		if (op.Key == nil || k.ID() != op.Key.KeyID) && (op.Witness == nil || k.ID() != op.Witness.KeyID) {
			r.Signer = k
			break
		}
	}
	if r.Signer == nil {
		return nil, &VerifyError{Reason: "signature", Err: errors.New("signed only by co-signing keys, not by a receipt key")}
	}
	if op.Key != nil {
		if r.Operator, err = verifyOperator(env, op.Key); err != nil {
			return nil, err
		}
	}
	if w := op.Witness; w != nil {
		if op.Key == nil || w.KeyID == op.Key.KeyID {
			return nil, &VerifyError{Reason: "witness", Err: errors.New("a witness needs an operator's co-signature by another key")}
		}
		if r.Witness, err = verifyOperator(env, w); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// verifyOperator checks the operator's co-signature on env with the key
// the signed predicate names.
func verifyOperator(env *dsse.Envelope, ok *OperatorKey) (*keys.PublicKey, error) {
	k, err := keys.ParsePublic([]byte(ok.PublicKey))
	if err != nil {
		return nil, &VerifyError{Reason: "operator key", Err: err}
	}
	if k.ID() != ok.KeyID {
		return nil, &VerifyError{Reason: fmt.Sprintf("operator key is %s, the receipt names %s", k.ID(), ok.KeyID)}
	}
	if _, err := dsse.Verify(env, []*keys.PublicKey{k}); err != nil {
		return nil, &VerifyError{Reason: "operator signature", Err: fmt.Errorf("no signature by operator key %s: %w", ok.KeyID, err)}
	}
	return k, nil
}

// Parse decodes a receipt WITHOUT checking its signature, for display.
func Parse(data []byte) (*Receipt, error) {
	if len(data) > MaxSize {
		return nil, &VerifyError{Reason: fmt.Sprintf("larger than %d bytes", MaxSize)}
	}
	env, err := dsse.Read(bytes.NewReader(data), MaxSize)
	if err != nil {
		return nil, &VerifyError{Reason: "envelope", Err: err}
	}
	payload, err := dsse.PayloadOf(env)
	if err != nil {
		return nil, &VerifyError{Reason: "payload", Err: err}
	}
	return decode(payload, data)
}

// Read reads at most MaxSize bytes from r and verifies them as a receipt.
func Read(r io.Reader, trusted []*keys.PublicKey) (*Receipt, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, err
	}
	return Verify(data, trusted)
}

func decode(payload, envelope []byte) (*Receipt, error) {
	var st Statement
	if err := jsonx.Unmarshal(payload, &st); err != nil {
		return nil, &VerifyError{Reason: "statement", Err: err}
	}
	if st.Type != StatementType {
		return nil, &VerifyError{Reason: fmt.Sprintf("statement type %q, want %q", st.Type, StatementType)}
	}
	if st.PredicateType != PredicateType {
		return nil, &VerifyError{Reason: fmt.Sprintf("predicate type %q, want %q", st.PredicateType, PredicateType)}
	}
	p := &st.Predicate
	if p.FormatVersion < MinFormatVersion || p.FormatVersion > FormatVersion {
		return nil, &VerifyError{Reason: fmt.Sprintf("format version %d, this airlock reads %d to %d", p.FormatVersion, MinFormatVersion, FormatVersion)}
	}
	if err := p.validate(); err != nil {
		return nil, &VerifyError{Reason: "predicate", Err: err}
	}
	sum := sha256.Sum256(envelope)
	return &Receipt{Statement: st, SHA256: LinkDigest(p.FormatVersion, payload, envelope), EnvelopeSHA256: hex.EncodeToString(sum[:])}, nil
}

func (p *Predicate) validate() error {
	switch {
	case p.Seq == 0:
		return errors.New("seq must be at least 1")
	case p.Seq == 1 && p.PrevSHA256 != "":
		return errors.New("seq 1 names a previous receipt")
	case p.Seq > 1 && !isHexSHA256(p.PrevSHA256):
		return fmt.Errorf("prevSha256 %q is not a SHA-256 hex digest", p.PrevSHA256)
	case p.Zone == "":
		return errors.New("no zone")
	case p.ReceiptID == "":
		return errors.New("no receiptId")
	}
	if !slices.Contains(OutcomeResults, p.Outcome.Result) {
		return fmt.Errorf("unknown outcome %q", p.Outcome.Result)
	}
	if p.Event != "" && !slices.Contains(Events, p.Event) {
		return fmt.Errorf("unknown event %q", p.Event)
	}
	for _, v := range p.VariableSources {
		if !slices.Contains(Origins, v.Origin) {
			return fmt.Errorf("variable %q: unknown origin %q", v.Name, v.Origin)
		}
	}
	for i := range p.Images {
		if err := p.Images[i].validate(); err != nil {
			return err
		}
	}
	if err := p.validateInventory(); err != nil {
		return err
	}
	for _, f := range p.Files {
		if err := f.validate(); err != nil {
			return fmt.Errorf("file %q: %w", f.Path, err)
		}
	}
	switch ev := p.EventOf(); {
	case ev.IsControl() && p.Policy == nil:
		return fmt.Errorf("a %s record without a policy", ev)
	case ev.IsControl() && p.Outcome.Result != Recorded:
		return fmt.Errorf("a %s record with outcome %q, want %q", ev, p.Outcome.Result, Recorded)
	case !ev.IsControl() && p.Outcome.Result == Recorded:
		return fmt.Errorf("an apply with outcome %q", Recorded)
	case ev == EventGenesis && p.Seq != 1:
		return fmt.Errorf("a genesis record at seq %d, want 1", p.Seq)
	case (ev == EventPolicy || ev == EventDrift) && p.PolicyChange == nil:
		return fmt.Errorf("a %s record without policyChange", ev)
	case ev == EventDrift && !isHexSHA256(p.PolicyChange.FoundSHA256):
		return errors.New("a drift record without the digest of the trust.yaml found")
	}
	return nil
}

// validate checks that a file holding a secret is recorded by its keyed
// digest only: never beside its plain digest, which would give the secret
// away.
func (f File) validate() error {
	if !f.Keyed() && f.TemplateSHA256 == "" && f.HMACKey == "" {
		return nil
	}
	switch {
	case f.SHA256 != "":
		return errors.New("a keyed digest beside a plain sha256")
	case !isHexSHA256(f.HMACSHA256) || !isHexSHA256(f.TemplateSHA256) || f.HMACKey == "":
		return errors.New("a keyed digest needs hmacSha256, templateSha256 and hmacKey")
	}
	return nil
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && s == strings.ToLower(s)
}
