package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"airlock.dev/airlock/audit"
	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/names"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/zone"
)

type auditOptions struct {
	dir        string
	keys       []string
	registers  []string
	ledger     string
	ledgerKeys []string
	state      string
	stateKey   string
	firstAudit bool
	expect     []string
	failOn     []string
	zones      []string
	since      string
	until      string
	jsonl      bool
	html       string
	attest     string
	attestKey  string
	secrets    secretOptions
	used       []string // the options as given, for the report
}

func newAuditCommand() *cobra.Command {
	var o auditOptions
	c := &cobra.Command{
		Use: "audit RECEIPTS_DIR (--key receipt.pub… | --zone-register zone.yaml…) [--ledger DIR [--ledger-key PUB]] [--state FILE --state-key KEY [--first-audit]] [--expect ZONE[/HOST]=SHA256]… " +
			"[--fail-on error|warning|KIND,…] [--zone NAME] [--since T] [--until T] [--json | --jsonl] [--html FILE] [--attest FILE --attest-key KEY]",
		Short: "Verify a folder of receipts, check each host's chain is complete and reconcile with the ledger",
		Long: `Verify every receipt under RECEIPTS_DIR (recursively, any file names) against
the receipt keys, order each host's receipts by their hash chain and report
gaps, forks, reordering, duplicates, restarts, tampered receipts, receipts
signed by unknown keys and edited file lists. The audit fails when it
cannot prove the evidence complete: a --key that signed no receipt, an
empty folder, a zone the ledger targets but the folder lacks, a host the
zone register lists without receipts, a chain that no longer reaches a head
known from before.

--zone-register DIR/zone.yaml gives a zone's hosts, their roles and
receipt keys (no --key needed): every host it lists must have its chain in
the folder, signed with its own keys. With --ledger, each bundle is
reported per host it is for (by its host: and role: targets): applied,
with what outcome, or not (not-applied-on-host).

--state FILE keeps the head of every chain after the audit, signed with
the auditor's --state-key (a cosign-compatible key; its public half
checks the state): the next audit with the same FILE reports a chain that
no longer reaches it (truncated). A state that is missing, edited, or
signed by another key fails the audit (exit 3) and no new state is
written; the first audit of a folder says so with --first-audit.
--expect ZONE[/HOST]=SHA256 states a head read on the host itself.
Without either, a chain's newest receipts could be missing unseen: the
audit says completeness was not checked (no-earlier-head).

Every finding has an ID (ZONE/HOST/SEQ/KIND, shown in the table and the
JSON); 'airlock audit ack ID --state FILE --state-key KEY --note TEXT'
acknowledges it in the signed state: later reports still list it, marked
acknowledged, and it no longer fails the audit.

Every policy change of a zone is listed (a weakening as a warning, an
uncommitted one as an error); every apply and policy commit must be
attributed to a person (a co-signing operator, or a personal account).
With --ledger, reconcile with the builder's ledger: where and when each
bundle was applied, bundles never applied, bundles applied that the
ledger does not hold, applies after expiry.

--since and --until (RFC 3339, or a date: 2026-03-01) narrow the entries
reported; signatures and chains are always checked over the whole folder.

Prints a table, or JSON (--json), or JSON lines for a SIEM (--jsonl: one
object per receipt and per finding); writes a self-contained HTML report
that prints completely with --html, and a signed in-toto attestation of
the result (SLSA verification summary) with --attest and --attest-key.
Exits 3, after printing the report, when a finding fails a gate: every
error, and with --fail-on warning every warning, with --fail-on KIND,…
(e.g. --fail-on policy-weakened,never-applied) every finding of those
kinds; an acknowledged finding fails none. The table, the JSON (ok), the
HTML report and the attestation all give this one verdict.`,
		Example: examples(
			"airlock audit media/receipts --key pci-east-receipt.pub --ledger ~/.local/state/airlock/ledger --state audit.state --state-key auditor.key --first-audit",
			"airlock audit media/receipts --key pci-east-receipt.pub --state audit.state --state-key auditor.key --fail-on warning",
			"airlock audit media/receipts --zone-register zone.yaml --fail-on policy-weakened,never-applied --since 2026-03-01 --json",
			"airlock audit media/receipts --key pci-east-receipt.pub --html report.html --attest audit.intoto.json --attest-key auditor.key"),
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.dir = args[0]
			c.Flags().Visit(func(f *pflag.Flag) {
				if sv, ok := f.Value.(pflag.SliceValue); ok {
					for _, v := range sv.GetSlice() {
						o.used = append(o.used, "--"+f.Name, v)
					}
					return
				}
				if f.Value.Type() == "bool" {
					o.used = append(o.used, "--"+f.Name)
					return
				}
				o.used = append(o.used, "--"+f.Name, f.Value.String())
			})
			return runAudit(c, o)
		},
	}
	f := c.Flags()
	f.StringArrayVar(&o.keys, "key", nil, "a receipt public key (repeatable; each must have signed a receipt)")
	f.StringArrayVar(&o.registers, "zone-register", nil, "a zone register (zone.yaml): the zone's hosts, roles and receipt keys (repeatable)")
	f.StringVar(&o.ledger, "ledger", "", "the builder's ledger folder to reconcile with")
	f.StringArrayVar(&o.ledgerKeys, "ledger-key", nil, "public key that must have signed each ledger entry (repeatable)")
	f.StringVar(&o.state, "state", "", "signed audit state file: chains must reach the heads it holds; updated after the audit (needs --state-key)")
	f.StringVar(&o.stateKey, "state-key", "", "the auditor's private key that signs the audit state (its public half checks it)")
	f.BoolVar(&o.firstAudit, "first-audit", false, "there is no audit state yet: start one at --state")
	f.StringArrayVar(&o.expect, "expect", nil, "ZONE[/HOST]=SHA256: the chain must reach this head (repeatable)")
	f.StringSliceVar(&o.failOn, "fail-on", nil, "also exit 3 on warnings (warning) or on findings of these kinds (KIND,…); errors always fail")
	failOnChoices().complete(c, "fail-on")
	f.StringArrayVar(&o.zones, "zone", nil, "audit only this zone (repeatable)")
	f.StringVar(&o.since, "since", "", "report entries started at or after this time")
	f.StringVar(&o.until, "until", "", "report entries started at or before this time (a date means its end)")
	addJSONFlag(c, "audit.schema.json")
	f.BoolVar(&o.jsonl, "jsonl", false, "print JSON lines (one per receipt and per finding) instead of a table")
	f.StringVar(&o.html, "html", "", "also write an HTML report to this file")
	f.StringVar(&o.attest, "attest", "", "also write a signed attestation of the audit (in-toto, SLSA verification summary) to this file")
	f.StringVar(&o.attestKey, "attest-key", "", "private key that signs the attestation")
	o.secrets.addPasswordFlag(c)
	c.AddCommand(newAuditAckCommand())
	return c
}

type auditAckOptions struct {
	state    string
	stateKey string
	note     string
	secrets  secretOptions
}

// ackReport is what 'airlock audit ack' reports.
type ackReport struct {
	audit.Acknowledgement
	State ackState `json:"state"`
}

type ackState struct {
	File             string `json:"file"`
	SHA256           string `json:"sha256"`
	Acknowledgements int    `json:"acknowledgements"`
}

func newAuditAckCommand() *cobra.Command {
	var o auditAckOptions
	c := &cobra.Command{
		Use:   "ack FINDING_ID --state FILE --state-key KEY --note TEXT",
		Short: "Acknowledge a finding of the last audit in the signed audit state",
		Long: `Record the auditor's acknowledgement of a finding in the audit state: the
finding's ID as the last audit's report shows it (ZONE/HOST/SEQ/KIND), why
it needs no further action (--note), the state key and the time. The state
must verify with the state key, and the finding must be one the audit that
wrote the state found; the state is signed again with the key.

Later audits with this state still report the finding, marked
acknowledged with the note, and it no longer fails the audit (also not
under --fail-on). Every state an audit writes after keeps it.`,
		Example: examples(
			`airlock audit ack pci-east/app-01/8/refused --state audit.state --state-key auditor.key --note "CHG-1207: approval added, applied at seq 9"`),
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error { return runAuditAck(c, args[0], o) },
	}
	f := c.Flags()
	f.StringVar(&o.state, "state", "", "the signed audit state file the last audit wrote")
	f.StringVar(&o.stateKey, "state-key", "", "the auditor's private key that signs the audit state")
	f.StringVar(&o.note, "note", "", "why the finding needs no further action (a ticket, a decision)")
	for _, name := range []string{"state", "state-key", "note"} {
		_ = c.MarkFlagRequired(name)
	}
	addJSONFlag(c, "audit-ack.schema.json")
	o.secrets.addPasswordFlag(c)
	return c
}

func runAuditAck(c *cobra.Command, id string, o auditAckOptions) error {
	switch {
	case !audit.ValidID(id):
		return usageErrorf("audit ack: %q is not a finding ID (ZONE/HOST/SEQ/KIND, as the report's ID column shows it)", id)
	case strings.TrimSpace(o.note) == "" || len(o.note) > audit.MaxNoteSize:
		return usageErrorf("audit ack: --note: say why the finding needs no further action (1 to %d bytes)", audit.MaxNoteSize)
	}
	if err := checkKeyFlag("state-key", o.stateKey); err != nil {
		return err
	}
	key, err := keys.LoadPrivate(o.stateKey, o.secrets.source(c.ErrOrStderr()))
	if err != nil {
		return fmt.Errorf("--state-key: %w", err)
	}
	st, err := audit.LoadState(o.state, key.Public())
	if err != nil {
		return err
	}
	k, err := st.Acknowledge(id, o.note, key.Public(), time.Now())
	if err != nil {
		return fmt.Errorf("audit ack: %w", err)
	}
	if err := writeAtomically(o.state, 0o644, func(w io.Writer) error { return st.WriteSigned(w, key) }); err != nil {
		return fmt.Errorf("write audit state: %w", err)
	}
	report(c, ackReport{k, ackState{File: o.state, SHA256: st.SHA256(), Acknowledgements: len(st.Acks)}}, printAck)
	return nil
}

func printAck(w io.Writer, r ackReport) {
	fmt.Fprintf(w, "acknowledged %s (%s, %s): %s\n", r.ID, r.Severity, r.Kind, printable.String(r.Note))
	fmt.Fprintf(w, "audit state %s signed by %s: %d acknowledgements, sha256 %s\n", r.State.File, r.KeyID, r.State.Acknowledgements, r.State.SHA256)
}

// failOnChoices are what --fail-on takes, for the shell's completion:
// error, warning and every finding kind (several, comma-separated).
func failOnChoices() choices {
	out := choices{audit.FailOnError, audit.FailOnWarning}
	for _, k := range audit.Kinds() {
		out = append(out, k[0])
	}
	return out
}

// runAudit runs the audit, prints the report, writes the HTML file, the
// attestation and the state. It returns an exit-3 error when the audit
// found problems at the --fail-on level.
func runAudit(c *cobra.Command, o auditOptions) error {
	stderr := c.ErrOrStderr()
	switch {
	case len(o.keys) == 0 && len(o.registers) == 0:
		return usageErrorf("audit: give --zone-register (a zone's zone.yaml) or --key (a receipt public key)")
	case len(o.ledgerKeys) > 0 && o.ledger == "":
		return usageErrorf("audit: --ledger-key needs --ledger")
	case jsonWanted(c) && o.jsonl:
		return usageErrorf("audit: --json and --jsonl are exclusive")
	case (o.attest == "") != (o.attestKey == ""):
		return usageErrorf("audit: --attest and --attest-key go together")
	case (o.state == "") != (o.stateKey == ""):
		return usageErrorf("audit: --state and --state-key go together (the state is signed by the auditor's key)")
	case o.firstAudit && o.state == "":
		return usageErrorf("audit: --first-audit needs --state (the state the audit starts)")
	}
	gates, err := audit.ParseFailOn(o.failOn)
	if err != nil {
		return &usageError{err: fmt.Errorf("audit: %w", err)}
	}
	for _, z := range o.zones {
		if !names.Valid(z) {
			return usageErrorf("audit: --zone %q: want a zone name (%s)", z, names.Want)
		}
	}
	for _, k := range [][2]string{{"attest-key", o.attestKey}, {"state-key", o.stateKey}} {
		if err := checkKeyFlag(k[0], k[1]); err != nil {
			return err
		}
	}
	opts := audit.Options{Dir: o.dir, LedgerDir: o.ledger, Zones: o.zones, FailOn: gates, Version: appVersion(), Args: o.used,
		StateFile: o.state, FirstAudit: o.firstAudit}
	if opts.Since, err = parseAuditTime("since", o.since, false); err != nil {
		return err
	}
	if opts.Until, err = parseAuditTime("until", o.until, true); err != nil {
		return err
	}
	for _, e := range o.expect {
		x, err := audit.ParseExpectation(e)
		if err != nil {
			return &usageError{err: err}
		}
		opts.Expect = append(opts.Expect, x)
	}
	if opts.Keys, err = keys.LoadPublicFiles(o.keys); err != nil {
		return err
	}
	for _, path := range o.registers {
		reg, err := zone.ReadRegister(path)
		if err != nil {
			return fmt.Errorf("--zone-register: %w", err)
		}
		opts.Registers = append(opts.Registers, reg)
	}
	if opts.LedgerKeys, err = keys.LoadPublicFiles(o.ledgerKeys); err != nil {
		return err
	}
	var stateKey *keys.Signer
	if o.stateKey != "" {
		if stateKey, err = keys.LoadPrivate(o.stateKey, o.secrets.source(stderr)); err != nil {
			return fmt.Errorf("--state-key: %w", err)
		}
		if opts.State, opts.StateProblem, err = loadAuditState(o.state, stateKey.Public(), o.firstAudit); err != nil {
			return err
		}
	}
	var attestKey *keys.Signer
	if o.attestKey != "" {
		if attestKey, err = keys.LoadPrivate(o.attestKey, o.secrets.source(stderr)); err != nil {
			return fmt.Errorf("--attest-key: %w", err)
		}
	}
	tuneMemory()
	rep, err := audit.Run(c.Context(), opts)
	if err != nil {
		return err
	}
	text := rep.WriteTable
	if o.jsonl {
		text = rep.WriteJSONL
	}
	if err := reportStream(c, rep.WriteJSON, text); err != nil {
		return err
	}
	if o.html != "" {
		if err := writeAtomically(o.html, 0o644, rep.WriteHTML); err != nil {
			return fmt.Errorf("write html report: %w", err)
		}
	}
	if o.attest != "" {
		if err := writeAtomically(o.attest, 0o644, func(w io.Writer) error { return rep.WriteAttestation(w, attestKey) }); err != nil {
			return fmt.Errorf("write attestation: %w", err)
		}
	}
	if o.state != "" {
		if rep.NextState == nil {
			fmt.Fprintf(stderr, "airlock: audit state %s left as it was: it could not be used, so this audit hands no state on\n", o.state)
		} else if err := writeAtomically(o.state, 0o644, func(w io.Writer) error { return rep.NextState.WriteSigned(w, stateKey) }); err != nil {
			return fmt.Errorf("write audit state: %w", err)
		}
	}
	return rep.Err()
}

// Memory settings of an audit: it keeps a small record of every receipt,
// so its memory grows with the folder; these trade some CPU for a lower
// peak (doc/design.md, Audit). GOGC and GOMEMLIMIT in the environment
// take precedence.
const (
	auditGCPercent   = 50
	auditMemoryLimit = 88 << 20
)

func tuneMemory() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(auditGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(auditMemoryLimit)
	}
}

// loadAuditState reads --state and checks it with the state key. A state
// that is missing (unless this is the first audit), empty, edited or
// signed by another key is the audit's problem: returned as problem, for
// the audit to fail with. --first-audit with a state file present is an
// error: an earlier audit kept one.
func loadAuditState(path string, key *keys.PublicKey, first bool) (st *audit.State, problem, err error) {
	st, err = audit.LoadState(path, key)
	var se *audit.StateError
	switch {
	case err != nil && !errors.As(err, &se):
		return nil, nil, err
	case first && (err == nil || !se.Missing):
		return nil, nil, fmt.Errorf("--first-audit: %s exists, so an audit kept a state there before; audit without --first-audit, or move the file away to start over", path)
	case first:
		return nil, nil, nil
	case errors.As(err, &se):
		return nil, err, nil
	}
	return st, nil, err
}

// writeAtomically streams write into path: nothing is left at path unless
// everything was written.
func writeAtomically(path string, perm os.FileMode, write func(io.Writer) error) error {
	f, err := atomicfile.Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Abort() // does nothing once committed
	bw := bufio.NewWriter(f)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Commit()
}

func parseAuditTime(flag, value string, endOfDay bool) (t time.Time, err error) {
	if value == "" {
		return t, nil
	}
	if t, err = audit.ParseTime(value, endOfDay); err != nil {
		return t, usageErrorf("--%s: %v", flag, err)
	}
	return t, nil
}
