// Package intoto holds the in-toto Statement v1
// (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md)
// shared by bundle statements and receipts, each with its own predicate.
package intoto

// StatementType is the in-toto Statement v1 type.
const StatementType = "https://in-toto.io/Statement/v1"

// Statement is an in-toto Statement with a predicate of type P.
type Statement[P any] struct {
	Type          string    `json:"_type"`
	Subject       []Subject `json:"subject"`
	PredicateType string    `json:"predicateType"`
	Predicate     P         `json:"predicate"`
}

// Subject is an in-toto ResourceDescriptor reduced to name and digest.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// SHA256 is a subject named name with a hex SHA-256 digest.
func SHA256(name, hexDigest string) Subject {
	return Subject{Name: name, Digest: map[string]string{"sha256": hexDigest}}
}
