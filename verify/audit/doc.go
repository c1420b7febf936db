// Package audit checks a folder of airlock receipts, as carried out of the
// zones, and reconciles it with the builder's ledger: `airlock audit`.
//
// # What is read
//
// Every file under the receipts folder, recursively, whatever its name.
// Symbolic links and other irregular files are not followed. A file whose
// first non-space byte is not "{" (an age-encrypted log, a key, a README)
// is not a receipt and is only listed. Everything else is read (at most
// [receipt.MaxSize] bytes, checked before reading) and verified with
// [receipt.Verify] against the receipt keys given. Files are verified in
// parallel; only a bounded summary of each receipt ([Apply]: no step output,
// at most [MaxSteps] steps, free text clipped) is kept, so memory grows by
// about 1.5 KiB per receipt and never holds more than one file per worker.
// The JSON and HTML renderers stream their output.
//
// The ledger folder is read the same way, but only files named
// "*.dsse.json": each is a DSSE envelope (at most bundle.MaxStatementSize
// bytes) whose payload is a bundle statement, decoded strictly. With ledger
// keys, an entry counts only if one of them signed it. Entries are matched
// to receipts by the SHA-256 of the statement payload, which a receipt
// records as bundle.statementSha256; a receipt without one (a bundle refused
// before its statement verified) is linked by the bundle id it claims.
//
// # Chains
//
// Receipts are grouped by the zone their signed predicate names; each zone
// is its own chain. Within a zone, the order is the hash chain: a receipt
// follows the receipt whose envelope SHA-256 it names as prevSha256. File
// names and file times play no part: they are set by whoever copied the
// files, so they are not evidence of order. Byte-identical copies count once.
//
// A link is "in step" when a receipt's seq is its predecessor's seq + 1.
// The chain order shown is: chain starts (seq 1 receipts and receipts whose
// predecessor is missing) by time.started, then depth first along the
// links.
//
// # Findings
//
// Every finding has a kind (a stable code) whose severity never changes.
// Errors fail the audit ([Report.OK] is false, `airlock audit` exits 3):
// they mean the evidence is incomplete or not trustworthy, or a bundle
// reached a zone that should not have.
//
// Verification of single files (Zone and Seq are the file's unverified
// claims, when it has any):
//
//   - unreadable (error): the file or folder could not be read.
//   - unparseable (error): looks like JSON but is not a receipt envelope
//     (bad JSON, duplicate keys, too large, wrong payload type).
//   - unknown-key (error): no signature verifies with the receipt keys
//     given, and no signature's keyid names one of them: signed by another
//     key (another zone's, a test key, an attacker's).
//   - tampered (error): no signature verifies, but a signature's keyid
//     names a receipt key given: the receipt was changed after it was
//     signed (an edited field) or its signature was damaged.
//   - invalid (error): the signature verifies, but the signed statement is
//     not a valid receipt (wrong type, format version, missing fields).
//
// Chains (verified receipts only):
//
//   - gap (error): a receipt is missing. Either a receipt names a
//     predecessor that is not in the folder (the finding names the
//     receipt after the gap and the missing seqs, and files that claimed
//     them but failed verification), or a link skips seqs that no receipt
//     of the zone has. A chain whose first receipt is not seq 1 has a gap
//     too: the audit needs the whole chain. A missing newest receipt cannot
//     be seen; compare [Zone.HeadSHA256] with the zone's chain head.
//   - fork (error): two or more receipts name the same predecessor.
//   - reorder (error): the links disagree with seq order (a run of
//     out-of-step links such as 3 → 5 → 4 → 6 is one finding), or a
//     receipt in step started before its predecessor started: it was not
//     written in chain order, or the zone clock went back (unless the
//     receipt records a clock-override, reported as an override).
//   - restart (error): a second seq 1 receipt (a chain that starts over,
//     as when the applier's state was wiped); the earliest started one is
//     taken as the zone's chain.
//   - zone-mismatch (error): a receipt signed with a key whose receipts
//     are mostly for another zone. Each zone has its own receipt key.
//   - duplicate (warning): a byte-identical copy of another receipt file.
//
// Applies (receipts started within [Options.Since, Options.Until] only):
//
//   - unverified-apply (error): steps ran (applied, failed, rolled-back)
//     for a bundle whose statement the applier did not verify.
//   - applied-after-expiry (error): steps ran although the apply started
//     after the bundle's expiry (the ledger's when matched, else the
//     receipt's).
//   - refused, failed, rolled-back (warning): outcomes to look at, with the
//     reason code, failed steps and failed checks.
//   - override (warning): the operator bypassed a default refusal
//     (force-reapply, allow-rollback).
//   - no-approval (info): steps ran for a bundle without an approve-role
//     signature.
//
// Ledger (only with a ledger folder):
//
//   - not-in-ledger (error): steps ran for a bundle the ledger does not
//     hold — a red flag. (A refused bundle that is not in the ledger is
//     said in its refused finding.)
//   - ledger-mismatch (error): steps ran for a bundle id the ledger holds
//     with another statement, or the ledger has two statements for one id.
//   - ledger-invalid (error): a ledger entry that cannot be read, is not a
//     bundle statement, or (with ledger keys) is not signed by one of them.
//   - never-applied (warning): a bundle issued in the window targets an
//     audited zone (one with receipts in the folder) and no receipt of that
//     zone names it; the message says when a later sequence of the same
//     name and channel was applied instead, and when it expires.
//
// Other files:
//
//   - skipped (warning): a symbolic link or irregular file, not followed.
//   - not-a-receipt (info): a file that is not JSON.
//
// # Time window
//
// Since and Until narrow what is reported about applies (timeline, outcome
// counts, apply and ledger findings) to receipts whose time.started is in
// the window, and the ledger bundles to those issued in it. Signature and
// chain checks always cover the whole folder, because a chain cannot be
// checked from its middle; a ledger bundle's applies are looked up in the
// whole folder too.
//
// # Output
//
// [Report] is plain data with stable JSON field names ([ReportFormatVersion]);
// [Report.WriteTable], [Report.WriteJSON] and [Report.WriteHTML] render it.
// All orders are deterministic: zones by name, applies in chain order,
// ledger bundles by name, channel and sequence, findings by severity, zone,
// seq, file and kind.
package audit
