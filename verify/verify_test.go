package verify_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/progress/progresstest"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/verify"
	"airlock.dev/airlock/zone"
)

// split gives 3 parts: two full 1 MiB parts and a short one.
const (
	split = 1 << 20
	big   = 5 << 19 // 2.5 MiB of random data
)

func policy(name string, roles ...zone.Role) *zone.Policy {
	return &zone.Policy{Zone: name, Roles: roles}
}

func role(name string, threshold int, signers ...*keys.Signer) zone.Role {
	r := zone.Role{Name: name, Threshold: threshold}
	for _, s := range signers {
		r.Keys = append(r.Keys, s.Public())
	}
	return r
}

func check(t *testing.T, dir string, o verify.Options) (*verify.Result, error) {
	t.Helper()
	b, err := bundle.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if o.Now.IsZero() {
		o.Now = time.Date(2026, 11, 1, 13, 0, 0, 0, time.UTC)
	}
	return verify.Bundle(context.Background(), b, o)
}

func TestVerifyGood(t *testing.T) {
	f := bundletest.New(t)
	dir, _ := f.Build(bundletest.Options{Big: big, Split: split, Signers: []*keys.Signer{f.Release, f.Approver}})
	pol := policy("test", role("release", 1, f.Release), role("approve", 1, f.Approver))
	// A zone that lists its applications applies those it lists.
	pol.Applications = []string{"billing", "shop"}
	res, err := check(t, dir, verify.Options{Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Verified || len(res.Signers) != 2 || res.Signers[0].Role != "release" || res.Signers[1].Role != "approve" {
		t.Fatalf("result %+v", res)
	}
	if n := len(res.Statement.Predicate.Payload.Parts); n != 3 {
		t.Fatalf("%d parts, want 3", n)
	}
	for _, c := range res.Checks {
		if c.Result != receipt.Pass {
			t.Errorf("check %s: %s", c.Name, c.Result)
		}
	}
}

// TestTamper covers every way a bundle on the media can be altered: each
// must fail verification (a *verify.Error) naming the check and the file.
// TestVerifyProgress: verification reports one stage, verify, of the
// payload's bytes, all of them hashed.
func TestVerifyProgress(t *testing.T) {
	f := bundletest.New(t)
	dir, res := f.Build(bundletest.Options{Big: big, Split: split})
	var rec progresstest.Recorder
	if _, err := check(t, dir, verify.Options{Policy: policy("test", role("release", 1, f.Release)), Progress: &rec}); err != nil {
		t.Fatal(err)
	}
	size := res.Statement.Predicate.Payload.Size
	want := []progresstest.Stage{{Name: "verify", Total: size, Done: size}}
	if got := rec.Stages(); !reflect.DeepEqual(got, want) {
		t.Errorf("stages %+v, want %+v", got, want)
	}
}

func TestTamper(t *testing.T) {
	f := bundletest.New(t)
	good, _ := f.Build(bundletest.Options{Big: big, Split: split})
	other, _ := f.Build(bundletest.Options{Big: big, Split: split})
	pol := policy("test", role("release", 1, f.Release))
	tests := []struct {
		name      string
		tamper    func(dir string)
		pol       *zone.Policy
		now       time.Time
		wantCheck receipt.CheckName
		wantFile  string
		wantMsg   string
	}{
		{name: "envelope byte", tamper: func(d string) {
			bundletest.FlipByte(t, filepath.Join(d, bundle.StatementFile), 0)
		}, wantCheck: "envelope", wantFile: bundle.StatementFile},
		{name: "payload byte inside envelope", tamper: func(d string) {
			editFile(t, filepath.Join(d, bundle.StatementFile), func(s string) string {
				i := strings.Index(s, `"payload": "`) + len(`"payload": "`) + 40
				c := "A"
				if s[i] == 'A' {
					c = "B"
				}
				return s[:i] + c + s[i+1:]
			})
		}, wantCheck: "signature", wantFile: bundle.StatementFile},
		{name: "signature byte", tamper: func(d string) {
			editFile(t, filepath.Join(d, bundle.StatementFile), func(s string) string {
				i := strings.Index(s, `"sig": "`) + len(`"sig": "`) + 20
				c := "A"
				if s[i] == 'A' {
					c = "B"
				}
				return s[:i] + c + s[i+1:]
			})
		}, wantCheck: "signature"},
		{name: "manifest byte", tamper: func(d string) {
			bundletest.FlipByte(t, filepath.Join(d, bundle.ManifestFile), 10)
		}, wantCheck: "manifest", wantFile: bundle.ManifestFile, wantMsg: "sha256"},
		{name: "part byte", tamper: func(d string) {
			bundletest.FlipByte(t, filepath.Join(d, bundle.PartName(2)), 1000)
		}, wantCheck: "parts", wantFile: bundle.PartName(2), wantMsg: "sha256"},
		{name: "last byte of last part", tamper: func(d string) {
			bundletest.FlipByte(t, filepath.Join(d, bundle.PartName(3)), -1)
		}, wantCheck: "parts", wantFile: bundle.PartName(3)},
		{name: "truncated part", tamper: func(d string) {
			truncate(t, filepath.Join(d, bundle.PartName(3)), 100)
		}, wantCheck: "parts", wantFile: bundle.PartName(3), wantMsg: "truncated"},
		{name: "missing part", tamper: func(d string) {
			os.Remove(filepath.Join(d, bundle.PartName(2)))
		}, wantCheck: "parts", wantFile: bundle.PartName(2), wantMsg: "missing"},
		{name: "part from another bundle", tamper: func(d string) {
			copyFile(t, filepath.Join(other, bundle.PartName(2)), filepath.Join(d, bundle.PartName(2)))
		}, wantCheck: "parts", wantFile: bundle.PartName(2), wantMsg: "another bundle"},
		{name: "reordered parts", tamper: func(d string) {
			a, b := filepath.Join(d, bundle.PartName(1)), filepath.Join(d, bundle.PartName(2))
			os.Rename(a, a+".x")
			os.Rename(b, a)
			os.Rename(a+".x", b)
		}, wantCheck: "parts", wantFile: bundle.PartName(1), wantMsg: "reordered"},
		{name: "extra part", tamper: func(d string) {
			copyFile(t, filepath.Join(other, bundle.PartName(3)), filepath.Join(d, bundle.PartName(4)))
		}, wantCheck: "parts", wantFile: bundle.PartName(4), wantMsg: "not listed"},
		{name: "statement from another bundle", tamper: func(d string) {
			copyFile(t, filepath.Join(other, bundle.StatementFile), filepath.Join(d, bundle.StatementFile))
		}, wantCheck: "manifest", wantFile: bundle.ManifestFile},
		{name: "wrong key", pol: policy("test", role("release", 1, f.Other)), wantCheck: "signature", wantMsg: "no signature from a trusted key"},
		{name: "approval missing", pol: policy("test", role("release", 1, f.Release), role("approve", 1, f.Approver)),
			wantCheck: "signature", wantMsg: "role approve has 0 of 1"},
		{name: "one key signing twice against threshold 2", tamper: func(d string) {
			editFile(t, filepath.Join(d, bundle.StatementFile), func(s string) string {
				env, err := dsse.Read(strings.NewReader(s), bundle.MaxStatementSize)
				if err != nil {
					t.Fatal(err)
				}
				sig := env.Signatures[0]
				sig.KeyID = "another-hint"
				env.Signatures = append(env.Signatures, sig)
				b, _ := dsse.Marshal(env)
				return string(b)
			})
		}, pol: policy("test", role("release", 2, f.Release, f.Other)), wantCheck: "signature", wantMsg: "1 of 2"},
		{name: "expired", now: time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC), wantCheck: "expiry", wantMsg: "expired"},
		{name: "issued in the future", now: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), wantCheck: "expiry", wantMsg: "zone clock"},
		{name: "wrong zone", pol: policy("prod", role("release", 1, f.Release)), wantCheck: "target", wantMsg: "not zone:prod"},
		{name: "application not listed", pol: &zone.Policy{Zone: "test", Roles: []zone.Role{role("release", 1, f.Release)}, Applications: []string{"billing", "reports"}},
			wantCheck: "target", wantMsg: "not one of the applications this zone lists (billing, reports)"},
		{name: "wrong predicate type", tamper: func(d string) {
			f.Resign(d, func(st *bundle.Statement) { st.PredicateType = "https://airlock.dev/receipt/v1" }, f.Release)
		}, wantCheck: "predicate-type"},
		{name: "wrong payload type", tamper: func(d string) {
			st := f.Statement(d)
			b, _ := jsonMarshal(st)
			f.WriteEnvelope(d, "application/json", b, f.Release)
		}, wantCheck: "payload-type"},
		{name: "future format version", tamper: func(d string) {
			f.Resign(d, func(st *bundle.Statement) { st.Predicate.FormatVersion = bundle.FormatVersion + 1 }, f.Release)
		}, wantCheck: "format-version", wantMsg: fmt.Sprintf("format version %d", bundle.FormatVersion+1)},
		{name: "subject disagrees with predicate", tamper: func(d string) {
			f.Resign(d, func(st *bundle.Statement) { st.Subject = st.Subject[:1] }, f.Release)
		}, wantCheck: "format-version", wantMsg: "subject"},
		{name: "oversized envelope", tamper: func(d string) {
			os.WriteFile(filepath.Join(d, bundle.StatementFile), make([]byte, bundle.MaxStatementSize+1), 0o644)
		}, wantCheck: "envelope", wantMsg: "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "b")
			copyDir(t, good, dir)
			if tt.tamper != nil {
				tt.tamper(dir)
			}
			p := pol
			if tt.pol != nil {
				p = tt.pol
			}
			res, err := check(t, dir, verify.Options{Policy: p, Now: tt.now})
			var ve *verify.Error
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *verify.Error", err)
			}
			if ve.Check != tt.wantCheck || (tt.wantFile != "" && ve.File != tt.wantFile) || !strings.Contains(ve.Msg, tt.wantMsg) {
				t.Fatalf("err = %v, want check %s file %q message containing %q", err, tt.wantCheck, tt.wantFile, tt.wantMsg)
			}
			if res.Verified {
				t.Fatal("Verified is true")
			}
			last := res.Checks[len(res.Checks)-1]
			if last.Name != tt.wantCheck || last.Result != receipt.Fail {
				t.Fatalf("last check %+v, want %s failed", last, tt.wantCheck)
			}
		})
	}
}

func TestSequenceHook(t *testing.T) {
	f := bundletest.New(t)
	dir, _ := f.Build(bundletest.Options{Sequence: 7})
	pol := policy("test", role("release", 1, f.Release))
	_, err := check(t, dir, verify.Options{Policy: pol, Sequence: func(p *bundle.Predicate) error {
		if p.Sequence <= 9 {
			return errors.New("sequence 7 is lower than 9, the highest applied")
		}
		return nil
	}})
	var ve *verify.Error
	if !errors.As(err, &ve) || ve.Check != receipt.CheckSequence {
		t.Fatalf("err = %v, want a sequence failure", err)
	}
}

func TestSingleFileForm(t *testing.T) {
	f := bundletest.New(t)
	out := filepath.Join(t.TempDir(), "x.airlock")
	f.Build(bundletest.Options{Out: out, Signers: []*keys.Signer{f.Release, f.Approver}})
	pol := policy("test", role("release", 1, f.Release), role("approve", 1, f.Approver))
	if _, err := check(t, out, verify.Options{Policy: pol}); err != nil {
		t.Fatal(err)
	}
	// Flip a byte of the payload inside the tar: found by its digest.
	bundletest.FlipByte(t, out, entryOffset(t, out, bundle.PayloadFile)+10)
	_, err := check(t, out, verify.Options{Policy: pol})
	var ve *verify.Error
	if !errors.As(err, &ve) || ve.Check != receipt.CheckParts || ve.File != bundle.PayloadFile {
		t.Fatalf("err = %v, want a parts failure naming %s", err, bundle.PayloadFile)
	}
}

// TestOlderFormatVersion: a bundle of format version 1 (before the fields
// of version 2) still verifies.
func TestOlderFormatVersion(t *testing.T) {
	f := bundletest.New(t)
	dir, _ := f.Build(bundletest.Options{})
	f.Resign(dir, func(st *bundle.Statement) { st.Predicate.FormatVersion = bundle.MinFormatVersion }, f.Release)
	res, err := check(t, dir, verify.Options{Policy: policy("test", role("release", 1, f.Release))})
	if err != nil {
		t.Fatal(err)
	}
	if res.Statement.Predicate.FormatVersion != 1 {
		t.Fatalf("format version %d", res.Statement.Predicate.FormatVersion)
	}
}

// TestTestEvidenceMismatch: a statement naming test evidence that the
// manifest does not hold with that digest fails the manifest check.
func TestTestEvidenceMismatch(t *testing.T) {
	f := bundletest.New(t)
	dir, _ := f.Build(bundletest.Options{})
	pol := policy("test", role("release", 1, f.Release))
	f.Resign(dir, func(st *bundle.Statement) {
		st.Predicate.Change.TestEvidence = []bundle.Evidence{{Path: "scripts/migrate.sh", SHA256: strings.Repeat("0", 64)}}
	}, f.Release)
	_, err := check(t, dir, verify.Options{Policy: pol})
	var ve *verify.Error
	if !errors.As(err, &ve) || ve.Check != receipt.CheckManifest || !strings.Contains(ve.Msg, "test evidence scripts/migrate.sh") {
		t.Fatalf("err = %v, want a manifest failure naming the evidence", err)
	}
}

// TestSignerNames: the names trust.yaml gives keys are reported with the
// signers.
func TestSignerNames(t *testing.T) {
	f := bundletest.New(t)
	dir, _ := f.Build(bundletest.Options{Signers: []*keys.Signer{f.Release, f.Approver}})
	pol := policy("test", role("release", 1, f.Release), role("approve", 1, f.Approver))
	pol.Names = map[string]string{f.Approver.Public().ID(): "Ann Approver"}
	res, err := check(t, dir, verify.Options{Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	if res.Signers[1].Name != "Ann Approver" || res.Signers[0].Name != "" {
		t.Errorf("signers %+v", res.Signers)
	}
}

// TestErrorKeepsCause: a check that fails on an error found on the way
// (here a statement that is not JSON) keeps it as its cause, so callers
// branch with errors.As, never on the message.
func TestErrorKeepsCause(t *testing.T) {
	f := bundletest.New(t)
	dir, _ := f.Build(bundletest.Options{})
	if err := os.WriteFile(filepath.Join(dir, bundle.StatementFile), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := check(t, dir, verify.Options{Policy: policy("test", role("release", 1, f.Release))})
	var ve *verify.Error
	if !errors.As(err, &ve) || ve.Check != receipt.CheckEnvelope || ve.Err == nil || errors.Unwrap(err) != ve.Err {
		t.Fatalf("err = %#v", err)
	}
}
