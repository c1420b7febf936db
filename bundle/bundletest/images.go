package bundletest

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"filippo.io/age"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
)

// Layer makes a gzip-compressed OCI layer of files (path → content;
// paths under bin/ are executable), as `docker build` would.
func Layer(t testing.TB, files map[string][]byte) v1.Layer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		mode := int64(0o644)
		if strings.Contains(n, "bin/") {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: mode, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(files[n])
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Image makes an OCI image of the layers for platform "os/arch".
func Image(t testing.TB, platform string, layers ...v1.Layer) v1.Image {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(img, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, _ = strings.Cut(platform, "/")
	cf.Config.Entrypoint = []string{"/bin/sh"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// Index makes an OCI index of images, each for its platform.
func Index(t testing.TB, images map[string]v1.Image) v1.ImageIndex {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	platforms := make([]string, 0, len(images))
	for p := range images {
		platforms = append(platforms, p)
	}
	sort.Strings(platforms)
	for _, p := range platforms {
		os, arch, _ := strings.Cut(p, "/")
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: images[p],
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: os, Architecture: arch}}})
	}
	return idx
}

// WriteLayout writes an OCI image layout at dir holding each image or
// index under its name (the org.opencontainers.image.ref.name annotation).
func WriteLayout(t testing.TB, dir string, named map[string]any) {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(named))
	for n := range named {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		opt := layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": n})
		switch x := named[n].(type) {
		case v1.Image:
			err = p.AppendImage(x, opt)
		case v1.ImageIndex:
			err = p.AppendIndex(x, opt)
		default:
			t.Fatalf("WriteLayout: %s is a %T", n, x)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// PayloadFiles decrypts and unpacks the payload of folder bundle dir:
// path → content of each regular file.
func (f *Fixture) PayloadFiles(dir string) map[string][]byte {
	f.T.Helper()
	var parts []io.Reader
	for _, part := range f.Statement(dir).Predicate.Payload.Parts {
		fh, err := os.Open(filepath.Join(dir, part.Name))
		if err != nil {
			f.T.Fatal(err)
		}
		defer fh.Close()
		parts = append(parts, fh)
	}
	ar, err := age.Decrypt(io.MultiReader(parts...), f.Identity)
	if err != nil {
		f.T.Fatal(err)
	}
	zr, err := zstd.NewReader(ar)
	if err != nil {
		f.T.Fatal(err)
	}
	defer zr.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			f.T.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			if err != nil {
				f.T.Fatal(err)
			}
			out[h.Name] = data
		}
	}
}
