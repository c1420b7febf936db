package bundle

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"airlock.dev/airlock/internal/oci"
)

// Container images and other OCI artifacts are inputs of a release listed
// under images:, each from one source — an OCI image layout folder
// (layout:), a `docker save` or OCI archive (archive:) or a registry (ref:)
// — see the input kind table. The build resolves each to a digest and
// writes every image into one OCI image layout in the payload, images/,
// each blob once however many images share it; the manifest lists each
// image with every blob it is made of, so that the zone checks each blob
// against the signed manifest before anything is pushed.

// Input kinds of images.
const (
	InputImageLayout  InputKind = "layout"        // an OCI image layout folder of the release directory
	InputImageArchive InputKind = "image-archive" // a docker save or OCI archive of the release directory
	InputImageRef     InputKind = "registry"      // an image in a registry, pulled at build
)

// ImagesRoot is the payload folder holding the OCI image layout.
const ImagesRoot = "images"

// Image is an image or OCI artifact of a release.
type Image struct {
	Name   string    // same format as Package.Name, unique among packages and images
	Kind   InputKind // what Source is
	Source string    // a path relative to Release.Dir, or the reference to pull
	// Ref is the reference the image is pushed as (its registry host left
	// out): for a registry source, Source; for a layout or an archive, the
	// repository and tag that select the image in it ("" when it holds one).
	Ref string
	// Platforms selects the platforms of a multi-platform image
	// ("os/arch[/variant]"); none means all of them.
	Platforms []string
	// VerifyKey is the cosign public key (a path relative to Release.Dir)
	// the image's signature must verify with, or "".
	VerifyKey string
}

// ImageRef is an image as the manifest records it: where it came from,
// what it is (the digest of its top manifest or index), where the zone
// pushes it, and every blob it is made of, each at
// images/blobs/sha256/<hex> in the payload.
type ImageRef struct {
	Name       string `json:"name"`
	Kind       string `json:"kind"`   // the input kind of its source
	Source     string `json:"source"` // as written in airlock.yaml
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest"` // sha256:… of the manifest or index shipped
	MediaType  string `json:"mediaType"`
	Size       int64  `json:"size"`
	// UpstreamDigest is the digest of the upstream index when platforms
	// selected part of it.
	UpstreamDigest string   `json:"upstreamDigest,omitempty"`
	Platforms      []string `json:"platforms,omitempty"`
	// Signatures are the digests of the cosign signature manifests that
	// travel with the image (their blobs are in Blobs too).
	Signatures []string  `json:"signatures,omitempty"`
	Blobs      []BlobRef `json:"blobs"` // the manifest or index first, each digest once
}

// BlobRef is one blob of an image.
type BlobRef struct {
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
}

// BlobPath is the payload path of a blob: images/blobs/sha256/<hex>.
func BlobPath(digest string) string {
	return ImagesRoot + "/blobs/sha256/" + strings.TrimPrefix(digest, "sha256:")
}

// imageKeys are the keys of an entry of images: its name, the source key
// of each input kind declared there, and the image settings.
var imageKeys = slices.Concat([]string{"name"}, inputKeys("images"), []string{"platforms", "verify"})

// verifyKeys are the keys of an image's verify setting.
var verifyKeys = []string{"key"}

// images decodes the list of images; names must differ from those of
// packages.
func (d *releaseDecoder) images(n *yaml.Node, packages []Package) []Image {
	items := d.list(n, "images")
	var out []Image
	seen := map[string]int{}
	taken := map[string]bool{}
	for _, p := range packages {
		taken[p.Name] = true
	}
	for i, item := range items {
		field := indexField("images", i)
		f := d.fields(item, field, imageKeys, "name")
		var im Image
		if v := f["name"]; v != nil {
			im.Name = d.match(v, field+".name", "image name", nameRule)
			switch line := seen[im.Name]; {
			case line > 0:
				d.errorf(v, field+".name", "duplicate image name %s (first at line %d)", quoteShort(im.Name), line)
			case taken[im.Name]:
				d.errorf(v, field+".name", "image name %s is also a package's: names are unique across packages and images", quoteShort(im.Name))
			}
			seen[im.Name] = v.Line
		}
		im.Kind, im.Source = d.inputSource(item, f, field, "images")
		if v := f["ref"]; v != nil {
			im.Ref = d.imageRef(v, field+".ref", im.Kind != InputImageRef)
		}
		if v := f["platforms"]; v != nil {
			im.Platforms = d.platforms(v, field+".platforms")
		}
		if v := f["verify"]; v != nil {
			vf := d.fields(v, field+".verify", verifyKeys, "key")
			if k := vf["key"]; k != nil {
				im.VerifyKey = d.relPath(k, field+".verify.key")
			}
		}
		out = append(out, im)
	}
	return out
}

// referenceRule is a registry reference: [host[:port]/]repository[:tag][@sha256:…],
// lowercase repository path components as distribution's grammar has them.
var (
	repositoryRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	tagRE        = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	hostRE       = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$`)
)

// Reference is a parsed image reference.
type Reference struct {
	Host       string // registry host[:port], "" when the reference names none
	Repository string
	Tag        string
	Digest     string
}

// ParseReference parses [host[:port]/]repository[:tag][@sha256:…]. The
// first component is a host when it has a dot or a colon or is
// "localhost", as Docker decides.
func ParseReference(s string) (Reference, error) {
	var r Reference
	rest := s
	if i := strings.Index(rest, "@"); i >= 0 {
		r.Digest, rest = rest[i+1:], rest[:i]
		if !oci.ValidDigest(r.Digest) {
			return r, fmt.Errorf("digest %s is not sha256:<64 lowercase hex digits>", quoteShort(r.Digest))
		}
	}
	if first, after, ok := strings.Cut(rest, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		if !hostRE.MatchString(first) {
			return r, fmt.Errorf("registry %s is not host[:port]", quoteShort(first))
		}
		r.Host, rest = first, after
	}
	if i := strings.LastIndex(rest, ":"); i >= 0 {
		r.Tag, rest = rest[i+1:], rest[:i]
		if !tagRE.MatchString(r.Tag) {
			return r, fmt.Errorf("tag %s is not a valid tag", quoteShort(r.Tag))
		}
	}
	if len(rest) > 255 || !repositoryRE.MatchString(rest) {
		return r, fmt.Errorf("repository %s is not lowercase path components of letters, digits and separators", quoteShort(rest))
	}
	r.Repository = rest
	return r, nil
}

// String formats the reference as parsed.
func (r Reference) String() string {
	s := r.Repository
	if r.Host != "" {
		s = r.Host + "/" + s
	}
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// imageRef decodes an image reference; selector says it selects an image
// of a layout or archive (a repository and tag, no registry).
func (d *releaseDecoder) imageRef(n *yaml.Node, field string, selector bool) string {
	s, ok := d.scalar(n, field)
	if !ok {
		return s
	}
	r, err := ParseReference(s)
	switch {
	case err != nil:
		d.errorf(n, field, "%s: %v", quoteShort(s), err)
	case selector && (r.Host != "" || r.Digest != ""):
		d.errorf(n, field, "%s: in a layout or archive, ref is a repository and tag (such as shop/base:1.0), without a registry or digest", quoteShort(s))
	case !selector && r.Host == "":
		d.errorf(n, field, "%s: name the registry (such as registry.example:5000/shop/web:1.4.2)", quoteShort(s))
	}
	return s
}

var platformRE = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?$`)

// platforms decodes a list of os/arch[/variant].
func (d *releaseDecoder) platforms(n *yaml.Node, field string) []string {
	var out []string
	for i, item := range d.list(n, field) {
		f := indexField(field, i)
		s, ok := d.scalar(item, f)
		switch {
		case !ok:
		case !platformRE.MatchString(s):
			d.errorf(item, f, "%s is not os/arch[/variant] (such as linux/amd64 or linux/arm64/v8)", quoteShort(s))
		case slices.Contains(out, s):
			d.errorf(item, f, "duplicate platform %s", quoteShort(s))
		default:
			out = append(out, s)
		}
	}
	return out
}

// walkImagePath checks the source of a layout (a folder) or archive (a
// regular file) image.
func walkImagePath(w *walker, field string, p Package, _ *PackageRef) {
	if _, problem := cleanRelPath(p.Source); problem != "" {
		w.problem(field, "%s %s", quoteShort(p.Source), problem)
		return
	}
	info, ok := w.stat(field, p.Source)
	if !ok {
		return
	}
	switch {
	case p.Kind == InputImageLayout && !info.IsDir():
		w.problem(field, "%s is not a folder (an OCI image layout is a folder holding oci-layout and index.json)", quoteShort(p.Source))
	case p.Kind == InputImageArchive && !info.Mode().IsRegular():
		w.problem(field, "%s is not a regular file", quoteShort(p.Source))
	}
}

// image checks image i's source and verification key.
func (w *walker) image(i int, im Image) {
	kind := inputKindOf(im.Kind)
	if kind == nil {
		w.problem(indexField("images", i), "unknown input kind %q", im.Kind)
		return
	}
	kind.walk(w, kind.field(i), Package{Name: im.Name, Kind: im.Kind, Source: im.Source}, nil)
	if im.VerifyKey != "" {
		vf := indexField("images", i) + ".verify.key"
		if info, ok := w.stat(vf, im.VerifyKey); ok && !info.Mode().IsRegular() {
			w.problem(vf, "%s is not a regular file", quoteShort(im.VerifyKey))
		}
	}
}

// validateImages checks the images of a manifest: names unique across
// packages and images, references well formed, and every blob a file of
// the payload at its digest's path with its size and digest.
func (m *Manifest) validateImages(pkgs map[string]bool) error {
	if err := m.pushInManifest(); err != nil {
		return err
	}
	if len(m.Images) == 0 {
		return nil
	}
	blobs := map[string]File{}
	for _, f := range m.Files {
		if strings.HasPrefix(f.Path, ImagesRoot+"/blobs/sha256/") {
			blobs[f.Path] = f
		}
	}
	names := map[string]bool{}
	for i, im := range m.Images {
		if !nameRule.valid(im.Name) || names[im.Name] || pkgs[im.Name] {
			return fmt.Errorf("images[%d]: invalid or duplicate name %q", i, im.Name)
		}
		names[im.Name] = true
		if k := inputKindOf(InputKind(im.Kind)); k == nil || k.list != "images" {
			return fmt.Errorf("images[%d]: unknown kind %q", i, im.Kind)
		}
		r, err := ParseReference(im.Repository)
		if err != nil || r.Host != "" || r.Tag != "" || r.Digest != "" {
			return fmt.Errorf("images[%d]: repository %q is not a repository path", i, im.Repository)
		}
		if im.Tag != "" && !tagRE.MatchString(im.Tag) {
			return fmt.Errorf("images[%d]: invalid tag %q", i, im.Tag)
		}
		if im.UpstreamDigest != "" && !oci.ValidDigest(im.UpstreamDigest) {
			return fmt.Errorf("images[%d]: invalid upstream digest %q", i, im.UpstreamDigest)
		}
		if len(im.Blobs) == 0 || im.Blobs[0].Digest != im.Digest || im.Blobs[0].MediaType != im.MediaType || im.Blobs[0].Size != im.Size || !oci.IsManifestType(im.MediaType) {
			return fmt.Errorf("images[%d]: its first blob must be its manifest or index (digest, media type and size)", i)
		}
		seen := map[string]bool{}
		for j, b := range im.Blobs {
			d := oci.Descriptor{Digest: b.Digest, MediaType: b.MediaType, Size: b.Size}
			if err := d.Check(); err != nil {
				return fmt.Errorf("images[%d].blobs[%d]: %w", i, j, err)
			}
			if seen[b.Digest] {
				return fmt.Errorf("images[%d].blobs[%d]: %s listed twice", i, j, b.Digest)
			}
			seen[b.Digest] = true
			f, ok := blobs[BlobPath(b.Digest)]
			if !ok || f.Type != TypeFile || f.Size != b.Size || "sha256:"+f.SHA256 != b.Digest {
				return fmt.Errorf("images[%d].blobs[%d]: %s is not a file of the payload with that size and digest", i, j, b.Digest)
			}
		}
		for j, s := range im.Signatures {
			if !seen[s] {
				return fmt.Errorf("images[%d].signatures[%d]: %s is not one of its blobs", i, j, s)
			}
		}
		for j, p := range im.Platforms {
			if !platformRE.MatchString(p) {
				return fmt.Errorf("images[%d].platforms[%d]: invalid platform %q", i, j, p)
			}
		}
	}
	return nil
}

// checkImageDigests checks a statement's images: valid names, each once,
// each with a sha256 digest.
func checkImageDigests(images []ImageDigest) error {
	seen := map[string]bool{}
	for i, im := range images {
		if !nameRule.valid(im.Name) || seen[im.Name] || !oci.ValidDigest(im.Digest) {
			return fmt.Errorf("images[%d]: want a unique image name and its sha256 digest", i)
		}
		seen[im.Name] = true
	}
	return nil
}

// ImageDigests are the manifest's images by name and digest, as the
// statement names them.
func (m *Manifest) ImageDigests() []ImageDigest {
	var out []ImageDigest
	for _, im := range m.Images {
		out = append(out, ImageDigest{Name: im.Name, Digest: im.Digest})
	}
	return out
}

// ImageByName returns the manifest's image of that name, or nil.
func (m *Manifest) ImageByName(name string) *ImageRef {
	for i := range m.Images {
		if m.Images[i].Name == name {
			return &m.Images[i]
		}
	}
	return nil
}

// Reference is where the image is pushed under registry host and prefix:
// host/prefix+repository@digest.
func (im *ImageRef) Reference(host, prefix string) string {
	return path.Join(host, prefix+im.Repository) + "@" + im.Digest
}

// SignatureOfAnnotation marks, in an OCI layout airlock writes, the
// manifest of a cosign signature with the name of the image it signs.
const SignatureOfAnnotation = "dev.airlock.signature-of"

// LayoutDescriptors are the image's entries in the index.json of an OCI
// layout: the image named by its name, then its signature manifests.
func (im *ImageRef) LayoutDescriptors() []oci.Descriptor {
	out := []oci.Descriptor{{MediaType: im.MediaType, Digest: im.Digest, Size: im.Size,
		Annotations: map[string]string{"org.opencontainers.image.ref.name": im.Name}}}
	for _, s := range im.Signatures {
		for _, b := range im.Blobs {
			if b.Digest == s {
				out = append(out, oci.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size,
					Annotations: map[string]string{SignatureOfAnnotation: im.Name}})
			}
		}
	}
	return out
}
