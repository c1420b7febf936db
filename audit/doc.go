// Package audit checks a folder of airlock receipts, as carried out of the
// zones, and reconciles it with the builder's ledger: `airlock audit`. It
// fails whenever it cannot show the evidence complete and trustworthy: a
// false PASS is the worst result a compliance tool can give.
//
// # What is read
//
// Every file under the receipts folder, recursively, whatever its name.
// Symbolic links and other irregular files are not followed. Files named
// like the deployed file lists and step logs airlock writes beside
// receipts (*.files, *.log.age) are hashed and matched with the receipts
// that name them. A file whose first non-space byte is not "{" (a key, a
// README) is not a receipt and is only listed. Everything else is read (at
// most [receipt.MaxSize] bytes, checked before reading) and verified with
// [receipt.Verify] against the receipt keys given; a receipt that names an
// operator key must carry that key's co-signature. Files are verified in
// parallel.
//
// Only a small record of each receipt is kept while the audit runs (about
// 300 bytes: digests, seq, time, outcome, and the bundle, operator and
// policy shared between receipts); what a report shows beyond it is read
// again from the folder while the report is written, and must have the
// digest it had when it was verified. The reports stream. So memory grows
// by a few hundred bytes per receipt.
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
// Receipts are grouped by the zone their signed predicate names, and
// within a zone into chains, one per host: each host of a zone keeps its
// own chain (from its own genesis record, signed with its own receipt
// key). A chain is the receipts linked to one another — a receipt and the
// one it names as its predecessor are of one chain — and is named by the
// host its newest receipt names, so a host renamed by a committed policy
// keeps its chain; chains that name the same host are one host's chain
// (which the analysis then finds broken: a restart, a gap). Within a
// chain, the order is the hash chain: a receipt
// follows the receipt whose link digest it names as prevSha256 — the
// SHA-256 of its signed statement for format version 2, of its envelope
// bytes for version 1 — so re-encoding an envelope changes nothing while
// any change of content breaks the chain. A chain may hold both versions
// (a zone that upgraded). File names and file times play no part. Copies
// of one signed statement count once.
//
// A link is "in step" when a receipt's seq is its predecessor's seq + 1.
// The chain order shown is: chain starts (seq 1 receipts and receipts whose
// predecessor is missing) by time.started, then depth first along the
// links. A chain holds applies and control changes: the zone's genesis
// record (seq 1, written by zone init) and policy commits.
//
// # Findings
//
// Every finding has a kind (a stable code) whose severity never changes,
// and an ID ([Finding.ID]: ZONE/HOST/SEQ/KIND, the same in every audit of
// the same evidence). Errors fail the audit ([Report.OK] is false,
// `airlock audit` exits 3); gates ([Options.FailOn]: --fail-on warning,
// --fail-on KIND,…) make warnings, or findings of named kinds, fail it
// too. A finding the auditor acknowledged in the signed audit state
// (`airlock audit ack`) is still reported, marked acknowledged, and fails
// no gate.
//
// Completeness (the folder must show everything that happened):
//
//   - no-receipts (error): no verified receipt (of the audited zones) in
//     the folder: nothing can be shown to have happened, or not.
//   - unused-key (error): a receipt key given signed no receipt in the
//     folder: its zone's receipts are missing.
//   - missing-zone (error): a zone the ledger has bundles for (issued in
//     the window), a zone register (--zone-register), --expect or --state
//     names, has no receipt here.
//   - missing-host (error): a host the zone register lists, or --expect
//     ZONE/HOST names, has no receipt here (not even its genesis record):
//     its receipts were not carried out.
//   - truncated (error): a chain does not reach a head that --state (the
//     heads an earlier audit saw) or --expect ZONE[/HOST]=SHA256 (a head
//     read on the zone) names: receipts were removed, or never carried
//     out. Without either, a missing newest receipt cannot be seen.
//   - state-missing (error): the audit state (--state) does not exist and
//     --first-audit does not say this is the first audit.
//   - state-invalid (error): the audit state is empty, malformed, edited
//     (its signature no longer verifies with the state key) or signed by
//     another key. With either, no earlier head is compared and no new
//     state is handed on.
//   - no-earlier-head (warning): a chain that no state head and no
//     --expect names: receipts removed from its end would not be seen, so
//     completeness is not checked ([Summary.NotChecked]).
//   - host-unchecked (warning): a zone of several host chains audited
//     without its register: which receipt key is which host's is not
//     known, so a host's receipts re-signed with another host's key would
//     pass.
//
// Verification of single files (Zone and Seq are the file's unverified
// claims, when it has any):
//
//   - unreadable (error): the file or folder could not be read.
//   - unparseable (error): looks like JSON but is not a receipt envelope
//     (bad JSON, duplicate keys, too large, wrong payload type).
//   - unknown-key (error): no signature verifies with the receipt keys
//     given, and no signature's keyid names one of them.
//   - tampered (error): no signature verifies, but a signature's keyid
//     names a receipt key given: the receipt was changed after signing.
//   - invalid (error): the signature verifies, but the signed statement is
//     not a valid receipt (wrong type, format version, missing fields, an
//     operator co-signature that does not verify).
//   - attachment-mismatch (error): a deployed file list or step log beside
//     a receipt does not have the digest the receipt signed: it was edited.
//
// Chains (verified receipts only):
//
//   - gap (error): a receipt is missing. Either a receipt names a
//     predecessor that is not in the folder (the finding names the
//     receipt after the gap and the missing seqs, and files that claimed
//     them but failed verification), or a link skips seqs that no receipt
//     of the zone has. A chain whose first receipt is not seq 1 has a gap
//     too: the audit needs the whole chain.
//   - fork (error): two or more receipts name the same predecessor.
//   - reorder (error): the links disagree with seq order (a run of
//     out-of-step links such as 3 → 5 → 4 → 6 is one finding), or a
//     receipt in step started before its predecessor started: it was not
//     written in chain order, or the zone clock went back (unless the
//     receipt records a clock-override, reported as an override).
//   - restart (error): a second seq 1 receipt (a chain that starts over,
//     as when the applier's state was wiped).
//   - zone-mismatch (error): a receipt signed with a key whose receipts
//     are mostly for another zone. Each zone has its own receipt key.
//   - host-mismatch (error): a host's chain signed with a receipt key the
//     zone register gives another host. Each host has its own receipt key.
//   - clock-backwards (error): an entry that finished before it started,
//     or (in step with its predecessor, started after it) finished before
//     its predecessor finished: the zone clock went back while it was
//     made, so its times cannot be relied on (PCI DSS 10.6). Times are
//     compared to the nanosecond the receipts record.
//   - duplicate (warning): a copy of another receipt file (the same signed
//     statement, byte-identical or encoded differently).
//
// Control changes: the policy in force along a chain is the one the
// genesis record or the latest policy commit records; each apply records
// the policy it ran under.
//
//   - policy-uncommitted (error): an apply ran under a policy that differs
//     from the one in force (the message says whether the difference
//     weakens it), or a commit names another policy as its previous one:
//     trust.yaml changed without a commit.
//   - two-person-missing (error): a committed change that weakens a policy
//     requiring two persons for that (requireTwoPersonForWeakening, with
//     at least two operators) was not co-signed by two of its operators,
//     of two persons.
//   - policy-weakened (warning): a committed policy change that weakens
//     the policy (a role removed, a threshold lowered, a key or operator
//     added, co-signatures made optional, the zone or host changed).
//   - policy-drift (warning): a drift record — trust.yaml was found
//     changed and not committed (by plan or zone check); nothing ran under
//     it, and the policy in force stays the committed one.
//   - policy-change (info): any other committed policy change.
//   - no-genesis (info): a chain that begins with a receipt rather than a
//     genesis record (a zone from before genesis records).
//
// People: every apply and policy commit must be attributed to a person —
// a co-signature by an operator key the policy in force lists (with the
// person's name), a personal account (not root, and not shown in the
// folder used under several people's names), or the kernel's login uid
// naming a non-root account behind root. A free-text --operator is not a
// signature.
//
//   - unattributed (error): a change (steps ran, or a policy commit) by
//     root or a shared account without a named operator's co-signature.
//   - unattributed-attempt (warning): the same for an apply that changed
//     nothing (refused, already applied).
//
// Applies (receipts started within [Options.Since, Options.Until] only):
//
//   - tampering (error): refused because a signature, digest, manifest or
//     extraction check failed (envelope, signature, payload-type,
//     predicate-type, manifest, parts, extract): a bundle altered, or not
//     signed by a key the policy trusts. Ranked above operational refusals.
//     A policy refusal is not tampering: a signature check that failed
//     although a key the policy trusts signed the statement (the receipt
//     names the signers that verified) — an approval missing, a role
//     short of its threshold — is a refused warning.
//   - unverified-apply (error): steps ran for a bundle whose statement the
//     applier did not verify.
//   - applied-after-expiry (error): steps ran although the apply started
//     after the bundle's expiry.
//   - applied-after-refusal (warning): steps ran for a bundle the zone had
//     refused for a failed signature or integrity check: the policy or the
//     bundle's signatures changed in between. After a policy refusal, only
//     when the policy in force changed (not when the missing signature was
//     added).
//   - clock-unsynchronised (warning): the kernel reported the clock
//     unsynchronised when the apply started.
//   - refused, failed, rolled-back (warning): outcomes to look at, with the
//     reason code, failed steps (and the end of their masked output) and
//     failed checks.
//   - override (warning): the operator bypassed a default refusal
//     (force-reapply, allow-rollback).
//   - no-approval (info): steps ran for a bundle without an approve-role
//     signature.
//   - zone-value (info): the zone replaced values the bundle signed — its
//     trust.yaml or a --var-file, possibly reading a file kept in the
//     zone ({fromFile: PATH}); the finding names each variable and where
//     its value came from (receipt variableSources), never a value.
//
// Ledger (only with a ledger folder):
//
//   - not-in-ledger (error): steps ran for a bundle the ledger does not
//     hold — a red flag.
//   - ledger-mismatch (error): steps ran for a bundle id the ledger holds
//     with another statement, or the ledger has two statements for one id.
//   - ledger-invalid (error): a ledger entry that cannot be read, is not a
//     bundle statement, or (with ledger keys) is not signed by one of them.
//   - never-applied (warning): a bundle issued in the window targets an
//     audited zone and no receipt of that zone names it (the message names
//     the hosts it is for).
//   - not-applied-on-host (warning): a bundle issued in the window is for
//     a host of an audited zone — its zone is targeted and its host: and
//     role: targets admit the host — that has a chain here, other hosts of
//     the zone have receipts naming the bundle, and no receipt of this
//     host's chain does: the rollout did not reach it.
//
// Per ledger bundle, the report lists the hosts it is for — the hosts of
// each audited zone it targets, those with chains in the folder and those
// the zone register lists, that its host: and role: targets admit (a
// host's roles are the register's, else those its newest receipt's policy
// records) — with the outcome of the newest receipt of the host's chain
// that names it, or not-applied. Its status is applied when every such
// host applied it, partial when some did, attempted when receipts name it
// but none applied it, never-applied when none names it.
//
// Other files:
//
//   - attachment-missing (warning): a receipt names a file list or log
//     that is not beside it in the folder.
//   - skipped (warning): a symbolic link or irregular file, not followed.
//   - attachment-orphan (info): a file list or log no verified receipt
//     names.
//   - not-a-receipt (info): a file that is not JSON.
//
// # Time window and zones
//
// Since and Until narrow what is reported about entries (timeline, outcome
// counts, apply, people and ledger findings) to receipts whose time.started
// is in the window, and the ledger bundles to those issued in it. Signature
// and chain checks always cover the whole folder, because a chain cannot be
// checked from its middle. Zones (--zone) limit the audit to those zones.
//
// # Output
//
// [Report] is plain data with stable JSON field names ([ReportFormatVersion],
// doc/schemas/audit-report.schema.json); [Report.WriteTable],
// [Report.WriteJSON], [Report.WriteJSONL] (one line per receipt and per
// finding), [Report.WriteHTML] and [Report.Attestation] (a signed SLSA
// verification summary) render it; [Report.NextState] is the state to keep
// for the next audit ([State.WriteSigned]; [LoadState] reads and checks
// it). The PCI DSS map ([EvidenceRow]) computes each row's status from the
// receipts, and a row the receipts evidence only in part is partial, with
// what the assessor must still obtain elsewhere. All orders are deterministic: zones by name,
// chains by host, entries chain by chain in chain order, ledger bundles by
// name, channel and sequence, findings by severity, zone, host, seq, file
// and kind.
package audit
