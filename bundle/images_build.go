package bundle

import (
	"archive/tar"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/internal/oci"
)

// RegistryOptions says how the build reaches registries. Credentials come
// from the Docker configuration (DOCKER_CONFIG, ~/.docker/config.json),
// never from airlock.yaml.
type RegistryOptions struct {
	// CAFile is a PEM file of certificate authorities trusted besides the
	// system's.
	CAFile string
	// Insecure lists registries (host[:port]) reached over plain HTTP.
	// Loopback and private addresses are reached so anyway.
	Insecure []string
	// Keychain finds credentials; nil means the Docker configuration.
	Keychain authn.Keychain
}

// ociRefName is the annotation an OCI image layout names its images by.
const ociRefName = "org.opencontainers.image.ref.name"

// imageFetcher opens the image sources of a release at build.
type imageFetcher struct {
	ctx     context.Context
	dir     string // the release directory
	scratch string // a folder for unpacked archives
	opts    RegistryOptions
	tr      http.RoundTripper
}

// fetchedImage is an image source opened: an index or an image, and
// where the zone pushes it.
type fetchedImage struct {
	index      v1.ImageIndex
	image      v1.Image
	repository string
	tag        string
	repo       *name.Repository // the registry repository it came from (ref: alone)
}

// maxRegistryCAFile caps the --registry-ca file: PEM certificates.
const maxRegistryCAFile = 1 << 20

func newImageFetcher(ctx context.Context, dir, scratch string, opts RegistryOptions) (*imageFetcher, error) {
	f := &imageFetcher{ctx: ctx, dir: dir, scratch: scratch, opts: opts}
	if opts.Keychain == nil {
		f.opts.Keychain = authn.DefaultKeychain
	}
	tr := remote.DefaultTransport.(*http.Transport).Clone()
	if opts.CAFile != "" {
		pem, err := capped.ReadFile(opts.CAFile, maxRegistryCAFile)
		if err != nil {
			return nil, fmt.Errorf("registry CA: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("registry CA %s: no PEM certificate in it", opts.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	f.tr = tr
	return f, nil
}

func (f *imageFetcher) remoteOptions() []remote.Option {
	return []remote.Option{remote.WithContext(f.ctx), remote.WithAuthFromKeychain(f.opts.Keychain), remote.WithTransport(f.tr)}
}

// reference parses s for the registry, reached over plain HTTP when it
// is listed as insecure.
func (f *imageFetcher) reference(s string) (name.Reference, error) {
	var opts []name.Option
	if r, err := ParseReference(s); err == nil && slices.Contains(f.opts.Insecure, r.Host) {
		opts = append(opts, name.Insecure)
	}
	return name.ParseReference(s, opts...)
}

// remote resolves a registry reference to a digest once; what is shipped
// is what that digest names, whatever the tag points at later.
func (f *imageFetcher) remote(im *Image) (*fetchedImage, error) {
	ref, err := f.reference(im.Source)
	if err != nil {
		return nil, err
	}
	desc, err := remote.Get(ref, f.remoteOptions()...)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", im.Source, err)
	}
	r, _ := ParseReference(im.Source)
	out := &fetchedImage{repository: r.Repository, tag: r.Tag, repo: repositoryOf(ref)}
	if desc.MediaType.IsIndex() {
		out.index, err = desc.ImageIndex()
	} else {
		out.image, err = desc.Image()
	}
	return out, err
}

// layout opens the image of a layout folder that ref selects.
func (f *imageFetcher) layout(im *Image) (*fetchedImage, error) {
	return f.fromLayout(im, filepath.Join(f.dir, filepath.FromSlash(im.Source)))
}

func (f *imageFetcher) fromLayout(im *Image, dir string) (*fetchedImage, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("%s is not an OCI image layout: %w", im.Source, err)
	}
	ii, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", im.Source, err)
	}
	idx, err := ii.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("%s: index.json: %w", im.Source, err)
	}
	var want Reference
	if im.Ref != "" {
		want, _ = ParseReference(im.Ref)
	}
	var found []v1.Descriptor
	var names []string
	for _, d := range idx.Manifests {
		n := d.Annotations[ociRefName]
		names = append(names, n)
		if im.Ref == "" || n == im.Ref || (want.Tag != "" && n == want.Tag) {
			found = append(found, d)
		}
	}
	switch {
	case len(found) == 0 && im.Ref == "":
		return nil, fmt.Errorf("%s holds no image", im.Source)
	case len(found) == 0:
		return nil, fmt.Errorf("%s has no image named %s (it has %s)", im.Source, quoteShort(im.Ref), quoteList(names))
	case len(found) > 1 && im.Ref == "":
		return nil, fmt.Errorf("%s holds %d images (%s): say which with ref", im.Source, len(found), quoteList(names))
	case len(found) > 1:
		return nil, fmt.Errorf("%s holds %d images named %s", im.Source, len(found), quoteShort(im.Ref))
	}
	d := found[0]
	out := &fetchedImage{repository: want.Repository, tag: want.Tag}
	if im.Ref == "" {
		// The image's own name, when it is a full one; else the image's.
		if r, err := ParseReference(d.Annotations[ociRefName]); err == nil && strings.Contains(d.Annotations[ociRefName], ":") {
			out.repository, out.tag = r.Repository, r.Tag
		} else {
			out.repository = im.Name
			if tagRE.MatchString(d.Annotations[ociRefName]) {
				out.tag = d.Annotations[ociRefName]
			}
		}
	}
	if d.MediaType.IsIndex() {
		out.index, err = ii.ImageIndex(d.Digest)
	} else {
		out.image, err = ii.Image(d.Digest)
	}
	return out, err
}

// archive opens a docker save archive, or an OCI archive (a tar of an
// OCI image layout), which it unpacks into the scratch folder first.
func (f *imageFetcher) archive(im *Image) (*fetchedImage, error) {
	file := filepath.Join(f.dir, filepath.FromSlash(im.Source))
	// A regular file, checked without blocking, before the archive
	// readers (which open it by name) are given it.
	fh, _, err := capped.Open(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", im.Source, err)
	}
	fh.Close()
	isOCI, err := tarHolds(file, "oci-layout")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", im.Source, err)
	}
	if isOCI {
		dir, err := os.MkdirTemp(f.scratch, "archive-")
		if err != nil {
			return nil, err
		}
		if err := untarLayout(file, dir); err != nil {
			return nil, fmt.Errorf("%s: %w", im.Source, err)
		}
		return f.fromLayout(im, dir)
	}
	var tag *name.Tag
	var want Reference
	if im.Ref != "" {
		want, _ = ParseReference(im.Ref)
		t, err := name.NewTag(im.Ref)
		if err != nil {
			return nil, err
		}
		tag = &t
	}
	img, err := tarball.ImageFromPath(file, tag)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", im.Source, err)
	}
	out := &fetchedImage{image: img, repository: want.Repository, tag: want.Tag}
	if im.Ref == "" {
		out.repository = im.Name
		if m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(file) }); err == nil && len(m) == 1 && len(m[0].RepoTags) > 0 {
			if r, err := ParseReference(m[0].RepoTags[0]); err == nil {
				out.repository, out.tag = r.Repository, r.Tag
			}
		}
	}
	return out, nil
}

// tarHolds reports whether the tar file has an entry of that name.
func tarHolds(file, entry string) (bool, error) {
	fh, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer fh.Close()
	tr := tar.NewReader(fh)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("not a tar archive: %w", err)
		}
		if path.Clean(h.Name) == entry {
			return true, nil
		}
	}
}

// untarLayout unpacks the OCI layout of a tar into dir: only oci-layout,
// index.json and blobs/sha256/<hex>, regular files, through an os.Root.
func untarLayout(file, dir string) error {
	fh, err := os.Open(file)
	if err != nil {
		return err
	}
	defer fh.Close()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := root.MkdirAll("blobs/sha256", 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(fh)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		n := path.Clean(strings.TrimPrefix(h.Name, "./"))
		keep := n == "oci-layout" || n == "index.json" || (strings.HasPrefix(n, "blobs/sha256/") && oci.ValidDigest("sha256:"+path.Base(n)) && path.Dir(n) == "blobs/sha256")
		if !keep || h.Typeflag != tar.TypeReg {
			continue
		}
		out, err := root.OpenFile(n, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
}

// stagedImages is the OCI image layout the build writes the images of a
// release into before they enter the payload.
type stagedImages struct {
	dir  string
	path layout.Path
	refs []ImageRef
}

// stageImages opens every image of r, selects its platforms, writes its
// blobs into an OCI image layout in dir (each blob once) and returns the
// images as the manifest records them and the payload entries of the
// layout.
func stageImages(ctx context.Context, r *Release, dir string, opts RegistryOptions) ([]ImageRef, []source, error) {
	if len(r.Images) == 0 {
		return nil, nil, nil
	}
	lay := filepath.Join(dir, "layout")
	if err := os.Mkdir(lay, 0o755); err != nil {
		return nil, nil, err
	}
	f, err := newImageFetcher(ctx, r.Dir, dir, opts)
	if err != nil {
		return nil, nil, err
	}
	s := &stagedImages{dir: lay, path: layout.Path(lay)}
	for i := range r.Images {
		im := &r.Images[i]
		kind := inputKindOf(im.Kind)
		if kind == nil || kind.fetch == nil {
			return nil, nil, fmt.Errorf("image %s: unknown input kind %q", im.Name, im.Kind)
		}
		fi, err := kind.fetch(f, im)
		if err != nil {
			return nil, nil, fmt.Errorf("image %s: %w", im.Name, err)
		}
		var sig v1.Image
		if im.VerifyKey != "" {
			var signed v1.Hash
			if fi.index != nil {
				signed, err = fi.index.Digest()
			} else {
				signed, err = fi.image.Digest()
			}
			if err == nil {
				sig, err = f.verifySignature(im, fi, signed)
			}
			if err != nil {
				return nil, nil, fmt.Errorf("image %s: %w", im.Name, err)
			}
		}
		ref, err := s.add(im, fi, sig)
		if err != nil {
			return nil, nil, fmt.Errorf("image %s: %w", im.Name, err)
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		s.refs = append(s.refs, ref)
	}
	entries, err := s.entries()
	return s.refs, entries, err
}

// add writes the blobs of an image, as its platforms select, and lists them.
func (s *stagedImages) add(im *Image, fi *fetchedImage, sig v1.Image) (ImageRef, error) {
	ref := ImageRef{Name: im.Name, Kind: string(im.Kind), Source: im.Source, Repository: fi.repository, Tag: fi.tag, Platforms: im.Platforms}
	if im.Kind != InputImageRef && im.Ref != "" {
		ref.Source = im.Source + " " + im.Ref
	}
	var root v1.Descriptor
	var err error
	switch {
	case fi.index != nil && len(im.Platforms) > 0:
		root, ref.UpstreamDigest, err = s.selectPlatforms(fi.index, im.Platforms)
	case fi.index != nil:
		root, err = describe(fi.index)
		if err == nil {
			err = s.path.WriteIndex(fi.index)
		}
	default:
		if err = checkImagePlatform(fi.image, im.Platforms); err == nil {
			root, err = describe(fi.image)
		}
		if err == nil {
			err = s.path.WriteImage(fi.image)
		}
	}
	if err != nil {
		return ref, err
	}
	ref.Digest, ref.MediaType, ref.Size = root.Digest.String(), string(root.MediaType), root.Size
	blobs, err := oci.Walk(oci.Descriptor{MediaType: ref.MediaType, Digest: ref.Digest, Size: ref.Size}, s.manifest)
	if err != nil {
		return ref, err
	}
	if sig != nil {
		// The signature manifest travels with the image: its blobs follow
		// the image's.
		if err := s.path.WriteImage(sig); err != nil {
			return ref, err
		}
		d, err := describe(sig)
		if err != nil {
			return ref, err
		}
		sigBlobs, err := oci.Walk(oci.Descriptor{MediaType: string(d.MediaType), Digest: d.Digest.String(), Size: d.Size}, s.manifest)
		if err != nil {
			return ref, fmt.Errorf("signature: %w", err)
		}
		for _, b := range sigBlobs {
			if !slices.ContainsFunc(blobs, func(x oci.Descriptor) bool { return x.Digest == b.Digest }) {
				blobs = append(blobs, b)
			}
		}
		ref.Signatures = append(ref.Signatures, d.Digest.String())
	}
	for _, b := range blobs {
		info, err := os.Stat(filepath.Join(s.dir, filepath.FromSlash(strings.TrimPrefix(BlobPath(b.Digest), ImagesRoot+"/"))))
		if err != nil || info.Size() != b.Size {
			return ref, fmt.Errorf("blob %s of %d bytes was not written", b.Digest, b.Size)
		}
		ref.Blobs = append(ref.Blobs, BlobRef{Digest: b.Digest, MediaType: b.MediaType, Size: b.Size})
	}
	return ref, nil
}

func describe(x interface {
	Digest() (v1.Hash, error)
	Size() (int64, error)
	RawManifest() ([]byte, error)
}) (v1.Descriptor, error) {
	var d v1.Descriptor
	var err error
	if d.Digest, err = x.Digest(); err != nil {
		return d, err
	}
	if d.Size, err = x.Size(); err != nil {
		return d, err
	}
	raw, err := x.RawManifest()
	if err != nil {
		return d, err
	}
	var head struct {
		MediaType string `json:"mediaType"`
	}
	_ = json.Unmarshal(raw, &head)
	mt := head.MediaType
	if mt == "" {
		if mter, ok := x.(interface {
			MediaType() (types.MediaType, error)
		}); ok {
			t, err := mter.MediaType()
			if err != nil {
				return d, err
			}
			mt = string(t)
		}
	}
	d.MediaType = types.MediaType(mt)
	return d, nil
}

// manifest reads a manifest or index blob of the staged layout.
func (s *stagedImages) manifest(d oci.Descriptor) ([]byte, error) {
	if d.Size > oci.MaxManifestSize {
		return nil, fmt.Errorf("%s: manifest of %d bytes, at most %d allowed", d.Digest, d.Size, oci.MaxManifestSize)
	}
	return os.ReadFile(filepath.Join(s.dir, "blobs", "sha256", strings.TrimPrefix(d.Digest, "sha256:")))
}

// platformOf formats a platform as os/arch[/variant].
func platformOf(p *v1.Platform) string {
	if p == nil {
		return ""
	}
	return (&oci.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}).String()
}

// platformMatches reports whether want (os/arch[/variant]) names p; a
// want without a variant names every variant.
func platformMatches(want string, p *v1.Platform) bool {
	got := platformOf(p)
	return got == want || (strings.Count(want, "/") == 1 && strings.HasPrefix(got, want+"/"))
}

// selectPlatforms writes the children of idx for platforms: one platform
// ships its manifest under its upstream digest; several a new index of
// just those. It returns the shipped descriptor and the upstream index's
// digest.
func (s *stagedImages) selectPlatforms(idx v1.ImageIndex, platforms []string) (v1.Descriptor, string, error) {
	up, err := idx.Digest()
	if err != nil {
		return v1.Descriptor{}, "", err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return v1.Descriptor{}, "", err
	}
	var has []string
	for _, c := range im.Manifests {
		if c.Platform != nil {
			has = append(has, platformOf(c.Platform))
		}
	}
	var chosen []v1.Descriptor
	for _, p := range platforms {
		i := slices.IndexFunc(im.Manifests, func(c v1.Descriptor) bool { return platformMatches(p, c.Platform) })
		if i < 0 {
			return v1.Descriptor{}, "", fmt.Errorf("no platform %s in the index (it has %s)", p, quoteList(has))
		}
		c := im.Manifests[i]
		if c.MediaType.IsIndex() {
			child, err := idx.ImageIndex(c.Digest)
			if err == nil {
				err = s.path.WriteIndex(child)
			}
			if err != nil {
				return v1.Descriptor{}, "", err
			}
		} else {
			child, err := idx.Image(c.Digest)
			if err == nil {
				err = s.path.WriteImage(child)
			}
			if err != nil {
				return v1.Descriptor{}, "", err
			}
		}
		chosen = append(chosen, c)
	}
	if len(chosen) == 1 {
		return chosen[0], up.String(), nil
	}
	mt := im.MediaType
	if mt == "" {
		mt = oci.MediaTypeIndex
	}
	raw, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: mt, Manifests: chosen})
	if err != nil {
		return v1.Descriptor{}, "", err
	}
	h, n, err := v1.SHA256(strings.NewReader(string(raw)))
	if err != nil {
		return v1.Descriptor{}, "", err
	}
	if err := s.path.WriteBlob(h, io.NopCloser(strings.NewReader(string(raw)))); err != nil {
		return v1.Descriptor{}, "", err
	}
	return v1.Descriptor{MediaType: mt, Digest: h, Size: n}, up.String(), nil
}

// checkImagePlatform checks that a single image is of the one platform
// asked for, if any.
func checkImagePlatform(img v1.Image, platforms []string) error {
	if len(platforms) == 0 {
		return nil
	}
	cf, err := img.ConfigFile()
	if err != nil || cf == nil {
		return fmt.Errorf("platforms %s asked for, but it is not a multi-platform index and has no image configuration naming its platform", strings.Join(platforms, ", "))
	}
	p := &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	if len(platforms) > 1 || !platformMatches(platforms[0], p) {
		return fmt.Errorf("it is a single-platform image of %s, not %s", platformOf(p), strings.Join(platforms, ", "))
	}
	return nil
}

// layoutIndex is the index.json of the payload's layout.
type layoutIndex struct {
	SchemaVersion int              `json:"schemaVersion"`
	MediaType     string           `json:"mediaType"`
	Manifests     []oci.Descriptor `json:"manifests"`
}

// layoutFile is the content of an OCI layout's oci-layout file.
const layoutFile = `{"imageLayoutVersion":"1.0.0"}`

// entries writes index.json (each image named by its name) and
// oci-layout, and lists the layout's payload entries: each blob once.
func (s *stagedImages) entries() ([]source, error) {
	idx := layoutIndex{SchemaVersion: 2, MediaType: oci.MediaTypeIndex, Manifests: []oci.Descriptor{}}
	for _, r := range s.refs {
		idx.Manifests = append(idx.Manifests, r.LayoutDescriptors()...)
	}
	raw, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(s.dir, "index.json"), append(raw, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(s.dir, "oci-layout"), []byte(layoutFile+"\n"), 0o644); err != nil {
		return nil, err
	}
	staged := os.DirFS(s.dir)
	dir := func(p string) source {
		return source{File: File{Path: p, Type: TypeDir, Mode: 0o755}, field: "images"}
	}
	file := func(p, digest string) (source, error) {
		info, err := fs.Stat(staged, strings.TrimPrefix(p, ImagesRoot+"/"))
		if err != nil {
			return source{}, err
		}
		return source{File: File{Path: p, Type: TypeFile, Mode: 0o644, Size: info.Size()}, src: strings.TrimPrefix(p, ImagesRoot+"/"),
			staged: staged, digest: digest, field: "images"}, nil
	}
	out := []source{dir(ImagesRoot), dir(ImagesRoot + "/blobs"), dir(ImagesRoot + "/blobs/sha256")}
	for _, name := range []string{"index.json", "oci-layout"} {
		e, err := file(ImagesRoot+"/"+name, "")
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	seen := map[string]bool{}
	for _, r := range s.refs {
		for _, b := range r.Blobs {
			if seen[b.Digest] {
				continue
			}
			seen[b.Digest] = true
			e, err := file(BlobPath(b.Digest), strings.TrimPrefix(b.Digest, "sha256:"))
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// quoteList quotes each item, comma-separated; "nothing" when empty.
func quoteList(items []string) string {
	if len(items) == 0 {
		return "nothing"
	}
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = quoteShort(s)
	}
	return strings.Join(q, ", ")
}

// mergeEntries returns the payload entries of the release and of its
// images in path order (parents first).
func mergeEntries(a, b []source) []source {
	out := slices.Concat(a, b)
	slices.SortStableFunc(out, func(x, y source) int { return strings.Compare(x.Path, y.Path) })
	return out
}
