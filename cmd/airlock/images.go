package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"airlock.dev/airlock/apply"
	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

// printManifestImages lists the images a bundle carries (inspect).
func printManifestImages(w io.Writer, m *bundle.Manifest) {
	if len(m.Images) == 0 {
		return
	}
	q := printable.String
	fmt.Fprintf(w, "\nimages\n")
	for _, im := range m.Images {
		var size int64
		for _, b := range im.Blobs {
			size += b.Size
		}
		where := im.Repository
		if im.Tag != "" {
			where += ":" + im.Tag
		}
		fmt.Fprintf(w, "  %-20s %s %s, %d blobs, %s, from %s\n", q(im.Name), q(where), q(im.Digest), len(im.Blobs), humanBytes(size), q(im.Source))
		if im.UpstreamDigest != "" {
			fmt.Fprintf(w, "  %-20s platforms %s of upstream index %s\n", "", q(fmt.Sprint(im.Platforms)), q(im.UpstreamDigest))
		}
	}
}

// printReceiptImages lists the images an apply pushed (receipt show).
func printReceiptImages(w io.Writer, images []receipt.Image) {
	if len(images) == 0 {
		return
	}
	q := printable.String
	fmt.Fprintf(w, "\nimages\n")
	for _, im := range images {
		where := im.Reference
		if where == "" {
			where = im.Registry
		}
		fmt.Fprintf(w, "  %-9s %-20s %s", q(im.Outcome), q(im.Name), q(where))
		if im.Tag != "" {
			fmt.Fprintf(w, " (tag %s)", q(im.Tag))
		}
		if im.Error != "" {
			fmt.Fprintf(w, ": %s", q(im.Error))
		}
		fmt.Fprintln(w)
	}
}

type imagesExportOptions struct {
	bundle   string
	trust    string
	to       string
	secrets  secretOptions
	progress progressOptions
}

func newImagesCommand() *cobra.Command {
	c := &cobra.Command{Use: "images", Short: "Work with the container images a bundle carries",
		Example: examples("airlock images export all --bundle shop-1.4.2.airlock --trust zone/trust.yaml --to /srv/oci")}
	groupCommand(c)
	c.AddCommand(newImagesExportCommand())
	return c
}

func newImagesExportCommand() *cobra.Command {
	var o imagesExportOptions
	c := &cobra.Command{
		Use:   "export NAME...|all --bundle BUNDLE --trust trust.yaml --to DIR",
		Short: "Verify and decrypt a bundle and write images it carries as an OCI image layout",
		Long: `Verify and decrypt a bundle as plan does, check every blob of the images
named (or all of them) against the signed manifest, and write them as a
standard OCI image layout at DIR, which must not exist: each image is named
by its name in the bundle (org.opencontainers.image.ref.name), so that
podman, skopeo or containerd can load it on a host without a registry
(skopeo copy oci:DIR:NAME containers-storage:…). Nothing is recorded in
the zone's receipts.`,
		Example: examples(
			"airlock images export all --bundle shop-1.4.2.airlock --trust zone/trust.yaml --to /srv/oci",
			"airlock images export web api --bundle shop-1.4.2.airlock --trust zone/trust.yaml --to web-oci --json"),
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return runImagesExport(c, o, args)
		},
	}
	c.Flags().StringVar(&o.bundle, "bundle", "", "the bundle (required)")
	c.Flags().StringVar(&o.trust, "trust", "", "zone trust policy (trust.yaml) (required)")
	c.Flags().StringVar(&o.to, "to", "", "the OCI image layout folder to write; it must not exist (required)")
	o.progress.addFlags(c)
	addJSONFlag(c, "images-export.schema.json")
	o.secrets.addPassphraseFlag(c)
	for _, f := range []string{"bundle", "trust", "to"} {
		_ = c.MarkFlagRequired(f)
	}
	return c
}

func runImagesExport(c *cobra.Command, o imagesExportOptions, names []string) error {
	t, err := zone.Load(o.trust)
	if err != nil {
		return err
	}
	rep, done := o.progress.reporter(c)
	res, err := apply.ExportImages(c.Context(), apply.ExportOptions{
		Options: apply.Options{Bundle: o.bundle, Trust: t, Stderr: c.ErrOrStderr(), Secrets: o.secrets.source(c.ErrOrStderr()), Progress: rep},
		Images:  names, To: o.to})
	done()
	if err != nil {
		return err
	}
	report(c, res, func(w io.Writer, res *apply.ExportResult) {
		for _, im := range res.Images {
			fmt.Fprintf(w, "%s  %s  oci:%s:%s\n", printable.String(im.Name), printable.String(im.Digest), printable.String(res.To), printable.String(im.Name))
		}
	})
	return nil
}

// printPlanImages lists the bundle's images and where they would be pushed.
func printPlanImages(w io.Writer, images []apply.PlanImage) {
	if len(images) == 0 {
		return
	}
	q := printable.String
	fmt.Fprintln(w, "\nimages (#{Airlock.Images.NAME.Reference})")
	for _, im := range images {
		where := im.Reference
		if where == "" {
			where = "(no registry: in trust.yaml) " + im.Digest
		}
		fmt.Fprintf(w, "  %-20s %s  from %s\n", q(im.Name), q(where), q(im.Source))
	}
}

// imagesText sums up the images an apply pushed, for its history line.
func imagesText(images []receipt.Image) string {
	if len(images) == 0 {
		return ""
	}
	parts := make([]string, len(images))
	for i, im := range images {
		parts[i] = printable.String(im.Name) + " " + printable.String(im.Outcome)
	}
	return "  images: " + strings.Join(parts, ", ")
}
