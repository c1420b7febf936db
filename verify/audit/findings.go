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
	// Verification of single files (errors).
	KindUnreadable  = "unreadable"
	KindUnparseable = "unparseable"
	KindUnknownKey  = "unknown-key"
	KindTampered    = "tampered"
	KindInvalid     = "invalid"

	// Chain of a zone (errors).
	KindGap          = "gap"
	KindFork         = "fork"
	KindReorder      = "reorder"
	KindRestart      = "restart"
	KindZoneMismatch = "zone-mismatch"

	// Applies (errors).
	KindUnverifiedApply    = "unverified-apply"
	KindAppliedAfterExpiry = "applied-after-expiry"

	// Ledger (errors).
	KindNotInLedger    = "not-in-ledger"
	KindLedgerMismatch = "ledger-mismatch"
	KindLedgerInvalid  = "ledger-invalid"

	// Warnings.
	KindDuplicate    = "duplicate"
	KindRefused      = "refused"
	KindFailed       = "failed"
	KindRolledBack   = "rolled-back"
	KindOverride     = "override"
	KindNeverApplied = "never-applied"
	KindSkipped      = "skipped"

	// Informational.
	KindNotAReceipt = "not-a-receipt"
	KindNoApproval  = "no-approval"
)

// kindInfo is the fixed severity of a kind and the noun used to count it
// ("1 gap", "2 gaps").
type kindInfo struct {
	severity         string
	singular, plural string
}

func infoOf(kind string) kindInfo {
	switch kind {
	case KindUnreadable:
		return kindInfo{SeverityError, "unreadable file", "unreadable files"}
	case KindUnparseable:
		return kindInfo{SeverityError, "unparseable receipt", "unparseable receipts"}
	case KindUnknownKey:
		return kindInfo{SeverityError, "receipt signed by an unknown key", "receipts signed by an unknown key"}
	case KindTampered:
		return kindInfo{SeverityError, "tampered receipt", "tampered receipts"}
	case KindInvalid:
		return kindInfo{SeverityError, "invalid receipt", "invalid receipts"}
	case KindGap:
		return kindInfo{SeverityError, "gap", "gaps"}
	case KindFork:
		return kindInfo{SeverityError, "fork", "forks"}
	case KindReorder:
		return kindInfo{SeverityError, "reordering", "reorderings"}
	case KindRestart:
		return kindInfo{SeverityError, "chain restart", "chain restarts"}
	case KindZoneMismatch:
		return kindInfo{SeverityError, "receipt for another zone", "receipts for another zone"}
	case KindUnverifiedApply:
		return kindInfo{SeverityError, "apply of an unverified bundle", "applies of unverified bundles"}
	case KindAppliedAfterExpiry:
		return kindInfo{SeverityError, "apply after expiry", "applies after expiry"}
	case KindNotInLedger:
		return kindInfo{SeverityError, "bundle not in the ledger", "bundles not in the ledger"}
	case KindLedgerMismatch:
		return kindInfo{SeverityError, "ledger mismatch", "ledger mismatches"}
	case KindLedgerInvalid:
		return kindInfo{SeverityError, "invalid ledger entry", "invalid ledger entries"}
	case KindDuplicate:
		return kindInfo{SeverityWarning, "duplicate receipt", "duplicate receipts"}
	case KindRefused:
		return kindInfo{SeverityWarning, "refused apply", "refused applies"}
	case KindFailed:
		return kindInfo{SeverityWarning, "failed apply", "failed applies"}
	case KindRolledBack:
		return kindInfo{SeverityWarning, "rolled-back apply", "rolled-back applies"}
	case KindOverride:
		return kindInfo{SeverityWarning, "operator override", "operator overrides"}
	case KindNeverApplied:
		return kindInfo{SeverityWarning, "bundle never applied", "bundles never applied"}
	case KindSkipped:
		return kindInfo{SeverityWarning, "skipped file", "skipped files"}
	case KindNotAReceipt:
		return kindInfo{SeverityInfo, "file that is not a receipt", "files that are not receipts"}
	case KindNoApproval:
		return kindInfo{SeverityInfo, "apply without approval", "applies without approval"}
	}
	return kindInfo{SeverityError, kind, kind}
}

// Finding is one thing the audit found. Zone, Seq and File name the receipt
// where the problem shows; for files that failed verification, Zone and Seq
// are what the file claims (unverified) and may be empty.
type Finding struct {
	Severity string `json:"severity"` // error | warning | info
	Kind     string `json:"kind"`     // stable code, see the package documentation
	Zone     string `json:"zone,omitempty"`
	Seq      uint64 `json:"seq,omitempty"`
	// File is relative to the receipts folder (or, for ledger-* and
	// never-applied findings, to the ledger folder), with forward slashes.
	File string `json:"file,omitempty"`
	// Related names other files involved (the other side of a fork, the
	// copy a duplicate repeats, …).
	Related []string `json:"related,omitempty"`
	Message string   `json:"message"`
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
