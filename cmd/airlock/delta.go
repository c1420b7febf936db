package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/verify"
	"airlock.dev/airlock/zone"
)

// deltaOptions are build's flags for a delta bundle.
type deltaOptions struct {
	since      []string
	register   string
	receiptKey string
}

func (o *deltaOptions) addFlags(c *cobra.Command) {
	f := c.Flags()
	f.StringArrayVar(&o.since, "since", nil, "build a delta: leave out what the receipts in this media folder or file say every target host holds (repeatable; needs --zone-register or --receipt-key)")
	f.StringVar(&o.register, "zone-register", "", "with --since: the zone's register (zone.yaml), whose receipt keys verify the receipts and whose hosts the targets select")
	f.StringVar(&o.receiptKey, "receipt-key", "", "with --since, for a zone without a register: the zone's receipt public key (PEM)")
}

// base reads the receipts --since names, verifies them, and returns what
// every target host of rel holds; nil without --since.
func (o *deltaOptions) base(rel *bundle.Release, targets []string) (*verify.SinceResult, error) {
	if len(o.since) == 0 {
		if o.register != "" || o.receiptKey != "" {
			return nil, usageErrorf("--zone-register and --receipt-key go with --since")
		}
		return nil, nil
	}
	if (o.register == "") == (o.receiptKey == "") {
		return nil, usageErrorf("--since needs one of --zone-register and --receipt-key")
	}
	if len(targets) == 0 {
		targets = rel.Targets
	}
	so := verify.SinceOptions{Paths: o.since, Release: rel.Name, Targets: targets}
	if o.register != "" {
		reg, err := zone.ReadRegister(o.register)
		if err != nil {
			return nil, err
		}
		so.Register = reg
	} else {
		k, err := keys.LoadPublic(o.receiptKey)
		if err != nil {
			return nil, err
		}
		so.Key = k
		for _, t := range targets {
			if kind, name, err := bundle.ParseTarget(t); err == nil && kind == bundle.TargetZone {
				if so.Zone != "" {
					return nil, usageErrorf("--receipt-key: the release targets two zones; give --zone-register")
				}
				so.Zone = name
			}
		}
	}
	return verify.Since(so)
}

// deltaReport is what build reports of a delta.
type deltaReport struct {
	Hosts []verify.SinceHost `json:"hosts"`
	bundle.DeltaSummary
}

func printDelta(w io.Writer, d *deltaReport) {
	if d == nil {
		return
	}
	q := printable.String
	for _, h := range d.Hosts {
		if h.Why != "" {
			fmt.Fprintf(w, "base     %s: %s\n", q(h.Host), q(h.Why))
			continue
		}
		fmt.Fprintf(w, "base     %s: receipt %d (%s), %d objects, %s\n", q(h.Host), h.Seq, h.Receipt[:12], h.Objects, humanBytes(h.Bytes))
	}
	fmt.Fprintf(w, "delta    %s of %s left out (%d files whole, %d chunks): held by every target host\n",
		humanBytes(d.LeftOutBytes), humanBytes(d.ReleaseBytes), d.LeftOutFiles, d.LeftOutChunks)
}

// printInspectDelta says what a delta bundle leaves out, and why.
func printInspectDelta(w io.Writer, in *bundle.Inspection) {
	d, m := in.Delta, in.Manifest
	if d == nil || m == nil || m.Delta == nil {
		return
	}
	var base []string
	for _, b := range m.Delta.Base {
		base = append(base, fmt.Sprintf("%s receipt %d (%s)", printable.String(b.Host), b.Seq, b.Receipt[:12]))
	}
	fmt.Fprintf(w, "delta     %s of %s left out (%d files whole, %d chunks): the zone holds them, as %s say\n",
		humanBytes(d.LeftOutBytes), humanBytes(d.ReleaseBytes), d.LeftOutFiles, d.LeftOutChunks, strings.Join(base, ", "))
}

// printInventory shows a receipt's inventory and delta records.
func printInventory(w io.Writer, p *receipt.Predicate) {
	q := printable.String
	if d := p.Delta; d != nil {
		fmt.Fprintf(w, "delta     from %d base receipt(s), %d objects (%s) taken from the content store\n", len(d.Base), d.BaseObjects, humanBytes(d.BaseBytes))
	}
	if inv := p.Inventory; inv != nil {
		fmt.Fprintf(w, "inventory %d objects (%s) held for later deltas, listed in %s (sha256 %s)\n", inv.Objects, humanBytes(inv.Bytes), q(inv.List), q(inv.SHA256))
	}
}
