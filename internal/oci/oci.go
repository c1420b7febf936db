// Package oci reads the manifests of OCI images and indexes (and their
// Docker equivalents) as hostile input, and walks the graph of blobs an
// image or index is made of: its manifests, configs and layers.
package oci

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Media types of manifests and indexes.
const (
	MediaTypeIndex          = "application/vnd.oci.image.index.v1+json"
	MediaTypeManifest       = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
)

// Limits on what is read.
const (
	MaxManifestSize = 4 << 20 // a manifest or index (distribution's own limit)
	MaxDescriptors  = 10000   // children of an index, layers of a manifest
	MaxDepth        = 8       // indexes nested in indexes
	MaxBlobs        = 100000  // blobs of one image, all levels
)

// Descriptor points at a blob: its media type, digest and size.
type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	Platform     *Platform         `json:"platform,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	ArtifactType string            `json:"artifactType,omitempty"`
}

// Platform is the platform of an index's child.
type Platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant,omitempty"`
	OSVersion    string `json:"os.version,omitempty"`
}

// String is os/arch[/variant].
func (p *Platform) String() string {
	if p == nil {
		return ""
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Manifest is a decoded image manifest or index: Children are the
// manifests of an index; Config and Layers those of an image manifest.
type Manifest struct {
	MediaType string
	Index     bool
	Children  []Descriptor
	Config    *Descriptor
	Layers    []Descriptor
	Subject   *Descriptor
}

// Blobs returns the descriptors the manifest points at, config first.
func (m *Manifest) Blobs() []Descriptor {
	var out []Descriptor
	if m.Config != nil {
		out = append(out, *m.Config)
	}
	out = append(out, m.Layers...)
	return append(out, m.Children...)
}

// wire is what both manifests and indexes hold; unknown fields are
// allowed (annotations of the spec's later versions), known ones are
// checked.
type wire struct {
	SchemaVersion *int          `json:"schemaVersion"`
	MediaType     string        `json:"mediaType"`
	Manifests     *[]Descriptor `json:"manifests"`
	Config        *Descriptor   `json:"config"`
	Layers        *[]Descriptor `json:"layers"`
	Subject       *Descriptor   `json:"subject"`
}

// IsManifestType reports whether mediaType is a manifest or index type this
// package decodes.
func IsManifestType(mediaType string) bool {
	switch mediaType {
	case MediaTypeIndex, MediaTypeManifest, MediaTypeDockerList, MediaTypeDockerManifest:
		return true
	}
	return false
}

// IsIndexType reports whether mediaType is an index.
func IsIndexType(mediaType string) bool {
	return mediaType == MediaTypeIndex || mediaType == MediaTypeDockerList
}

// ParseManifest decodes data, a manifest or index of media type
// mediaType (as its descriptor says), checking every descriptor.
func ParseManifest(mediaType string, data []byte) (*Manifest, error) {
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("manifest larger than %d bytes", MaxManifestSize)
	}
	if !IsManifestType(mediaType) {
		return nil, fmt.Errorf("media type %q is not a manifest or index", mediaType)
	}
	var w wire
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("decode manifest: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decode manifest: data after the document")
	}
	if w.SchemaVersion == nil || *w.SchemaVersion != 2 {
		return nil, errors.New("manifest: schemaVersion must be 2")
	}
	if w.MediaType != "" && w.MediaType != mediaType {
		return nil, fmt.Errorf("manifest: mediaType %q, its descriptor says %q", w.MediaType, mediaType)
	}
	m := &Manifest{MediaType: mediaType, Index: IsIndexType(mediaType)}
	if m.Index {
		if w.Manifests == nil || w.Config != nil || w.Layers != nil {
			return nil, errors.New("index: want manifests and no config or layers")
		}
		m.Children = *w.Manifests
	} else {
		if w.Manifests != nil || w.Config == nil || w.Layers == nil {
			return nil, errors.New("manifest: want a config and layers, and no manifests")
		}
		m.Config, m.Layers = w.Config, *w.Layers
	}
	if len(m.Children) > MaxDescriptors || len(m.Layers) > MaxDescriptors {
		return nil, fmt.Errorf("manifest: more than %d descriptors", MaxDescriptors)
	}
	m.Subject = w.Subject
	for i, d := range m.Blobs() {
		if err := d.Check(); err != nil {
			return nil, fmt.Errorf("manifest: descriptor %d: %w", i, err)
		}
	}
	for _, d := range m.Children {
		if !IsManifestType(d.MediaType) {
			return nil, fmt.Errorf("index: child %s has media type %q, not a manifest or index", d.Digest, d.MediaType)
		}
	}
	return m, nil
}

// Check checks the fields a descriptor must have.
func (d *Descriptor) Check() error {
	switch {
	case !ValidDigest(d.Digest):
		return fmt.Errorf("digest %q is not sha256:<64 lowercase hex digits>", d.Digest)
	case d.Size < 0:
		return fmt.Errorf("size %d is negative", d.Size)
	case !validMediaType(d.MediaType):
		return fmt.Errorf("media type %q is not a type/subtype", d.MediaType)
	}
	return nil
}

// ValidDigest reports whether s is a sha256 digest: sha256:<64 lowercase hex>.
func ValidDigest(s string) bool {
	hex, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	for _, c := range hex {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// validMediaType accepts type/subtype made of printable ASCII without
// spaces, at most 255 bytes (RFC 6838's limits, roughly).
func validMediaType(s string) bool {
	typ, sub, ok := strings.Cut(s, "/")
	if !ok || typ == "" || sub == "" || len(s) > 255 {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// Walk visits the graph under root: root itself, then for each manifest
// or index the blobs it points at, depth first, each digest once. get
// returns the bytes of a manifest or index (callers cap and check them).
// It returns every descriptor found, root first.
func Walk(root Descriptor, get func(d Descriptor) ([]byte, error)) ([]Descriptor, error) {
	seen := map[string]bool{}
	var out []Descriptor
	var visit func(d Descriptor, depth int) error
	visit = func(d Descriptor, depth int) error {
		if seen[d.Digest] {
			return nil
		}
		seen[d.Digest] = true
		out = append(out, Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size})
		if len(out) > MaxBlobs {
			return fmt.Errorf("more than %d blobs", MaxBlobs)
		}
		if !IsManifestType(d.MediaType) {
			return nil
		}
		if depth > MaxDepth {
			return fmt.Errorf("indexes nested more than %d deep", MaxDepth)
		}
		data, err := get(d)
		if err != nil {
			return err
		}
		m, err := ParseManifest(d.MediaType, data)
		if err != nil {
			return fmt.Errorf("%s: %w", d.Digest, err)
		}
		for _, c := range m.Blobs() {
			if err := visit(c, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := root.Check(); err != nil {
		return nil, err
	}
	if err := visit(root, 0); err != nil {
		return nil, err
	}
	return out, nil
}
