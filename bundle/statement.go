package bundle

import (
	"errors"
	"fmt"
	"regexp"

	"airlock.dev/airlock/internal/jsonx"
)

var idRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// ParseStatement decodes an in-toto Statement strictly. It checks the
// statement and predicate types but not the predicate's content (see
// Predicate.Validate), so callers can report each check separately.
func ParseStatement(payload []byte) (*Statement, error) {
	var st Statement
	if err := jsonx.Unmarshal(payload, &st); err != nil {
		return nil, fmt.Errorf("statement: %w", err)
	}
	if st.Type != StatementType {
		return nil, fmt.Errorf("statement type %q, want %q", st.Type, StatementType)
	}
	return &st, nil
}

// Validate checks a predicate's fields for shape and consistency.
func (p *Predicate) Validate() error {
	switch {
	case !idRE.MatchString(p.BundleID):
		return fmt.Errorf("bundleId %q is not a UUID", p.BundleID)
	case !nameRule.valid(p.Name) || !versionRule.valid(p.Version) || !nameRule.valid(p.Channel):
		return fmt.Errorf("invalid name %q, version %q or channel %q", p.Name, p.Version, p.Channel)
	case p.Sequence == 0:
		return errors.New("sequence must be at least 1")
	case len(p.Targets) == 0:
		return errors.New("no targets")
	case p.IssuedAt.IsZero() || !p.Expires.After(p.IssuedAt):
		return errors.New("expires must be after issuedAt")
	case p.Manifest.Name != ManifestFile || p.Manifest.Size <= 0 || p.Manifest.Size > MaxManifestSize || !isSHA256(p.Manifest.SHA256):
		return fmt.Errorf("manifest reference must name %s with a size of at most %d bytes and a sha256", ManifestFile, MaxManifestSize)
	}
	for _, t := range p.Targets {
		if _, _, err := ParseTarget(t); err != nil {
			return fmt.Errorf("invalid target %q", t)
		}
	}
	if p.Change != nil {
		for _, e := range p.Change.TestEvidence {
			if err := CheckPath(e.Path); err != nil || !isSHA256(e.SHA256) {
				return fmt.Errorf("change.testEvidence %q needs a payload path and a sha256", e.Path)
			}
		}
	}
	if err := checkImageDigests(p.Images); err != nil {
		return err
	}
	return p.Payload.validate()
}

func (pl *Payload) validate() error {
	switch {
	case pl.Encryption != EncryptionAge || pl.Compression != CompressionZstd || pl.Archive != ArchiveTar:
		return fmt.Errorf("payload encoding %s/%s/%s, this airlock reads %s/%s/%s",
			pl.Encryption, pl.Compression, pl.Archive, EncryptionAge, CompressionZstd, ArchiveTar)
	case len(pl.Parts) == 0 || len(pl.Parts) > MaxParts:
		return fmt.Errorf("%d payload parts, want 1 to %d", len(pl.Parts), MaxParts)
	case pl.PlaintextSize < 0 || !isSHA256(pl.PlaintextSHA256):
		return errors.New("payload needs a plaintext size and sha256")
	case pl.Entries < 1 || pl.Entries > MaxEntries:
		return fmt.Errorf("payload entries %d, want 1 to %d", pl.Entries, MaxEntries)
	}
	var total int64
	for i, part := range pl.Parts {
		want := PartName(i + 1)
		if len(pl.Parts) == 1 && part.Name == PayloadFile {
			want = PayloadFile
		}
		if part.Name != want {
			return fmt.Errorf("payload part %d is named %q, want %q", i+1, part.Name, want)
		}
		if part.Size <= 0 || !isSHA256(part.SHA256) {
			return fmt.Errorf("payload part %s needs a size and a sha256", part.Name)
		}
		total += part.Size
	}
	if total != pl.Size {
		return fmt.Errorf("payload parts add up to %d bytes, predicate says %d", total, pl.Size)
	}
	return nil
}

// SubjectsMatch reports whether a statement's subject lists exactly
// manifest.json and the payload parts of its predicate, with their digests.
func SubjectsMatch(st *Statement) error {
	want := Subjects(&st.Predicate)
	if len(st.Subject) != len(want) {
		return fmt.Errorf("subject lists %d files, predicate %d", len(st.Subject), len(want))
	}
	for i, w := range want {
		got := st.Subject[i]
		if got.Name != w.Name || len(got.Digest) != 1 || got.Digest["sha256"] != w.Digest["sha256"] {
			return fmt.Errorf("subject %d (%s) does not match the predicate's %s", i, got.Name, w.Name)
		}
	}
	return nil
}
