package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/internal/oci"
	"airlock.dev/airlock/verify"
)

// ExportOptions configures ExportImages: Options names the bundle, the
// zone's trust policy and how its keys are unlocked; Images the images
// to export (none: all of them); To the folder to write, which must not
// exist.
type ExportOptions struct {
	Options
	Images []string
	To     string
}

// ExportResult lists the images written.
type ExportResult struct {
	To     string            `json:"to"`
	Images []bundle.ImageRef `json:"images"`
}

// ExportImages verifies and decrypts a bundle as plan does, checks every
// blob of the images asked for against the signed manifest, and writes
// them as a standard OCI image layout at To (each image named by its
// name in org.opencontainers.image.ref.name), for podman, skopeo or
// containerd on a host without a registry. The layout is written beside
// To and renamed into place: To holds all of it or does not exist.
func ExportImages(ctx context.Context, o ExportOptions) (*ExportResult, error) {
	if o.Trust == nil {
		return nil, errors.New("images export: no trust policy")
	}
	if o.To == "" {
		return nil, errors.New("images export: no output folder")
	}
	if _, err := os.Lstat(o.To); err == nil {
		return nil, fmt.Errorf("images export: %s already exists", o.To)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	st, err := openState(o.Trust.StateDir, o.Now)
	if err != nil {
		return nil, err
	}
	a := &applier{o: o.Options, state: st, zone: o.Trust.Policy.Zone, host: o.Trust.Policy.Host, j: &journal{}}
	b, err := bundle.Open(o.Bundle)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	vr, err := verify.Bundle(ctx, b, verify.Options{Policy: o.Trust.Policy, Now: a.o.Now(), Sequence: a.sequence, Progress: o.Progress})
	if err != nil {
		return nil, err
	}
	images, err := selectImages(vr.Manifest, o.Images)
	if err != nil {
		return nil, err
	}
	dir, err := atomicfile.MkdirTemp(st.stagingDir(""), planPrefix)
	if err != nil {
		return nil, err
	}
	os.Remove(dir) // stage creates it afresh
	defer os.RemoveAll(dir)
	staged, err := a.stageInto(ctx, b, vr, dir)
	if err != nil {
		return nil, stagingError(err)
	}
	src := filepath.Join(staged.Root, bundle.ImagesRoot)
	for i := range images {
		if err := checkImageBlobs(ctx, src, &images[i]); err != nil {
			return nil, fmt.Errorf("image %s: %w", images[i].Name, err)
		}
	}
	parent, base := filepath.Split(filepath.Clean(o.To))
	work, err := atomicfile.MkdirTemp(filepath.Join(parent, "."), "."+base+".export-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	if err := writeLayout(src, work, images); err != nil {
		return nil, err
	}
	if err := os.Rename(work, o.To); err != nil {
		return nil, err
	}
	return &ExportResult{To: o.To, Images: images}, nil
}

// selectImages returns the manifest's images of those names (all of
// them for none, or for "all").
func selectImages(m *bundle.Manifest, names []string) ([]bundle.ImageRef, error) {
	if len(m.Images) == 0 {
		return nil, errors.New("the bundle carries no images")
	}
	if len(names) == 0 || slices.Equal(names, []string{"all"}) {
		return m.Images, nil
	}
	var out []bundle.ImageRef
	for _, n := range names {
		im := m.ImageByName(n)
		if im == nil {
			var have []string
			for _, im := range m.Images {
				have = append(have, im.Name)
			}
			return nil, fmt.Errorf("the bundle has no image %q (it has %s)", n, strings.Join(have, ", "))
		}
		out = append(out, *im)
	}
	return out, nil
}

// writeLayout copies the blobs of images from the layout at src into a
// new OCI image layout at dst, with its oci-layout and index.json.
func writeLayout(src, dst string, images []bundle.ImageRef) error {
	blobs := filepath.Join(dst, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return err
	}
	index := struct {
		SchemaVersion int              `json:"schemaVersion"`
		MediaType     string           `json:"mediaType"`
		Manifests     []oci.Descriptor `json:"manifests"`
	}{2, oci.MediaTypeIndex, []oci.Descriptor{}}
	done := map[string]bool{}
	for _, im := range images {
		index.Manifests = append(index.Manifests, im.LayoutDescriptors()...)
		for _, b := range im.Blobs {
			if done[b.Digest] {
				continue
			}
			done[b.Digest] = true
			hex := strings.TrimPrefix(b.Digest, "sha256:")
			if err := copyFile(filepath.Join(src, "blobs", "sha256", hex), filepath.Join(blobs, hex), 0o644); err != nil {
				return err
			}
		}
	}
	raw, err := json.MarshalIndent(index, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dst, "index.json"), append(raw, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dst, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`+"\n"), 0o644)
}
