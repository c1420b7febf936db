package bundle

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/uuid"
)

// TestCheckBuiltParts: a statement listing thousands of payload parts,
// each within MaxParts, makes an envelope larger than MaxStatementSize,
// which checkBuilt refuses, naming the parts and what to do; a few parts
// pass, and a statement outside the predicate's caps is refused too.
func TestCheckBuiltParts(t *testing.T) {
	statement := func(parts int) (*Statement, []byte) {
		issued := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		p := Predicate{FormatVersion: FormatVersion, BundleID: uuid.NewV7(issued), Name: "shop", Version: "1",
			Channel: "stable", Sequence: 1, Targets: []string{"zone:test"}, IssuedAt: issued, Expires: issued.Add(time.Hour),
			Manifest: FileRef{Name: ManifestFile, Size: 10, SHA256: strings.Repeat("a", 64)},
			Payload:  Payload{Encryption: EncryptionAge, Compression: CompressionZstd, Archive: ArchiveTar, Entries: 1, PlaintextSize: 1, PlaintextSHA256: strings.Repeat("c", 64)}}
		for i := range parts {
			p.Payload.Parts = append(p.Payload.Parts, FileRef{Name: PartName(i + 1), Size: 1 << 20, SHA256: strings.Repeat("b", 64)})
			p.Payload.Size += 1 << 20
		}
		st := &Statement{Type: StatementType, Subject: Subjects(&p), PredicateType: PredicateType, Predicate: p}
		payload, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		return st, []byte(base64.StdEncoding.EncodeToString(payload)) // the envelope, but for its signature
	}
	for _, tc := range []struct {
		parts int
		want  string
	}{
		{3, ""},
		{4000, "it lists 4000 payload parts: choose a larger split size"},
		{MaxParts + 1, "payload parts"},
	} {
		st, env := statement(tc.parts)
		err := checkBuilt(st, env, signatureRoom)
		if tc.want == "" && err != nil {
			t.Errorf("%d parts: %v", tc.parts, err)
		}
		if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%d parts: %v, want %q", tc.parts, err, tc.want)
		}
	}
	if MaxSignatures != dsse.MaxSignatures {
		t.Errorf("MaxSignatures %d, the envelope reader allows %d", MaxSignatures, dsse.MaxSignatures)
	}
}
