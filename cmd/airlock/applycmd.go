package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"airlock.dev/airlock/apply"
	"airlock.dev/airlock/internal/printable"
)

type applyOptions struct {
	bundle        string
	trust         string
	operator      string
	operatorKey   string
	note          string
	receiptOut    string
	varFile       string
	forceReapply  bool
	allowRollback bool
	clockOverride bool
	resume        bool
	wait          time.Duration
	secrets       secretOptions
	progress      progressOptions
}

func newApplyCommand() *cobra.Command {
	var o applyOptions
	c := &cobra.Command{
		Use:   "apply BUNDLE --trust trust.yaml | apply --resume --trust trust.yaml",
		Short: "Verify, decrypt and apply a bundle in this zone; always write a signed receipt",
		Long: `Apply a bundle (the folder, the .airlock file, or any file of the folder such
as its first part): verify it against the zone's trust policy and state
(anti-rollback), decrypt it, extract exactly what its signed manifest lists,
run its steps, and write a signed receipt to the state directory and to
--receipt-out — also when the bundle is refused or a step fails.

trust.yaml must be the policy the zone's receipt chain records: after an
edit, run 'airlock zone commit-policy' first.

SIGINT (Ctrl-C), SIGTERM and SIGHUP interrupt it alike: the running step's
processes are stopped (SIGTERM, then SIGKILL after 5 seconds), the release
switch is reverted, the when: failure and when: always steps run, and the
receipt says rolled-back (interrupted). A second signal stops those steps
too; a third ends airlock at once ('apply --resume' finishes the apply).

Exit codes: 0 applied or already applied, 3 refused (the receipt says
refused: verification, the recorded policy — an uncommitted trust.yaml or a
missing operator co-signature; also a zone clock earlier than the newest
receipt, without a receipt), 4 a step failed (the receipt says whether it
was rolled back), 5 another apply holds the zone lock, 128+N interrupted by
signal N (130 SIGINT, 143 SIGTERM, 129 SIGHUP), 1 anything else.

With --json the steps' output goes to standard error, and standard output
holds only the result.`,
		Example: examples(
			"airlock apply payments-api-2.4.1.airlock --trust /etc/airlock/trust.yaml --operator 'Jane Doe' --receipt-out /media/usb",
			"airlock apply /media/usb/payments-api-2.4.1/payload.age.001 --trust /etc/airlock/trust.yaml --var-file zone-values.yaml --json",
			"airlock apply --resume --trust /etc/airlock/trust.yaml --operator-key jane.key --quiet"),
		Args: func(c *cobra.Command, args []string) error {
			if o.resume {
				return cobra.NoArgs(c, args)
			}
			return cobra.ExactArgs(1)(c, args)
		},
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.bundle = args[0]
			}
			return runApply(c, o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.trust, "trust", "", "zone trust policy (trust.yaml) (required)")
	f.StringVar(&o.operator, "operator", "", "name of the person applying (recorded in the receipt)")
	f.StringVar(&o.operatorKey, "operator-key", "", "operator's private key: co-signs the receipt (one of trust.yaml's operators)")
	f.StringVar(&o.note, "note", "", "free text recorded in the receipt (e.g. the change window)")
	f.StringVar(&o.receiptOut, "receipt-out", "", "also write the receipt into this folder (the media carried back)")
	f.StringVar(&o.varFile, "var-file", "", "YAML file of zone values for variables the bundle declares (each a literal or {fromFile: PATH})")
	f.BoolVar(&o.forceReapply, "force-reapply", false, "run a bundle again that was already applied (recorded)")
	f.BoolVar(&o.allowRollback, "allow-rollback", false, "apply a bundle with a lower sequence than the channel's (recorded; the channel keeps its highest sequence)")
	f.BoolVar(&o.clockOverride, "clock-override", false, "apply although the zone clock is earlier than the newest receipt (recorded)")
	f.BoolVar(&o.resume, "resume", false, "finish an interrupted apply: roll it back, or complete it if it had succeeded")
	f.DurationVar(&o.wait, "wait", 0, "wait this long for another apply to finish (default: refuse at once)")
	o.secrets.addPasswordFlag(c)
	o.secrets.addPassphraseFlag(c)
	o.progress.addFlags(c)
	addJSONFlag(c, "apply.schema.json")
	_ = c.MarkFlagRequired("trust")
	return c
}

func runApply(c *cobra.Command, o applyOptions) error {
	t, opKey, err := loadZoneOperator(c, o.trust, o.operatorKey, o.secrets)
	if err != nil {
		return err
	}
	rep, done := o.progress.reporter(c)
	defer done()
	opts := apply.Options{
		Progress: rep, Bundle: o.bundle, Trust: t, Operator: o.operator, OperatorKey: opKey, Note: o.note, ReceiptOut: o.receiptOut,
		VarFile: o.varFile, ForceReapply: o.forceReapply, AllowRollback: o.allowRollback, ClockOverride: o.clockOverride,
		Wait: o.wait, Abort: abortOf(c.Context()),
		Stdout: narration(c, o.progress.quiet), Stderr: c.ErrOrStderr(), Version: appVersion(),
		Secrets: o.secrets.source(c.ErrOrStderr()),
	}
	if o.progress.quiet {
		opts.StepStderr = io.Discard // the steps' output is in the receipt and its log
	}
	var res *apply.Result
	if o.resume {
		res, err = apply.Resume(c.Context(), opts)
		if err == nil && res == nil {
			report(c, nothingToResume{true}, func(w io.Writer, _ nothingToResume) {
				fmt.Fprintln(w, "no interrupted apply: nothing to resume")
			})
			return nil
		}
	} else {
		res, err = apply.Apply(c.Context(), opts)
	}
	if res != nil {
		report(c, res, printApplyResult)
	}
	return err
}

// nothingToResume is apply --resume's JSON when no apply was interrupted.
type nothingToResume struct {
	NothingToResume bool `json:"nothingToResume"`
}

func printApplyResult(w io.Writer, res *apply.Result) {
	q := printable.String // the message and paths quote the bundle
	fmt.Fprintf(w, "outcome  %s (%s)", res.Outcome, q(string(res.Reason)))
	if res.Message != "" {
		fmt.Fprintf(w, ": %s", q(res.Message))
	}
	fmt.Fprintln(w)
	if res.Release != "" && res.Outcome == "applied" {
		fmt.Fprintf(w, "release  %s\n", q(res.Release))
	}
	if res.Receipt == "" {
		fmt.Fprintln(w, "receipt  NOT WRITTEN (see the error below; 'airlock apply --resume' writes it)")
	} else {
		fmt.Fprintf(w, "receipt  %s\n", q(res.Receipt))
	}
	if res.ReceiptCopy != "" {
		fmt.Fprintf(w, "copy     %s\n", q(res.ReceiptCopy))
	}
}
