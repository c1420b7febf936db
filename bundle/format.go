package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"airlock.dev/airlock/internal/intoto"
)

// Names and limits of the bundle format (see doc/design.md).
const (
	// StatementType is the in-toto Statement v1 type.
	StatementType = intoto.StatementType
	// PredicateType identifies an airlock bundle predicate.
	PredicateType = "https://airlock.dev/bundle/v1"
	// FormatVersion is the bundle format version this code writes. It reads
	// every version from MinFormatVersion to FormatVersion: version 2 adds
	// fields to version 1, and a version 1 bundle reads as it always did.
	FormatVersion = 3
	// MinFormatVersion is the oldest bundle format version this code reads.
	MinFormatVersion = 1

	StatementFile = "statement.dsse.json"
	ManifestFile  = "manifest.json"
	PayloadFile   = "payload.age"
	SumsFile      = "SHA256SUMS"
	// VariablesEntry is the payload entry holding variable values.
	VariablesEntry = "variables.json"
	// Extension marks the single-file form of a bundle.
	Extension = ".airlock"

	// FAT32PartSize is the largest file FAT32 can hold: 4 GiB - 1 byte.
	FAT32PartSize = 1<<32 - 1

	// Payload encodings, named in the predicate.
	EncryptionAge   = "age-encryption.org/v1"
	CompressionZstd = "zstd"
	ArchiveTar      = "tar"
)

// Statement is the in-toto Statement v1 a bundle's envelope carries.
type Statement = intoto.Statement[Predicate]

// Subject is an in-toto ResourceDescriptor reduced to name and digest.
type Subject = intoto.Subject

// Predicate is the signed description of a bundle.
type Predicate struct {
	FormatVersion int       `json:"formatVersion"`
	BundleID      string    `json:"bundleId"`
	Name          string    `json:"name"`
	Version       string    `json:"version"`
	Channel       string    `json:"channel"`
	Sequence      uint64    `json:"sequence"`
	Targets       []string  `json:"targets"`
	IssuedAt      time.Time `json:"issuedAt"`
	Expires       time.Time `json:"expires"`
	Change        *Change   `json:"change,omitempty"`
	Manifest      FileRef   `json:"manifest"`
	Payload       Payload   `json:"payload"`
	Builder       Builder   `json:"builder"`
	// Images, format version 3: the images the payload carries, by name
	// and digest (the manifest lists their blobs), so that the builder's
	// ledger says which images each bundle carried.
	Images []ImageDigest `json:"images,omitempty"`
}

// ImageDigest names an image of a bundle and its digest.
type ImageDigest struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
}

// Change is the change-management evidence of a release (PCI DSS 6.5.1):
// the ticket and reason, and (format version 2) the security impact, the
// back-out procedure and the files documenting the change's tests.
type Change struct {
	Ticket         string `json:"ticket,omitempty"`
	Reason         string `json:"reason,omitempty"`
	SecurityImpact string `json:"securityImpact,omitempty"`
	Backout        string `json:"backout,omitempty"`
	// TestEvidence are files of the release, carried in the payload at their
	// path and hashed in the manifest; the statement names their digests.
	TestEvidence []Evidence `json:"testEvidence,omitempty"`
}

// Evidence is a file of the release carried as change evidence. In
// airlock.yaml only its path is given; the build adds its SHA-256.
type Evidence struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// IsZero reports whether the change says nothing.
func (c *Change) IsZero() bool {
	return c.Ticket == "" && c.Reason == "" && c.SecurityImpact == "" && c.Backout == "" && len(c.TestEvidence) == 0
}

// FileRef names a file of the bundle with its size and SHA-256 (hex).
type FileRef struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Payload describes the encrypted payload: age(zstd(tar)).
type Payload struct {
	Encryption      string    `json:"encryption"`
	Compression     string    `json:"compression"`
	Archive         string    `json:"archive"`
	Parts           []FileRef `json:"parts"`
	Size            int64     `json:"size"`            // ciphertext bytes, all parts
	PlaintextSize   int64     `json:"plaintextSize"`   // tar stream bytes
	PlaintextSHA256 string    `json:"plaintextSha256"` // tar stream digest
	Entries         int       `json:"entries"`         // tar entries
}

// Builder names the program that built the bundle.
type Builder struct {
	Tool    string `json:"tool"`
	Version string `json:"version"`
}

// Manifest is manifest.json: the public, signed-by-digest list of what the
// payload holds and what the zone will do with it. It never holds values of
// variables.
type Manifest struct {
	FormatVersion int           `json:"formatVersion"`
	Name          string        `json:"name"`
	Version       string        `json:"version"`
	Channel       string        `json:"channel"`
	Packages      []PackageRef  `json:"packages"`
	Variables     []VariableRef `json:"variables"`
	VariablesFile FileRef       `json:"variablesFile"`
	Steps         []Step        `json:"steps"`
	// Images, format version 3: the container images and OCI artifacts
	// in the payload's image layout (images/).
	Images []ImageRef `json:"images,omitempty"`
	// Delta (format version 3) makes the bundle a delta: what of its
	// files the payload leaves out, held by the zone (see Delta).
	Delta *Delta `json:"delta,omitempty"`
	Files []File `json:"files"`
}

// PackageRef is a package and the directory of the payload that holds it.
type PackageRef struct {
	Name  string `json:"name"`
	Root  string `json:"root"`  // payload path, "packages/<name>"
	Files int    `json:"files"` // regular files under Root
	Size  int64  `json:"size"`  // bytes of those files
	// Archive, format version 2: the archive the package was unpacked from.
	Archive *ArchiveRef `json:"archive,omitempty"`
}

// VariableRef declares a variable by name; its value is in the payload.
type VariableRef struct {
	Name        string   `json:"name"`
	Sensitive   bool     `json:"sensitive"`
	Description string   `json:"description,omitempty"`
	Zones       []string `json:"zones,omitempty"` // zones with a zone-scoped value
	Roles       []string `json:"roles,omitempty"` // host roles with a role-scoped value (format 2)
	Hosts       []string `json:"hosts,omitempty"` // hosts with a host-scoped value (format 2)
}

// Entry types of File.
const (
	TypeFile = "file"
	TypeDir  = "dir"
)

// File is one payload entry other than variables.json.
type File struct {
	Path   string `json:"path"`
	Type   string `json:"type"` // file | dir
	Mode   Mode   `json:"mode"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
}

// Step is one thing the applier does, as airlock.yaml describes it and
// manifest.json records it: exactly one kind key (run, script, deploy,
// check; see Kind) is set.
type Step struct {
	Name       string       `json:"name"`             // unique; used in #{Steps.<name>.<output>}
	Run        string       `json:"run,omitempty"`    // inline command
	Script     string       `json:"script,omitempty"` // script path, relative to the release directory and the payload root
	Deploy     string       `json:"deploy,omitempty"` // name of the package to deploy
	To         string       `json:"to,omitempty"`     // deploy target directory (absolute, or containing #{...})
	Substitute Substitution `json:"substitute,omitzero"`
	Keep       int          `json:"keep,omitempty"`  // releases a deploy keeps
	Shell      string       `json:"shell,omitempty"` // "", or one of Shells
	When       When         `json:"when"`
	Timeout    Duration     `json:"timeout"` // per attempt; a check step's is its check's
	Retries    int          `json:"retries"` // extra attempts after a failure
	// RetryDelay is the base of the exponential backoff between attempts.
	RetryDelay      Duration `json:"retryDelay"`
	ContinueOnError bool     `json:"continueOnError,omitempty"` // a failure does not fail the release

	// Format version 2.

	// Structured are globs of a deploy step's package files whose values
	// are replaced by key path (structured configuration variables).
	Structured []string `json:"structured,omitempty"`
	// Files are a deploy step's rules for the mode, owner and group of the
	// files it deploys, in order (a later rule wins).
	Files []FileRule `json:"files,omitempty"`
	// Check is a check step: what to poll until it is healthy.
	Check *HealthCheck `json:"check,omitempty"`

	// Format version 3.

	// Push is a push step: the images it pushes to the zone's registry.
	Push PushImages `json:"push,omitzero"`
	// Retag lets a push step move a tag of the zone's registry that
	// points at another digest.
	Retag bool `json:"retag,omitempty"`
}

// Substitution is a step's substitute key. For a deploy step it is the globs
// of the package files whose #{...} references are substituted, written as
// a list; for a script step it is true, written as true: the script itself
// is substituted before it runs.
type Substitution struct {
	Globs  []string
	Script bool
}

// IsZero reports whether nothing is substituted.
func (s Substitution) IsZero() bool { return len(s.Globs) == 0 && !s.Script }

// MarshalJSON writes true, or the list of globs.
func (s Substitution) MarshalJSON() ([]byte, error) {
	if s.Script {
		if len(s.Globs) > 0 {
			return nil, errors.New("substitute is either true or a list of globs")
		}
		return []byte("true"), nil
	}
	return json.Marshal(s.Globs)
}

// UnmarshalJSON reads true, or a list of globs.
func (s *Substitution) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "true" {
		*s = Substitution{Script: true}
		return nil
	}
	var globs []string
	if err := json.Unmarshal(b, &globs); err != nil {
		return errors.New("substitute: want true or a list of globs")
	}
	*s = Substitution{Globs: globs}
	return nil
}

// FileRule sets the mode, owner or group of the deployed files whose path
// in the package matches Match (at least one of the three).
type FileRule struct {
	Match string `json:"match"`
	Mode  Mode   `json:"mode,omitempty"`  // permission bits, 0001 to 0777; 0: not set
	Owner string `json:"owner,omitempty"` // user name or numeric id
	Group string `json:"group,omitempty"` // group name or numeric id
}

// HealthCheck is what a check step polls, every Interval until it answers
// as wanted or Timeout has passed: an HTTP(S) URL or a TCP address (exactly
// one). HTTP, TCP, Contains and CAFile may hold #{...} references.
type HealthCheck struct {
	HTTP     string   `json:"http,omitempty"`     // http:// or https:// URL, fetched with GET
	TCP      string   `json:"tcp,omitempty"`      // HOST:PORT to connect to
	Status   int      `json:"status,omitempty"`   // the HTTP status wanted; 0: any 2xx
	Contains string   `json:"contains,omitempty"` // text the HTTP response body must contain
	CAFile   string   `json:"caFile,omitempty"`   // PEM CA certificates that verify an https server (absolute path in the zone)
	Timeout  Duration `json:"timeout"`
	Interval Duration `json:"interval"`
}

// Mode is a permission mode written as a 4-digit octal string ("0644").
type Mode uint32

// MarshalJSON writes "0644".
func (m Mode) MarshalJSON() ([]byte, error) { return json.Marshal(m.String()) }

// UnmarshalJSON reads "0644", "0755".
func (m *Mode) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	var v uint32
	if _, err := fmt.Sscanf(s, "%o", &v); err != nil || len(s) != 4 || fmt.Sprintf("%04o", v) != s {
		return fmt.Errorf("invalid mode %q (want four octal digits such as 0644)", s)
	}
	*m = Mode(v)
	return nil
}

// Duration is a time.Duration written as a Go duration string ("10m0s").
type Duration time.Duration

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q", s)
	}
	*d = Duration(v)
	return nil
}

// VariablesDoc is variables.json.
type VariablesDoc struct {
	// Salt is derived from the builder's key, so that the file's digest in the
	// public manifest does not let anyone guess low-entropy secret values.
	Salt   string            `json:"salt"`
	Values map[string]string `json:"values"`
	// ByZone holds zone-scoped values: zone → name → value.
	ByZone map[string]map[string]string `json:"byZone,omitempty"`
	// ByRole and ByHost (format 2) hold values scoped to a host role and to
	// a host: role or host → name → value.
	ByRole map[string]map[string]string `json:"byRole,omitempty"`
	ByHost map[string]map[string]string `json:"byHost,omitempty"`
}

// String writes the mode as four octal digits.
func (m Mode) String() string { return fmt.Sprintf("%04o", uint32(m)) }

// KnownFormat reports whether this code reads bundle format version v.
func KnownFormat(v int) bool { return MinFormatVersion <= v && v <= FormatVersion }
