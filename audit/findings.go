package audit

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"airlock.dev/airlock/internal/names"
)

// Severities of a [Finding]. Only "error" fails the audit ([Report.OK]).
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
	SeverityInfo    = "info"
)

// Finding kinds. Each kind always has the same severity (see the package
// documentation for what each one means).
const (
	// Completeness of the evidence (errors).
	KindNoReceipts   = "no-receipts"
	KindUnusedKey    = "unused-key"
	KindMissingZone  = "missing-zone"
	KindMissingHost  = "missing-host"
	KindTruncated    = "truncated"
	KindStateMissing = "state-missing"
	KindStateInvalid = "state-invalid"

	// Verification of single files (errors).
	KindUnreadable         = "unreadable"
	KindUnparseable        = "unparseable"
	KindUnknownKey         = "unknown-key"
	KindTampered           = "tampered"
	KindInvalid            = "invalid"
	KindAttachmentMismatch = "attachment-mismatch"

	// Chain of a zone (errors).
	KindGap          = "gap"
	KindFork         = "fork"
	KindReorder      = "reorder"
	KindRestart      = "restart"
	KindZoneMismatch = "zone-mismatch"
	KindHostMismatch = "host-mismatch"
	// KindClockBackwards: an entry that finished before it started, or
	// before its predecessor finished: its times cannot be relied on.
	KindClockBackwards = "clock-backwards"

	// Control changes and people (errors).
	KindPolicyUncommitted = "policy-uncommitted"
	KindTwoPersonMissing  = "two-person-missing"
	KindUnattributed      = "unattributed"

	// Applies (errors).
	KindTampering          = "tampering"
	KindUnverifiedApply    = "unverified-apply"
	KindAppliedAfterExpiry = "applied-after-expiry"

	// Ledger (errors).
	KindNotInLedger    = "not-in-ledger"
	KindLedgerMismatch = "ledger-mismatch"
	KindLedgerInvalid  = "ledger-invalid"

	// Warnings.
	KindPolicyWeakened      = "policy-weakened"
	KindPolicyDrift         = "policy-drift"
	KindAppliedAfterRefusal = "applied-after-refusal"
	KindUnattributedAttempt = "unattributed-attempt"
	KindClockUnsynchronised = "clock-unsynchronised"
	KindDuplicate           = "duplicate"
	KindRefused             = "refused"
	KindFailed              = "failed"
	KindRolledBack          = "rolled-back"
	KindOverride            = "override"
	KindNeverApplied        = "never-applied"
	KindNotAppliedOnHost    = "not-applied-on-host"
	KindAttachmentMissing   = "attachment-missing"
	KindSkipped             = "skipped"
	KindNoEarlierHead       = "no-earlier-head"
	KindHostUnchecked       = "host-unchecked"

	// Informational.
	KindPolicyChange     = "policy-change"
	KindNoGenesis        = "no-genesis"
	KindNoApproval       = "no-approval"
	KindZoneValue        = "zone-value"
	KindAttachmentOrphan = "attachment-orphan"
	KindNotAReceipt      = "not-a-receipt"
)

// kindInfo is the fixed severity of a kind and the noun used to count it
// ("1 gap", "2 gaps").
type kindInfo struct {
	kind             string
	severity         string
	singular, plural string
}

// kinds lists every kind, in the order of the package documentation.
var kinds = []kindInfo{
	{KindNoReceipts, SeverityError, "folder without receipts", "folders without receipts"},
	{KindUnusedKey, SeverityError, "receipt key matching no receipt", "receipt keys matching no receipt"},
	{KindMissingZone, SeverityError, "missing zone", "missing zones"},
	{KindMissingHost, SeverityError, "missing host", "missing hosts"},
	{KindTruncated, SeverityError, "truncated chain", "truncated chains"},
	{KindStateMissing, SeverityError, "missing audit state", "missing audit states"},
	{KindStateInvalid, SeverityError, "audit state that cannot be trusted", "audit states that cannot be trusted"},
	{KindUnreadable, SeverityError, "unreadable file", "unreadable files"},
	{KindUnparseable, SeverityError, "unparseable receipt", "unparseable receipts"},
	{KindUnknownKey, SeverityError, "receipt signed by an unknown key", "receipts signed by an unknown key"},
	{KindTampered, SeverityError, "tampered receipt", "tampered receipts"},
	{KindInvalid, SeverityError, "invalid receipt", "invalid receipts"},
	{KindAttachmentMismatch, SeverityError, "edited file beside a receipt", "edited files beside receipts"},
	{KindGap, SeverityError, "gap", "gaps"},
	{KindFork, SeverityError, "fork", "forks"},
	{KindReorder, SeverityError, "reordering", "reorderings"},
	{KindRestart, SeverityError, "chain restart", "chain restarts"},
	{KindZoneMismatch, SeverityError, "receipt for another zone", "receipts for another zone"},
	{KindHostMismatch, SeverityError, "chain signed with another host's key", "chains signed with another host's key"},
	{KindClockBackwards, SeverityError, "entry whose times go backwards", "entries whose times go backwards"},
	{KindPolicyUncommitted, SeverityError, "uncommitted policy change", "uncommitted policy changes"},
	{KindTwoPersonMissing, SeverityError, "weakening committed by one person where two were required", "weakenings committed by one person where two were required"},
	{KindUnattributed, SeverityError, "change not attributed to a person", "changes not attributed to a person"},
	{KindTampering, SeverityError, "tampering attempt", "tampering attempts"},
	{KindUnverifiedApply, SeverityError, "apply of an unverified bundle", "applies of unverified bundles"},
	{KindAppliedAfterExpiry, SeverityError, "apply after expiry", "applies after expiry"},
	{KindNotInLedger, SeverityError, "bundle not in the ledger", "bundles not in the ledger"},
	{KindLedgerMismatch, SeverityError, "ledger mismatch", "ledger mismatches"},
	{KindLedgerInvalid, SeverityError, "invalid ledger entry", "invalid ledger entries"},
	{KindPolicyWeakened, SeverityWarning, "committed policy weakening", "committed policy weakenings"},
	{KindPolicyDrift, SeverityWarning, "uncommitted edit of trust.yaml found", "uncommitted edits of trust.yaml found"},
	{KindAppliedAfterRefusal, SeverityWarning, "apply of a bundle refused before", "applies of bundles refused before"},
	{KindUnattributedAttempt, SeverityWarning, "attempt not attributed to a person", "attempts not attributed to a person"},
	{KindClockUnsynchronised, SeverityWarning, "apply on an unsynchronised clock", "applies on an unsynchronised clock"},
	{KindDuplicate, SeverityWarning, "duplicate receipt", "duplicate receipts"},
	{KindRefused, SeverityWarning, "refused apply", "refused applies"},
	{KindFailed, SeverityWarning, "failed apply", "failed applies"},
	{KindRolledBack, SeverityWarning, "rolled-back apply", "rolled-back applies"},
	{KindOverride, SeverityWarning, "operator override", "operator overrides"},
	{KindNeverApplied, SeverityWarning, "bundle never applied", "bundles never applied"},
	{KindNotAppliedOnHost, SeverityWarning, "host a bundle did not reach", "hosts a bundle did not reach"},
	{KindAttachmentMissing, SeverityWarning, "missing file beside a receipt", "missing files beside receipts"},
	{KindSkipped, SeverityWarning, "skipped file", "skipped files"},
	{KindNoEarlierHead, SeverityWarning, "chain with no earlier head to compare", "chains with no earlier head to compare"},
	{KindHostUnchecked, SeverityWarning, "zone whose hosts' keys were not checked", "zones whose hosts' keys were not checked"},
	{KindPolicyChange, SeverityInfo, "policy change", "policy changes"},
	{KindNoGenesis, SeverityInfo, "chain without a genesis record", "chains without a genesis record"},
	{KindNoApproval, SeverityInfo, "apply without approval", "applies without approval"},
	{KindZoneValue, SeverityInfo, "apply with zone values replacing signed ones", "applies with zone values replacing signed ones"},
	{KindAttachmentOrphan, SeverityInfo, "file without its receipt", "files without their receipts"},
	{KindNotAReceipt, SeverityInfo, "file that is not a receipt", "files that are not receipts"},
}

// Kinds lists every finding kind and its severity, in documentation order.
func Kinds() [][2]string {
	out := make([][2]string, len(kinds))
	for i, k := range kinds {
		out[i] = [2]string{k.kind, k.severity}
	}
	return out
}

func infoOf(kind string) kindInfo {
	for _, k := range kinds {
		if k.kind == kind {
			return k
		}
	}
	return kindInfo{kind, SeverityError, kind, kind}
}

// Finding is one thing the audit found. Zone, Seq and File name the receipt
// where the problem shows; for files that failed verification, Zone and Seq
// are what the file claims (unverified) and may be empty.
type Finding struct {
	// ID names the finding the same way in every audit of the same
	// evidence: ZONE/HOST/SEQ/KIND, "-" for a part it does not have, and
	// for findings that place alone does not tell apart a fifth part (the
	// override's name, or the first 12 hex digits of the SHA-256 of the
	// file, key or head it is about); see [Finding.id].
	ID       string `json:"id"`
	Severity string `json:"severity"` // error | warning | info
	Kind     string `json:"kind"`     // stable code, see the package documentation
	Zone     string `json:"zone,omitempty"`
	// Host is the host whose chain the finding is about, when it is about
	// one.
	Host string `json:"host,omitempty"`
	Seq  uint64 `json:"seq,omitempty"`
	// File is relative to the receipts folder (or, for ledger-* and
	// never-applied findings, to the ledger folder), with forward slashes.
	File string `json:"file,omitempty"`
	// Related names other files involved (the other side of a fork, the
	// copy a duplicate repeats, …).
	Related []string `json:"related,omitempty"`
	Message string   `json:"message"`
	// Gate is what makes this finding fail the audit: "error" (every
	// error), "warning" (--fail-on warning) or its kind (--fail-on KIND);
	// empty when it does not fail it (also when it is acknowledged).
	Gate string `json:"gate,omitempty"`
	// Acknowledged is the auditor's signed acknowledgement of the finding,
	// from the audit state (airlock audit ack): the finding is still
	// reported, but no longer fails the audit.
	Acknowledged *Acknowledgement `json:"acknowledged,omitempty"`

	subject string // what tells the finding apart from others at its place
}

// Acknowledgement closes a finding: an auditor looked at it and recorded
// why it does not fail the audit (airlock audit ack). It is kept in the
// signed audit state and shown with the finding in every later report.
type Acknowledgement struct {
	// ID is the finding's ID.
	ID string `json:"id"`
	// Kind and Severity are the finding's when it was acknowledged.
	Kind     string `json:"kind"`
	Severity string `json:"severity"`
	Note     string `json:"note"`
	// KeyID is the audit state key that signed the state holding it.
	KeyID string    `json:"keyId"`
	At    time.Time `json:"at"`
}

// idPart is one part of a finding ID: the name itself when it is a valid
// name (as zones and hosts are), "-" when empty, else "x" and the first
// 12 hex digits of its SHA-256 (a name a rejected file claims may be
// anything).
func idPart(s string) string {
	switch {
	case s == "":
		return "-"
	case names.Valid(s):
		return s
	}
	return "x" + shortSum(s)
}

func shortSum(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}

// fileKinds are the kinds about a file rather than a verified receipt's
// place: their ID ends with the file's short digest.
var fileKinds = []string{KindUnreadable, KindUnparseable, KindUnknownKey, KindTampered, KindInvalid, KindSkipped,
	KindNotAReceipt, KindAttachmentOrphan, KindDuplicate, KindLedgerInvalid, KindNeverApplied, KindNotAppliedOnHost}

// id is the finding's ID before it is made unique within a report:
// ZONE/HOST/SEQ/KIND, and a fifth part for findings their place does
// not tell apart.
func (f *Finding) id() string {
	seq := "-"
	if f.Seq != 0 {
		seq = strconv.FormatUint(f.Seq, 10)
	}
	subject := f.subject
	switch {
	case f.Kind == KindTruncated:
		seq = "-" // where the chain ends today moves; the head it misses does not
	case f.Kind == KindLedgerMismatch && f.Zone == "", slices.Contains(fileKinds, f.Kind):
		subject = f.File
	}
	id := idPart(f.Zone) + "/" + idPart(f.Host) + "/" + seq + "/" + f.Kind
	switch {
	case subject == "":
	case names.Valid(subject) && len(subject) <= 24:
		id += "/" + subject
	default:
		id += "/" + shortSum(subject)
	}
	return id
}

// setIDs gives every finding its ID; findings that would share one (the
// same kind twice at one place) get "~2", "~3", … in report order, which
// does not depend on walk or worker order.
func setIDs(fs []Finding) {
	seen := make(map[string]int, len(fs))
	for i := range fs {
		id := fs[i].id()
		seen[id]++
		if n := seen[id]; n > 1 {
			id += "~" + strconv.Itoa(n)
		}
		fs[i].ID = id
	}
}

// idPattern is what a finding ID looks like.
var idPattern = regexp.MustCompile(`^(-|[a-z0-9][a-z0-9._-]{0,62})/(-|[a-z0-9][a-z0-9._-]{0,62})/([0-9]{1,20}|-)/[a-z][a-z-]{0,40}(/[a-z0-9][a-z0-9._-]{0,23})?(~[0-9]{1,9})?$`)

// ValidID reports whether s has the form of a finding ID.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// namesLedgerFile reports whether a finding about a zone names a file of
// the ledger folder rather than of the receipts folder.
func (f *Finding) namesLedgerFile() bool {
	return f.Kind == KindNeverApplied || f.Kind == KindNotAppliedOnHost
}

func newFinding(kind, zone string, seq uint64, file, format string, a ...any) Finding {
	return Finding{
		Severity: infoOf(kind).severity,
		Kind:     kind,
		Zone:     zone,
		Seq:      seq,
		File:     file,
		Message:  fmt.Sprintf(format, a...),
	}
}

func severityRank(s string) int {
	switch s {
	case SeverityError:
		return 0
	case SeverityWarning:
		return 1
	}
	return 2
}

// sortFindings orders findings for output: errors first, then by zone, seq,
// file, kind and message, so that output never depends on walk or worker
// order.
func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(severityRank(a.Severity), severityRank(b.Severity)),
			cmp.Compare(a.Zone, b.Zone),
			cmp.Compare(a.Host, b.Host),
			cmp.Compare(a.Seq, b.Seq),
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.Message, b.Message),
		)
	})
}

// countPhrase renders counts per kind of the findings keep selects as
// "1 gap, 2 tampered receipts", in the order kinds first appear in fs.
func countPhrase(fs []Finding, keep func(Finding) bool) (int, string) {
	counts := map[string]int{}
	var order []string
	for _, f := range fs {
		if !keep(f) {
			continue
		}
		if counts[f.Kind] == 0 {
			order = append(order, f.Kind)
		}
		counts[f.Kind]++
	}
	parts := make([]string, 0, len(order))
	total := 0
	for _, k := range order {
		n := counts[k]
		total += n
		ki := infoOf(k)
		noun := ki.plural
		if n == 1 {
			noun = ki.singular
		}
		parts = append(parts, fmt.Sprintf("%d %s", n, noun))
	}
	return total, strings.Join(parts, ", ")
}

// plural returns "1 thing" or "n things".
func plural(n int, singular, pluralForm string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, singular)
	}
	return fmt.Sprintf("%d %s", n, pluralForm)
}
