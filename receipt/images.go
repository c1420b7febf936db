package receipt

import (
	"fmt"
	"slices"
	"strings"
)

// Image is what a push step did with one image of the bundle (format 3):
// which image (its name in the bundle, where it came from, its digest),
// where it was pushed (the registry and the reference by digest) and how
// that ended.
type Image struct {
	Name      string `json:"name"`
	Source    string `json:"source"`
	Digest    string `json:"digest"`              // sha256:… of its manifest or index
	Registry  string `json:"registry"`            // host[:port] of the zone's registry
	Reference string `json:"reference,omitempty"` // <registry>/<prefix><repository>@<digest>
	Tag       string `json:"tag,omitempty"`
	Outcome   string `json:"outcome"`
	Step      string `json:"step"`            // the push step
	Error     string `json:"error,omitempty"` // the registry's error, for failed
}

// Outcomes of pushing an image.
const (
	ImagePushed  = "pushed"   // its missing blobs and manifest were pushed, the tag set
	ImagePresent = "present"  // the registry held it already, with the tag
	ImageTagKept = "tag-kept" // pushed by digest; its tag points at another digest and was left (no retag)
	ImageFailed  = "failed"   // see Error
)

// ImageOutcomes lists the outcomes of pushing an image.
var ImageOutcomes = []string{ImagePushed, ImagePresent, ImageTagKept, ImageFailed}

func (im *Image) validate() error {
	switch {
	case im.Name == "" || im.Step == "":
		return fmt.Errorf("image %q: want a name and the step that pushed it", im.Name)
	case !strings.HasPrefix(im.Digest, "sha256:") || !isHexSHA256(strings.TrimPrefix(im.Digest, "sha256:")):
		return fmt.Errorf("image %q: digest %q is not sha256:<hex>", im.Name, im.Digest)
	case !slices.Contains(ImageOutcomes, im.Outcome):
		return fmt.Errorf("image %q: unknown outcome %q", im.Name, im.Outcome)
	case (im.Outcome == ImageFailed) != (im.Error != ""):
		return fmt.Errorf("image %q: an error goes with outcome %s, and only with it", im.Name, ImageFailed)
	case im.Outcome != ImageFailed && !strings.HasSuffix(im.Reference, "@"+im.Digest):
		return fmt.Errorf("image %q: reference %q does not end in its digest", im.Name, im.Reference)
	}
	return nil
}
