package audit

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
)

// Bounds on what an Apply keeps from a receipt, so that a report entry
// stays small however large the receipt is.
const (
	// MaxSteps is how many steps an Apply keeps; the rest are counted.
	MaxSteps = 64
	// maxText bounds free-text fields (messages, step errors, check details).
	maxText = 300
	// maxChecks bounds the failed checks kept.
	maxChecks = 16
)

// examined is what one file of the receipts folder turned out to be: a
// verified receipt (rec), a file airlock writes beside receipts (side), or
// a finding. A file with an error finding was rejected; one with a warning
// or note was skipped.
type examined struct {
	rec     *record
	side    *sideFile
	finding *Finding
}

func found(f Finding) examined { return examined{finding: &f} }

// sideFile is a deployed file list or step log found in the folder, with
// its digest, to be matched with the receipt that names it.
type sideFile struct {
	rel string
	sum digest
}

// examineFile reads and verifies one file of the receipts folder.
func examineFile(f fileRef, trusted []*keys.PublicKey, in *interner) examined {
	if f.err != nil {
		return found(newFinding(KindUnreadable, "", 0, f.rel, "cannot read: %v", f.err))
	}
	if !f.d.Type().IsRegular() {
		return found(newFinding(KindSkipped, "", 0, f.rel, "not a regular file (%s), not followed", bundle.FileKind(f.d.Type())))
	}
	if receipt.IsSideFile(f.rel) {
		sum, err := hashFile(f.path)
		if err != nil {
			return found(newFinding(KindUnreadable, "", 0, f.rel, "cannot read: %v", err))
		}
		return examined{side: &sideFile{rel: f.rel, sum: sum}}
	}
	data, err := capped.ReadFile(f.path, receipt.MaxSize)
	var tl *capped.TooLargeError
	switch {
	case errors.As(err, &tl):
		size := fmt.Sprintf("larger than %d bytes", tl.Max)
		if head, herr := readHead(f.path, sniffSize); herr == nil && !looksLikeJSON(head) {
			return found(newFinding(KindNotAReceipt, "", 0, f.rel, "not a JSON document (%s, %s); not read as a receipt", sniff(head), size))
		}
		return found(newFinding(KindUnparseable, "", 0, f.rel, "not a receipt envelope: %s", size))
	case err != nil:
		return found(newFinding(KindUnreadable, "", 0, f.rel, "cannot read: %v", err))
	}
	return examineBytes(f.rel, data, trusted, in)
}

// examineBytes verifies one receipt file's bytes against the trusted keys.
// It never panics on hostile input.
func examineBytes(rel string, data []byte, trusted []*keys.PublicKey, in *interner) examined {
	if !looksLikeJSON(data) {
		return found(newFinding(KindNotAReceipt, "", 0, rel, "not a JSON document (%s); not read as a receipt", sniff(data)))
	}
	r, err := receipt.Verify(data, trusted)
	if err != nil {
		return found(classify(rel, data, trusted, err))
	}
	return examined{rec: newRecord(rel, r, in)}
}

// hashFile is the SHA-256 of a file, streamed.
func hashFile(path string) (digest, error) {
	var d digest
	f, _, err := capped.Open(path)
	if err != nil {
		return d, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return d, err
	}
	copy(d[:], h.Sum(nil))
	return d, nil
}

// looksLikeJSON reports whether the first non-space byte opens an object.
// Anything else (an age-encrypted log, a key, a README) is not a receipt.
func looksLikeJSON(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) > 0 && t[0] == '{'
}

// sniffSize is how much of a file sniff looks at.
const sniffSize = 512

// trimPartialRune drops a rune cut off at the end of b.
func trimPartialRune(b []byte) []byte {
	for i := 1; i < utf8.UTFMax && i <= len(b); i++ {
		if utf8.RuneStart(b[len(b)-i]) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i]
			}
			break
		}
	}
	return b
}

// sniff names what a file that is not a receipt looks like.
func sniff(data []byte) string {
	switch {
	case len(data) == 0:
		return "empty file"
	case bytes.HasPrefix(data, []byte("age-encryption.org/")), bytes.HasPrefix(data, []byte("-----BEGIN AGE ENCRYPTED FILE-----")):
		return "an age-encrypted file"
	case bytes.HasPrefix(data, []byte("-----BEGIN ")):
		return "a PEM file"
	case !utf8.Valid(trimPartialRune(data[:min(len(data), sniffSize)])):
		return "binary data"
	}
	return "text"
}

// classify names why a receipt failed verification. Signature failures are
// "tampered" when a signature's keyid names one of the trusted keys (the
// content or signature changed after signing) and "unknown-key" otherwise.
// The zone and seq the file claims are read without verification, to name
// it.
func classify(rel string, data []byte, trusted []*keys.PublicKey, err error) Finding {
	var ve *receipt.VerifyError
	if !errors.As(err, &ve) {
		return newFinding(KindUnparseable, "", 0, rel, "%v", err)
	}
	zone, host, seq, claim := claims(data)
	f := rejected(rel, data, trusted, ve, zone, seq, claim)
	f.Host = host
	return f
}

// rejected is the finding for a receipt that failed verification (ve),
// naming what it claims.
func rejected(rel string, data []byte, trusted []*keys.PublicKey, ve *receipt.VerifyError, zone string, seq uint64, claim string) Finding {
	switch {
	case ve.Reason == "signature":
		ids := signatureKeyIDs(data)
		for _, id := range ids {
			for _, k := range trusted {
				if id == k.ID() {
					return newFinding(KindTampered, zone, seq, rel,
						"signature by receipt key %s does not verify: the receipt was changed after signing%s", id, claim)
				}
			}
		}
		named := "no keyid"
		if len(ids) > 0 {
			named = "keyid " + strings.Join(ids, ", ")
		}
		return newFinding(KindUnknownKey, zone, seq, rel,
			"not signed by any receipt key given (%s)%s", named, claim)
	case ve.Reason == "envelope" || strings.HasPrefix(ve.Reason, "larger than") || strings.HasPrefix(ve.Reason, "payload type"):
		return newFinding(KindUnparseable, zone, seq, rel, "not a receipt envelope: %s", verifyDetail(ve))
	default:
		// The signature verified; the signed statement is not a valid receipt.
		return newFinding(KindInvalid, zone, seq, rel, "signed by a receipt key but not a valid receipt: %s%s", verifyDetail(ve), claim)
	}
}

// verifyDetail is a VerifyError's reason and cause without its prefix.
func verifyDetail(ve *receipt.VerifyError) string {
	switch {
	case ve.Err == nil:
		return clip(ve.Reason)
	case ve.Reason == "envelope":
		return clip(ve.Err.Error())
	}
	return clip(ve.Reason + ": " + ve.Err.Error())
}

// claims reads the zone, host and seq a receipt claims, without
// verification.
func claims(data []byte) (zone, host string, seq uint64, phrase string) {
	r, err := receipt.Parse(data)
	if err != nil {
		return "", "", 0, ""
	}
	p := r.Predicate()
	return clip(p.Zone), clip(p.Host.Name), p.Seq, fmt.Sprintf(" (unverified claim: zone %s host %s seq %d)", clip(p.Zone), clip(p.Host.Name), p.Seq)
}

// signatureKeyIDs returns the keyid hints of an envelope's signatures.
func signatureKeyIDs(data []byte) []string {
	env, err := dsse.Read(bytes.NewReader(data), receipt.MaxSize)
	if err != nil {
		return nil
	}
	var ids []string
	for _, s := range env.Signatures {
		if s.KeyID != "" {
			ids = append(ids, clip(s.KeyID))
		}
	}
	return ids
}

// clip bounds free text to maxText bytes at a rune boundary.
func clip(s string) string {
	if len(s) <= maxText {
		return s
	}
	cut := maxText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// bundleRef keeps a receipt's bundle fields for the report: times in UTC,
// free text clipped, the operator's local path dropped.
func bundleRef(b receipt.Bundle) *BundleRef {
	b.Source = ""
	b.IssuedAt, b.Expires = b.IssuedAt.UTC(), b.Expires.UTC()
	b.ChangeReason = clip(b.ChangeReason)
	b.ChangeSecurityImpact = clip(b.ChangeSecurityImpact)
	b.ChangeBackout = clip(b.ChangeBackout)
	return &BundleRef{b}
}
