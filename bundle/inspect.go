package bundle

import (
	"bytes"
	"fmt"

	"airlock.dev/airlock/internal/dsse"
)

// Inspection is what a bundle says about itself, read from its public
// parts only. Nothing in it is verified: signatures are listed by the keyid
// they claim. Use package verify to decide whether to trust a bundle.
type Inspection struct {
	Path       string     `json:"path"`
	Form       string     `json:"form"` // folder | file
	Files      []FileRef  `json:"files"`
	KeyIDs     []string   `json:"signatureKeyIds"`
	Statement  *Statement `json:"statement"`
	Manifest   *Manifest  `json:"manifest,omitempty"`
	ManifestOK bool       `json:"manifestMatchesStatement"`
	// Delta sums up what a delta bundle leaves out (format 3).
	Delta    *DeltaSummary `json:"delta,omitempty"`
	Problems []string      `json:"problems,omitempty"`
}

// Inspect reads a bundle's statement and manifest without any key.
func Inspect(path string) (*Inspection, error) {
	b, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	in := &Inspection{Path: path, Form: "folder"}
	if b.SingleFile() {
		in.Form = "file"
	}
	for _, n := range b.Names() {
		size, _ := b.Size(n)
		in.Files = append(in.Files, FileRef{Name: n, Size: size})
	}
	raw, err := b.ReadFile(StatementFile, MaxStatementSize)
	if err != nil {
		return nil, err
	}
	env, err := dsse.Read(bytes.NewReader(raw), MaxStatementSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", StatementFile, err)
	}
	for _, s := range env.Signatures {
		in.KeyIDs = append(in.KeyIDs, s.KeyID)
	}
	payload, err := dsse.PayloadOf(env)
	if err != nil {
		return nil, err
	}
	if in.Statement, err = ParseStatement(payload); err != nil {
		return nil, fmt.Errorf("%s: %w", StatementFile, err)
	}
	in.readManifest(b)
	return in, nil
}

func (in *Inspection) readManifest(b *Bundle) {
	want := in.Statement.Predicate.Manifest
	data, err := b.ReadFile(ManifestFile, MaxManifestSize)
	if err != nil {
		in.Problems = append(in.Problems, err.Error())
		return
	}
	if int64(len(data)) != want.Size || ref(ManifestFile, data).SHA256 != want.SHA256 {
		in.Problems = append(in.Problems, "manifest.json does not match the digest in the statement")
	} else {
		in.ManifestOK = true
	}
	m, err := ParseManifest(data)
	if err != nil {
		in.Problems = append(in.Problems, err.Error())
		return
	}
	in.Manifest = m
	in.Delta = m.DeltaSummary()
}
