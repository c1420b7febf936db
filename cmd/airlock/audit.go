package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/verify/audit"
)

type auditOptions struct {
	dir        string
	keys       []string
	ledger     string
	ledgerKeys []string
	since      string
	until      string
	json       bool
	html       string
}

func newAuditCommand() *cobra.Command {
	var o auditOptions
	c := &cobra.Command{
		Use:   "audit RECEIPTS_DIR --key receipt.pub [--key …] [--ledger LEDGER_DIR] [--since T] [--until T] [--json] [--html report.html]",
		Short: "Verify a folder of receipts, check each zone's chain and reconcile with the ledger",
		Long: `Verify every receipt under RECEIPTS_DIR (recursively, any file names) against
the zones' receipt keys, order each zone's receipts by their hash chain and
report gaps, forks, reordering, duplicates, restarts, tampered receipts and
receipts signed by unknown keys. With --ledger, reconcile with the builder's
ledger: where and when each bundle was applied, bundles never applied,
bundles applied that the ledger does not hold, applies after expiry.

--since and --until (RFC 3339, or a date: 2026-03-01) narrow the applies
reported; signatures and chains are always checked over the whole folder.

Prints a table (or --json) and writes a self-contained HTML report with
--html. Exits 3 when any receipt fails verification, a chain is broken or
a bundle reached a zone it should not have, after printing the report.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.dir = args[0]
			return runAudit(c.Context(), o, c.OutOrStdout())
		},
	}
	f := c.Flags()
	f.StringArrayVar(&o.keys, "key", nil, "a zone's receipt public key (repeatable; required)")
	f.StringVar(&o.ledger, "ledger", "", "the builder's ledger folder to reconcile with")
	f.StringArrayVar(&o.ledgerKeys, "ledger-key", nil, "public key that must have signed each ledger entry (repeatable)")
	f.StringVar(&o.since, "since", "", "report applies started at or after this time")
	f.StringVar(&o.until, "until", "", "report applies started at or before this time (a date means its end)")
	f.BoolVar(&o.json, "json", false, "print the report as JSON instead of a table")
	f.StringVar(&o.html, "html", "", "also write an HTML report to this file")
	return c
}

// runAudit runs the audit, prints the report and writes the HTML file. It
// returns an exit-3 error when the audit found problems.
func runAudit(ctx context.Context, o auditOptions, out io.Writer) error {
	if len(o.keys) == 0 {
		return usageErrorf("audit: at least one --key (a zone's receipt public key) is required")
	}
	if len(o.ledgerKeys) > 0 && o.ledger == "" {
		return usageErrorf("audit: --ledger-key needs --ledger")
	}
	opts := audit.Options{Dir: o.dir, LedgerDir: o.ledger}
	var err error
	if opts.Since, err = parseAuditTime("since", o.since, false); err != nil {
		return err
	}
	if opts.Until, err = parseAuditTime("until", o.until, true); err != nil {
		return err
	}
	if opts.Keys, err = keys.LoadPublicFiles(o.keys); err != nil {
		return err
	}
	if opts.LedgerKeys, err = keys.LoadPublicFiles(o.ledgerKeys); err != nil {
		return err
	}
	rep, err := audit.Run(ctx, opts)
	if err != nil {
		return err
	}
	if o.json {
		err = rep.WriteJSON(out)
	} else {
		err = rep.WriteTable(out)
	}
	if err != nil {
		return err
	}
	if o.html != "" {
		if err := writeHTMLReport(o.html, rep); err != nil {
			return err
		}
	}
	return rep.Err()
}

// writeHTMLReport streams the HTML report into path atomically.
func writeHTMLReport(path string, rep *audit.Report) error {
	f, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	defer f.Abort() // does nothing once committed
	bw := bufio.NewWriter(f)
	if err := rep.WriteHTML(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	return nil
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

// loadPublicKeys reads PEM public key files.
