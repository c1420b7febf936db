package audit

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
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
	KindNoReceipts  = "no-receipts"
	KindUnusedKey   = "unused-key"
	KindMissingZone = "missing-zone"
	KindMissingHost = "missing-host"
	KindTruncated   = "truncated"

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

	// Control changes and people (errors).
	KindPolicyUncommitted = "policy-uncommitted"
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
	{KindPolicyUncommitted, SeverityError, "uncommitted policy change", "uncommitted policy changes"},
	{KindUnattributed, SeverityError, "change not attributed to a person", "changes not attributed to a person"},
	{KindTampering, SeverityError, "tampering attempt", "tampering attempts"},
	{KindUnverifiedApply, SeverityError, "apply of an unverified bundle", "applies of unverified bundles"},
	{KindAppliedAfterExpiry, SeverityError, "apply after expiry", "applies after expiry"},
	{KindNotInLedger, SeverityError, "bundle not in the ledger", "bundles not in the ledger"},
	{KindLedgerMismatch, SeverityError, "ledger mismatch", "ledger mismatches"},
	{KindLedgerInvalid, SeverityError, "invalid ledger entry", "invalid ledger entries"},
	{KindPolicyWeakened, SeverityWarning, "committed policy weakening", "committed policy weakenings"},
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
}

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

// countPhrase renders counts per kind as "1 gap, 2 tampered receipts", in
// the order kinds first appear in fs.
func countPhrase(fs []Finding, severity string) (int, string) {
	counts := map[string]int{}
	var order []string
	for _, f := range fs {
		if f.Severity != severity {
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
