package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"airlock.dev/airlock/audit"
	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/names"
	"airlock.dev/airlock/zone"
)

type auditOptions struct {
	dir        string
	keys       []string
	registers  []string
	ledger     string
	ledgerKeys []string
	state      string
	expect     []string
	failOn     string
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
		Use: "audit RECEIPTS_DIR (--key receipt.pub… | --zone-register zone.yaml…) [--ledger DIR [--ledger-key PUB]] [--state FILE] [--expect ZONE[/HOST]=SHA256]… " +
			"[--fail-on error|warning] [--zone NAME] [--since T] [--until T] [--json | --jsonl] [--html FILE] [--attest FILE --attest-key KEY]",
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

--state FILE keeps the head of every chain after the audit; the next audit
with the same FILE reports a chain that no longer reaches it (truncated).
--expect ZONE[/HOST]=SHA256 states a head read on the host itself.

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
Exits 3 when any finding is an error (or, with --fail-on warning, a
warning), after printing the report.`,
		Example: examples(
			"airlock audit media/receipts --key pci-east-receipt.pub --ledger ~/.local/state/airlock/ledger --state audit-state.json",
			"airlock audit media/receipts --key pci-east-receipt.pub --since 2026-03-01 --json",
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
	f.StringVar(&o.state, "state", "", "audit state file: chains must reach the heads it holds; updated after the audit")
	f.StringArrayVar(&o.expect, "expect", nil, "ZONE[/HOST]=SHA256: the chain must reach this head (repeatable)")
	f.StringVar(&o.failOn, "fail-on", audit.FailOnError, "exit 3 on findings of this severity or worse: "+failOnLevels.String())
	failOnLevels.complete(c, "fail-on")
	f.StringArrayVar(&o.zones, "zone", nil, "audit only this zone (repeatable)")
	f.StringVar(&o.since, "since", "", "report entries started at or after this time")
	f.StringVar(&o.until, "until", "", "report entries started at or before this time (a date means its end)")
	addJSONFlag(c, "audit.schema.json")
	f.BoolVar(&o.jsonl, "jsonl", false, "print JSON lines (one per receipt and per finding) instead of a table")
	f.StringVar(&o.html, "html", "", "also write an HTML report to this file")
	f.StringVar(&o.attest, "attest", "", "also write a signed attestation of the audit (in-toto, SLSA verification summary) to this file")
	f.StringVar(&o.attestKey, "attest-key", "", "private key that signs the attestation")
	o.secrets.addPasswordFlag(c)
	return c
}

// failOnLevels are the values of --fail-on.
var failOnLevels = choices{audit.FailOnError, audit.FailOnWarning}

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
	}
	if err := failOnLevels.check("fail-on", o.failOn); err != nil {
		return err
	}
	for _, z := range o.zones {
		if !names.Valid(z) {
			return usageErrorf("audit: --zone %q: want a zone name (%s)", z, names.Want)
		}
	}
	if err := checkKeyFlag("attest-key", o.attestKey); err != nil {
		return err
	}
	opts := audit.Options{Dir: o.dir, LedgerDir: o.ledger, Zones: o.zones, Version: version, Args: o.used}
	var err error
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
	if opts.State, err = loadAuditState(o.state); err != nil {
		return err
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
		if err := writeAtomically(o.state, 0o644, rep.NextState.Write); err != nil {
			return fmt.Errorf("write audit state: %w", err)
		}
	}
	return rep.Err(o.failOn)
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

// loadAuditState reads --state; a file that does not exist yet is the
// first audit.
func loadAuditState(path string) (*audit.State, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s, err := audit.ReadState(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
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
