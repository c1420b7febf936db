package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/agekeys"
	"airlock.dev/airlock/internal/keys"
)

type buildOptions struct {
	release        string
	key            string
	recipients     []string
	recipientFiles []string
	out            string
	targets        []string
	sequence       uint64
	split          string
	ledger         string
	level          string
	force          bool
	registryCA     string
	insecure       []string
	secrets        secretOptions
	progress       progressOptions
	delta          deltaOptions
}

func newBuildCommand() *cobra.Command {
	var o buildOptions
	c := &cobra.Command{
		Use:   "build [RELEASE_DIR|airlock.yaml] --key release.key --recipient age1…",
		Short: "Build a signed, encrypted bundle from a release",
		Long: `Build a bundle from airlock.yaml (default: ./airlock.yaml): every package file
is hashed into a deterministic tar, compressed with zstd, encrypted with age to
every recipient, and described by manifest.json and a signed in-toto statement.
The statement is also copied into the builder's ledger.

OUT ending in .airlock is one tar file; anything else is a folder. The default
is NAME-VERSION.airlock, or the folder NAME-VERSION with --split.

SOURCE_DATE_EPOCH sets the file times written in the payload.

With --since (media folders or receipt files carried out of the zone) and
--zone-register (or --receipt-key), the bundle is a delta: the receipts are
verified, and what every target host's newest one says it holds — whole
files, and 64 KiB chunks of files above 256 KiB — is left out of the
payload; the manifest still lists every file, and names the receipts.`,
		Example: examples(
			"airlock build examples/payments-api --key release.key --recipients-file zone/zone.recipient",
			"airlock build --key 'pkcs11:token=airlock;object=release' -r age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p --split 700M -o payments-api-2.4.1 --json",
			"airlock build examples/payments-api --key release.key -R zone/recipients.txt --since /media/usb/receipts --zone-register zone/zone.yaml"),
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.release = "."
			if len(args) == 1 {
				o.release = args[0]
			}
			return runBuild(c, o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.key, "key", "", "release signing key: a PEM file (password from --password-file, AIRLOCK_PASSWORD or the terminal) or a pkcs11: URI (required)")
	f.StringArrayVarP(&o.recipients, "recipient", "r", nil, "age recipient of the target zone: age1…, age1pq1…, ssh-ed25519 …, or a plugin recipient (repeatable)")
	f.StringArrayVarP(&o.recipientFiles, "recipients-file", "R", nil, "file of age recipients, one per line (repeatable)")
	f.StringVarP(&o.out, "output", "o", "", "output bundle: NAME.airlock (one file) or a folder")
	f.StringArrayVar(&o.targets, "target", nil, "target (zone:NAME, host:NAME or role:NAME) replacing the release's targets (repeatable)")
	f.Uint64Var(&o.sequence, "sequence", 0, "anti-rollback sequence (default: one more than the highest in the ledger)")
	f.StringVar(&o.split, "split", "", "cut the payload into parts of at most SIZE bytes (e.g. 700M, 4G, 25MB) or fat32 (4 GiB - 1 byte)")
	f.StringVar(&o.ledger, "ledger", "", "builder's ledger folder (default $AIRLOCK_LEDGER, else the user state directory: "+defaultLedgerHint()+")")
	f.StringVar(&o.level, "compression", bundle.LevelDefault, "zstd level: "+compressionLevels.String())
	compressionLevels.complete(c, "compression")
	f.BoolVar(&o.force, "force", false, "replace OUT if it exists")
	f.StringVar(&o.registryCA, "registry-ca", "", "PEM file of certificate authorities trusted for the registries images are pulled from, besides the system's")
	f.StringArrayVar(&o.insecure, "insecure-registry", nil, "registry HOST[:PORT] to pull images from over plain HTTP (repeatable; credentials come from the Docker configuration)")
	o.secrets.addPasswordFlag(c)
	o.progress.addFlags(c)
	o.delta.addFlags(c)
	addJSONFlag(c, "build.schema.json")
	_ = c.MarkFlagRequired("key")
	return c
}

// compressionLevels are the values of --compression.
var compressionLevels = choices{bundle.LevelFastest, bundle.LevelDefault, bundle.LevelBetter, bundle.LevelBest}

func runBuild(c *cobra.Command, o buildOptions) error {
	stderr := c.ErrOrStderr()
	if err := checkKeyFlag("key", o.key); err != nil {
		return err
	}
	for _, t := range o.targets {
		if _, _, err := bundle.ParseTarget(t); err != nil {
			return usageErrorf("--target %q: %w", t, err)
		}
	}
	split, err := parseSplit(o.split)
	if err != nil {
		return &usageError{err: err}
	}
	if err := compressionLevels.check("compression", o.level); err != nil {
		return err
	}
	recipients, err := loadRecipients(o.recipients, o.recipientFiles, stderr)
	if err != nil {
		return err
	}
	// The key before the release: decrypting it takes 64 MiB (scrypt), which is then
	// free for the walk of the release and the build to reuse, rather than
	// added to what they hold.
	signer, err := keys.LoadPrivate(o.key, o.secrets.source(stderr))
	if err != nil {
		return err
	}
	defer signer.Close()
	rel, err := bundle.LoadRelease(o.release)
	if err != nil {
		return err
	}
	since, err := o.delta.base(rel, o.targets)
	if err != nil {
		return err
	}
	var base *bundle.Base
	if since != nil {
		base = since.Base
	}
	epoch, err := sourceDateEpoch()
	if err != nil {
		return err
	}
	out := o.out
	if out == "" {
		out = rel.Name + "-" + rel.Version
		if split == 0 {
			out += bundle.Extension
		}
	}
	ledger := o.ledger
	if ledger == "" {
		if ledger, err = defaultLedger(); err != nil {
			return err
		}
	}
	start := time.Now()
	rep, done := o.progress.reporter(c)
	res, err := bundle.Build(c.Context(), bundle.BuildOptions{
		Progress: rep,
		Release:  rel, Signer: signer, Recipients: recipients, Out: out, Force: o.force,
		Targets: o.targets, Sequence: o.sequence, SplitSize: split, LedgerDir: ledger,
		Level: o.level, Epoch: epoch, ToolVersion: appVersion(), Base: base,
		Registry: bundle.RegistryOptions{CAFile: o.registryCA, Insecure: o.insecure},
		Warn:     func(format string, a ...any) { fmt.Fprintf(stderr, "airlock: warning: "+format+"\n", a...) },
	})
	done()
	if err != nil {
		return err
	}
	br := buildReport{Bundle: res.Out, Ledger: res.Ledger, Predicate: &res.Statement.Predicate,
		Seconds: time.Since(start).Round(time.Millisecond).Seconds()}
	if since != nil {
		br.Delta = &deltaReport{Hosts: since.Hosts}
		if in, err := bundle.Inspect(res.Out); err == nil && in.Delta != nil {
			br.Delta.DeltaSummary = *in.Delta
		}
	}
	report(c, br, printBuild)
	return nil
}

// buildReport is what build reports: where the bundle and its ledger
// copy are, and the statement's predicate.
type buildReport struct {
	Bundle    string            `json:"bundle"`
	Ledger    string            `json:"ledger"`
	Predicate *bundle.Predicate `json:"predicate"`
	Seconds   float64           `json:"seconds"` // how long the build took
	// Delta is what --since left out, and from which receipts.
	Delta *deltaReport `json:"delta,omitempty"`
}

func printBuild(w io.Writer, r buildReport) {
	p := r.Predicate
	fmt.Fprintf(w, "built    %s %s (channel %s, sequence %d)\n", p.Name, p.Version, p.Channel, p.Sequence)
	fmt.Fprintf(w, "bundle   %s (%d part(s), %s)\n", r.Bundle, len(p.Payload.Parts), humanBytes(p.Payload.Size))
	fmt.Fprintf(w, "id       %s\n", p.BundleID)
	fmt.Fprintf(w, "payload  %d entries, %s plaintext, sha256 %s\n", p.Payload.Entries, humanBytes(p.Payload.PlaintextSize), p.Payload.PlaintextSHA256)
	fmt.Fprintf(w, "targets  %v, expires %s\n", p.Targets, p.Expires.Format(time.RFC3339))
	fmt.Fprintf(w, "ledger   %s\n", r.Ledger)
	printDelta(w, r.Delta)
	fmt.Fprintf(w, "took     %s\n", time.Duration(r.Seconds*float64(time.Second)).Round(time.Millisecond))
}

func loadRecipients(rs, files []string, stderr interface{ Write([]byte) (int, error) }) ([]age.Recipient, error) {
	ui := agekeys.TerminalUI(stderr)
	var out []age.Recipient
	for _, s := range rs {
		r, err := agekeys.ParseRecipient(s, ui)
		if err != nil {
			return nil, usageErrorf("--recipient: %w", err)
		}
		out = append(out, r)
	}
	for _, f := range files {
		more, err := agekeys.ParseRecipientsFile(f, ui)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	if len(out) == 0 {
		return nil, usageErrorf("no recipients: give --recipient age1… (the zone's zone.recipient) or --recipients-file")
	}
	return out, nil
}

// sourceDateEpoch reads SOURCE_DATE_EPOCH (https://reproducible-builds.org/specs/source-date-epoch/).
func sourceDateEpoch() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want a non-negative integer of seconds", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

// defaultLedger is $AIRLOCK_LEDGER, else <state dir>/airlock/ledger.
func defaultLedger() (string, error) {
	if d := os.Getenv("AIRLOCK_LEDGER"); d != "" {
		return d, nil
	}
	if runtime.GOOS == "windows" {
		if d := os.Getenv("LocalAppData"); d != "" {
			return filepath.Join(d, "airlock", "ledger"), nil
		}
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "airlock", "ledger"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no ledger folder: give --ledger or set AIRLOCK_LEDGER (%w)", err)
	}
	return filepath.Join(home, ".local", "state", "airlock", "ledger"), nil
}

func defaultLedgerHint() string {
	if runtime.GOOS == "windows" {
		return `%LocalAppData%\airlock\ledger`
	}
	return "$XDG_STATE_HOME/airlock/ledger or ~/.local/state/airlock/ledger"
}
