package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/schematest"
)

// TestOutputsMatchSchemas validates every JSON output of the audit — the
// report, the JSON lines, the state, the attestation and the receipts it
// reads — against the schemas of doc/schemas, for the golden fixture and
// for a folder full of problems.
func TestOutputsMatchSchemas(t *testing.T) {
	schemas := schematest.Schemas(t)
	signer := newKey(t)
	for name, r := range map[string]*Report{"golden": runAudit(t, goldenOptions(t)), "gap": gapReport(t), "empty": runAudit(t, Options{Dir: t.TempDir(), Keys: pubs(signer)})} {
		t.Run(name, func(t *testing.T) {
			var js, jsonl, state bytes.Buffer
			if err := r.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			if err := schemas.Validate("audit-report.schema.json", js.Bytes()); err != nil {
				t.Errorf("report: %v", err)
			}
			if err := r.WriteJSONL(&jsonl); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(jsonl.String(), "\n"), "\n")
			for i, line := range lines {
				if err := schemas.Validate("audit-event.schema.json", []byte(line)); err != nil {
					t.Errorf("jsonl line %d: %v\n%s", i+1, err, line)
				}
			}
			if want := 1 + r.Summary.Applies + r.Summary.ControlChanges + len(r.Findings); len(lines) != want {
				t.Errorf("%d JSON lines, want %d (audit + receipts + findings)", len(lines), want)
			}
			payload, err := r.NextState.Payload()
			if err != nil {
				t.Fatal(err)
			}
			state.Write(payload)
			if err := schemas.Validate("audit-state.schema.json", state.Bytes()); err != nil {
				t.Errorf("state: %v", err)
			}
			att, err := r.Attestation(signer)
			if err != nil {
				t.Fatal(err)
			}
			checkAttestation(t, schemas, att, signer.Public(), js.Bytes(), r.OK())
		})
	}
	// The receipts themselves, of both format versions.
	err := filepath.WalkDir(goldenReceipts, func(p string, d os.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, ".dsse.json") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := schemas.Validate("dsse-envelope.schema.json", data); err != nil {
			t.Errorf("%s envelope: %v", p, err)
		}
		env, err := dsse.Read(bytes.NewReader(data), 1<<20)
		if err != nil {
			return err
		}
		payload, _ := dsse.PayloadOf(env)
		if err := schemas.Validate("receipt-statement.schema.json", payload); err != nil {
			t.Errorf("%s statement: %v", p, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkAttestation checks an attestation's envelope and statement against
// their schemas, its signature, and that it names the JSON report by its
// digest and says whether the audit passed.
func checkAttestation(t *testing.T, schemas *schematest.Set, att []byte, key *keys.PublicKey, report []byte, ok bool) {
	t.Helper()
	if err := schemas.Validate("dsse-envelope.schema.json", att); err != nil {
		t.Errorf("attestation envelope: %v", err)
	}
	payload, st := readAttestation(t, att, key)
	if err := schemas.Validate("audit-attestation.schema.json", payload); err != nil {
		t.Errorf("attestation statement: %v", err)
	}
	sum := sha256.Sum256(report)
	if st.Subject[0].Name != ReportSubject || st.Subject[0].Digest["sha256"] != hex.EncodeToString(sum[:]) {
		t.Errorf("attestation subject %+v, want the report's digest %x", st.Subject[0], sum)
	}
	if want := map[bool]string{true: "PASSED", false: "FAILED"}[ok]; st.Predicate.VerificationResult != want {
		t.Errorf("verificationResult %s, want %s", st.Predicate.VerificationResult, want)
	}
}

// TestSchemasAreStrict: the schemas refuse what the outputs never hold, so
// that the validation above can fail.
func TestSchemasAreStrict(t *testing.T) {
	schemas := schematest.Schemas(t)
	var js bytes.Buffer
	if err := runAudit(t, goldenOptions(t)).WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(map[string]any){
		"unknown field": func(d map[string]any) { d["extra"] = true },
		"other version": func(d map[string]any) { d["formatVersion"] = 1 },
		"bad severity": func(d map[string]any) {
			d["findings"] = []any{map[string]any{"severity": "fatal", "kind": "gap", "message": "x"}}
		},
		"missing zone field": func(d map[string]any) { delete(d["zones"].([]any)[0].(map[string]any), "chains") },
		"missing chain head": func(d map[string]any) {
			delete(d["zones"].([]any)[0].(map[string]any)["chains"].([]any)[0].(map[string]any), "headSha256")
		},
		"zone head of format 2": func(d map[string]any) { d["zones"].([]any)[0].(map[string]any)["headSha256"] = "" },
		"bad host status": func(d map[string]any) {
			d["ledger"].(map[string]any)["bundles"].([]any)[0].(map[string]any)["hosts"] = []any{map[string]any{"zone": "z", "host": "h", "result": "skipped"}}
		},
		"bad evidence status": func(d map[string]any) { d["evidence"].([]any)[0].(map[string]any)["status"] = "fine" },
	} {
		var copyDoc map[string]any
		json.Unmarshal(js.Bytes(), &copyDoc)
		edit(copyDoc)
		b, _ := json.Marshal(copyDoc)
		if err := schemas.Validate("audit-report.schema.json", b); err == nil {
			t.Errorf("%s: the schema accepted it", name)
		}
	}
}
