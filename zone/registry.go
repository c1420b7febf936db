package zone

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
)

// RegistryDoc is trust.yaml's registry: the zone's container registry,
// where push steps push images.
type RegistryDoc struct {
	URL      string `yaml:"url"`                // https://host[:port] (http:// for a registry without TLS)
	CAFile   string `yaml:"caFile,omitempty"`   // PEM certificate authorities trusted for it
	Username string `yaml:"username,omitempty"` // basic or token authentication
	Password *Value `yaml:"password,omitempty"` // a literal or {fromFile: PATH}
	Prefix   string `yaml:"prefix,omitempty"`   // images are pushed as <host>/<prefix><repository>
}

// Registry is the zone's registry as the applier uses it.
type Registry struct {
	URL      string // as written
	Host     string // host[:port]
	Insecure bool   // http://: no TLS
	CAFile   string // absolute, or ""
	Username string
	Password Value // resolved; read with Read when pushing
	Prefix   string
}

var prefixRE = regexp.MustCompile(`^(?:[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*/)*$`)

// check checks the registry's settings.
func (d *RegistryDoc) check() error {
	u, err := url.Parse(d.URL)
	switch {
	case err != nil:
		return fmt.Errorf("registry.url: %w", err)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("registry.url %q: want https://host[:port] (or http:// for a registry without TLS)", d.URL)
	case u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("registry.url %q: want only a scheme, a host and a port", d.URL)
	case !prefixRE.MatchString(d.Prefix):
		return fmt.Errorf("registry.prefix %q: want lowercase path components each followed by /, such as mirror/", d.Prefix)
	case d.Password != nil && d.Username == "":
		return errors.New("registry.password: give a username too")
	case d.CAFile != "" && u.Scheme == "http":
		return errors.New("registry.caFile: the registry is reached over http://, without TLS")
	}
	return nil
}

// resolve makes paths relative to dir absolute.
func (d *RegistryDoc) resolve(dir string) *Registry {
	u, _ := url.Parse(d.URL)
	r := &Registry{URL: d.URL, Host: strings.ToLower(u.Host), Insecure: u.Scheme == "http", Username: d.Username, Prefix: d.Prefix}
	if d.CAFile != "" {
		r.CAFile = d.CAFile
		if !filepath.IsAbs(r.CAFile) {
			r.CAFile = filepath.Join(dir, r.CAFile)
		}
	}
	if d.Password != nil {
		r.Password = d.Password.Resolve(dir)
	}
	return r
}
