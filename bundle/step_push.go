package bundle

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"
)

// A push step (key push) pushes images of the bundle to the zone's
// registry (trust.yaml's registry:): `push: [web, base]` or `push: all`.

// KindPush is the step kind that pushes images.
const KindPush StepKind = "push"

// PushImages is what a push step pushes: every image of the bundle, or
// those named. It is written "all" or as the list of names.
type PushImages struct {
	All   bool
	Names []string
}

// IsZero reports whether the step pushes nothing (it is no push step).
func (p PushImages) IsZero() bool { return !p.All && len(p.Names) == 0 }

// Select returns the images of m the step pushes, in the manifest's order.
func (p PushImages) Select(m *Manifest) []ImageRef {
	var out []ImageRef
	for _, im := range m.Images {
		if p.All || slices.Contains(p.Names, im.Name) {
			out = append(out, im)
		}
	}
	return out
}

// MarshalJSON writes "all", or the list of names.
func (p PushImages) MarshalJSON() ([]byte, error) {
	if p.All {
		return json.Marshal("all")
	}
	return json.Marshal(p.Names)
}

// UnmarshalJSON reads "all", or a list of names.
func (p *PushImages) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if s != "all" {
			return fmt.Errorf("push: want \"all\" or a list of image names, got %q", s)
		}
		*p = PushImages{All: true}
		return nil
	}
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return errors.New("push: want \"all\" or a list of image names")
	}
	*p = PushImages{Names: names}
	return nil
}

// ImageBuiltins are the names of the #{…} values of an image, by the
// suffix after Airlock.Images.<name>.: where it was pushed
// (host:port/prefix+repository@sha256:…), its digest and its tag.
var ImageBuiltins = []string{"Reference", "Digest", "Tag"}

// ImageBuiltin is the #{…} name of value what (one of ImageBuiltins) of image name.
func ImageBuiltin(name, what string) string { return "Airlock.Images." + name + "." + what }

// push decodes the value of a push step: "all" or a list of image names
// of the release.
func (d *releaseDecoder) push(n *yaml.Node, field string) PushImages {
	if n.Kind == yaml.ScalarNode {
		s, ok := d.scalar(n, field)
		if ok && s != "all" {
			d.errorf(n, field, "want all or a list of image names, got %s", quoteShort(s))
		}
		if len(d.imageList) == 0 && ok {
			d.errorf(n, field, "the release declares no images")
		}
		return PushImages{All: true}
	}
	var out PushImages
	for i, item := range d.list(n, field) {
		f := indexField(field, i)
		s, ok := d.scalar(item, f)
		if !ok {
			continue
		}
		switch {
		case slices.Contains(out.Names, s):
			d.errorf(item, f, "image %s is listed twice", quoteShort(s))
		case !slices.ContainsFunc(d.imageList, func(im Image) bool { return im.Name == s }):
			d.errorf(item, f, "no image named %s", quoteShort(s))
		default:
			out.Names = append(out.Names, s)
		}
	}
	if len(out.Names) == 0 && len(d.errs) == 0 {
		d.errorf(n, field, "want all or at least one image name")
	}
	return out
}

// validatePushStep checks the names of a push step.
func validatePushStep(s *Step) error {
	for _, n := range s.Push.Names {
		if !nameRule.valid(n) {
			return fmt.Errorf("push: invalid image name %q", n)
		}
	}
	return nil
}

// pushInManifest reports push steps of m that name an image m lacks.
func (m *Manifest) pushInManifest() error {
	for i, s := range m.Steps {
		for _, n := range s.Push.Names {
			if m.ImageByName(n) == nil {
				return fmt.Errorf("steps[%d] %q: push names %q, not a listed image", i, s.Name, n)
			}
		}
		if s.Push.All && len(m.Images) == 0 {
			return fmt.Errorf("steps[%d] %q: push all, but the bundle has no images", i, s.Name)
		}
	}
	return nil
}

// describePush says which images the step pushes, and where (as plan
// resolves #{Airlock.Images.<name>.Reference}).
func describePush(s *Step, expand func(string) string) []string {
	if s.Push.All {
		out := []string{"push every image of the bundle to the zone's registry"}
		if s.Retag {
			out[0] += ", moving tags that point elsewhere"
		}
		return out
	}
	out := []string{fmt.Sprintf("push %d image(s) to the zone's registry", len(s.Push.Names))}
	if s.Retag {
		out[0] += ", moving tags that point elsewhere"
	}
	for _, n := range s.Push.Names {
		out = append(out, n+": "+expand("#{"+ImageBuiltin(n, "Reference")+"}"))
	}
	return out
}
