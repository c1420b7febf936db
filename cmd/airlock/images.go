package main

import (
	"fmt"
	"io"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/receipt"
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
