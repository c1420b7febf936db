package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/intoto"
	"airlock.dev/airlock/internal/keys"
)

// Attestation of an audit: an in-toto Statement whose predicate is a SLSA
// verification summary (https://slsa.dev/spec/v1.0/verification_summary),
// signed in a DSSE envelope, so that the audit itself is evidence
// (doc/schemas/audit-attestation.schema.json).
const (
	// VSAPredicateType is the SLSA verification summary predicate type.
	VSAPredicateType = "https://slsa.dev/verification_summary/v1"
	// VerifierID names airlock's audit as the verifier.
	VerifierID = "https://airlock.dev/audit"
	// AuditPolicyURI names the rules the audit applies (the audit
	// package documentation, at this report format version).
	AuditPolicyURI = "https://airlock.dev/audit/v3"
	// ReportSubject is the subject name of the JSON report.
	ReportSubject = "airlock-audit-report.json"
	// StateSubject is the subject name of the audit state the audit hands
	// on (the SHA-256 of its signed payload).
	StateSubject = "airlock-audit-state.json"
	// LevelPassed is the verified level of a passed audit; a failed one is
	// "FAILED", as the SLSA specification says.
	LevelPassed = "AIRLOCK_AUDIT_PASSED"
)

// VSA is a SLSA verification summary predicate.
type VSA struct {
	Verifier struct {
		ID      string            `json:"id"`
		Version map[string]string `json:"version,omitempty"`
	} `json:"verifier"`
	TimeVerified       time.Time     `json:"timeVerified"`
	ResourceURI        string        `json:"resourceUri"`
	Policy             VSAResource   `json:"policy"`
	InputAttestations  []VSAResource `json:"inputAttestations,omitempty"`
	VerificationResult string        `json:"verificationResult"` // PASSED | FAILED
	VerifiedLevels     []string      `json:"verifiedLevels"`
}

// VSAResource is a resource descriptor (in-toto v1) of a verification
// summary; Annotations carry the audit policy's gates and scope.
type VSAResource struct {
	URI         string            `json:"uri"`
	Digest      map[string]string `json:"digest,omitempty"`
	Annotations *VSAAnnotations   `json:"annotations,omitempty"`
}

// VSAAnnotations are the annotations of the attestation's policy: the
// gates and the scope of the audit (as in the report's policy).
type VSAAnnotations struct {
	Gates []string `json:"gates"`
	Scope Scope    `json:"scope"`
}

// Digest is the hex SHA-256 of the JSON report ([Report.WriteJSON]), which
// the HTML report shows and the attestation names as its subject.
func (r *Report) Digest() (string, error) {
	if r.digest != "" {
		return r.digest, nil
	}
	h := sha256.New()
	if err := r.WriteJSON(h); err != nil {
		return "", err
	}
	r.digest = hex.EncodeToString(h.Sum(nil))
	return r.digest, nil
}

// Attestation is the signed statement of the audit: its subjects are the
// JSON report (by digest), each host's chain head ("zone:ZONE/HOST") and
// the audit state it hands on; the predicate gives the verdict of the
// report (PASSED only when it passed every gate), when, which airlock
// (verifier.version), under which policy — its rules by URI, its digest,
// and its gates and scope (--zone, --since, --until, keys, registers,
// ledger, state) as annotations — and names the heads and the state it
// read.
func (r *Report) Attestation(signer *keys.Signer) ([]byte, error) {
	sum, err := r.Digest()
	if err != nil {
		return nil, err
	}
	v := VSA{TimeVerified: r.GeneratedAt, ResourceURI: "file:" + r.Dir,
		Policy: VSAResource{URI: AuditPolicyURI, Digest: map[string]string{"sha256": r.PolicySHA256},
			Annotations: &VSAAnnotations{Gates: r.Policy.Gates, Scope: r.Policy.Scope}},
		VerificationResult: "PASSED", VerifiedLevels: []string{LevelPassed}}
	v.Verifier.ID = VerifierID
	v.Verifier.Version = map[string]string{"airlock": orWord(r.Airlock, "unknown")}
	if !r.OK() {
		v.VerificationResult, v.VerifiedLevels = "FAILED", []string{"FAILED"}
	}
	subjects := []intoto.Subject{intoto.SHA256(ReportSubject, sum)}
	for _, z := range r.Zones {
		for _, c := range z.Chains {
			subjects = append(subjects, intoto.SHA256("zone:"+z.Name+"/"+c.Host, c.HeadSHA256))
			v.InputAttestations = append(v.InputAttestations, VSAResource{URI: "file:" + c.HeadFile, Digest: map[string]string{"sha256": c.HeadSHA256}})
		}
	}
	if st := r.State; st != nil {
		if st.Written != nil && st.Written.SHA256 != "" {
			subjects = append(subjects, intoto.SHA256(StateSubject, st.Written.SHA256))
		}
		if st.Read != nil {
			v.InputAttestations = append(v.InputAttestations, VSAResource{URI: "file:" + st.File, Digest: map[string]string{"sha256": st.Read.SHA256}})
		}
	}
	st := intoto.Statement[VSA]{Type: intoto.StatementType, Subject: subjects, PredicateType: VSAPredicateType, Predicate: v}
	payload, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encode attestation: %w", err)
	}
	env, err := dsse.Sign(dsse.InTotoPayloadType, payload, signer)
	if err != nil {
		return nil, fmt.Errorf("sign attestation: %w", err)
	}
	return dsse.Marshal(env)
}

// WriteAttestation writes the signed attestation to w.
func (r *Report) WriteAttestation(w io.Writer, signer *keys.Signer) error {
	b, err := r.Attestation(signer)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
