// Package provenance writes and reads SLSA build provenance
// (https://slsa.dev/spec/v1.0/provenance, predicate type
// https://slsa.dev/provenance/v1): an in-toto Statement naming every
// artifact of a release by its SHA-256, saying from which source, with
// which toolchain and which command they were built, signed with the
// release key in a DSSE envelope. `cosign verify-blob-attestation --key
// release.pub --type https://slsa.dev/provenance/v1 --signature FILE
// --insecure-ignore-tlog ARTIFACT` checks it offline, as
// airlock's own bundle statements.
//
// The file is one line of JSON (the envelope), as .intoto.jsonl files
// hold them. The statement has no time and no random value, so the same
// commit built twice gives the same statement; only the signature differs.
package provenance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/intoto"
	"airlock.dev/airlock/internal/jsonx"
	"airlock.dev/airlock/internal/keys"
)

// PredicateType is SLSA provenance v1.
const PredicateType = "https://slsa.dev/provenance/v1"

// MaxSize bounds a provenance file read by Read.
const MaxSize = 4 << 20

// Statement is an in-toto Statement of SLSA provenance.
type Statement = intoto.Statement[Predicate]

// Predicate is the SLSA provenance v1 predicate.
type Predicate struct {
	BuildDefinition BuildDefinition `json:"buildDefinition"`
	RunDetails      RunDetails      `json:"runDetails"`
}

// BuildDefinition is what was built and how: the inputs that came from
// outside (externalParameters: the source, the version, the targets),
// the fixed settings of the build (internalParameters), and the
// artifacts it used (resolvedDependencies).
type BuildDefinition struct {
	BuildType            string               `json:"buildType"`
	ExternalParameters   map[string]any       `json:"externalParameters"`
	InternalParameters   map[string]any       `json:"internalParameters,omitempty"`
	ResolvedDependencies []ResourceDescriptor `json:"resolvedDependencies,omitempty"`
}

// ResourceDescriptor names an artifact: a URI, its digests, or both.
type ResourceDescriptor struct {
	URI    string            `json:"uri,omitempty"`
	Name   string            `json:"name,omitempty"`
	Digest map[string]string `json:"digest,omitempty"`
}

// RunDetails names the builder.
type RunDetails struct {
	Builder Builder `json:"builder"`
}

// Builder is what ran the build.
type Builder struct {
	ID string `json:"id"`
}

// Sign returns the provenance file: the statement over subjects, signed
// with s, as one line of JSON.
func Sign(s *keys.Signer, subjects []intoto.Subject, p Predicate) ([]byte, error) {
	st := Statement{Type: intoto.StatementType, Subject: subjects, PredicateType: PredicateType, Predicate: p}
	payload, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	env, err := dsse.Sign(dsse.InTotoPayloadType, payload, s)
	if err != nil {
		return nil, err
	}
	line, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	return append(line, '\n'), nil
}

// Read reads a provenance file from r, checks that one of the keys
// signed it (dsse.ErrNoSignature otherwise), and returns its statement,
// decoded strictly.
func Read(r io.Reader, trusted []*keys.PublicKey) (*Statement, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("provenance: larger than %d bytes", MaxSize)
	}
	env, err := dsse.Read(bytes.NewReader(data), MaxSize)
	if err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	if env.PayloadType != dsse.InTotoPayloadType {
		return nil, fmt.Errorf("provenance: payload type %q, want %q", env.PayloadType, dsse.InTotoPayloadType)
	}
	v, err := dsse.Verify(env, trusted)
	if err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	var st Statement
	if err := jsonx.Unmarshal(v.Payload, &st); err != nil {
		return nil, fmt.Errorf("provenance: statement: %w", err)
	}
	if st.Type != intoto.StatementType || st.PredicateType != PredicateType {
		return nil, fmt.Errorf("provenance: a %s statement of %s, want %s of %s", st.Type, st.PredicateType, intoto.StatementType, PredicateType)
	}
	return &st, nil
}

// SubjectDigest returns the hex SHA-256 st gives the artifact name.
func SubjectDigest(st *Statement, name string) (string, bool) {
	for _, s := range st.Subject {
		if s.Name == name {
			d, ok := s.Digest["sha256"]
			return d, ok
		}
	}
	return "", false
}
