package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"airlock.dev/airlock/apply"
	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/internal/intoto"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

// hostileYAML is a release with a bidirectional override in a variable's
// value; hostileZone then signs, as a malicious signer would, a manifest and
// a statement that carry terminal control sequences the builder refuses to
// write: a carriage return that makes "rm -rf /srv/data" vanish behind
// "echo safe", and an escape sequence in the change reason.
const hostileYAML = `apiVersion: airlock/v1
name: shop
version: 1.0.0
channel: stable
targets: [zone:test]
expires: 24h
change: { ticket: CHG-1, reason: routine }
packages:
  - name: web
    path: web
variables:
  Root: { value: /tmp/x }
  Greeting: "hello\u202eevil"
steps:
  - name: prepare
    run: "echo safe"
  - name: install
    deploy: web
    to: "#{Root}"
`

// rawControls reports the first control character other than a line feed
// in out, or "".
func rawControls(out string) string {
	for _, r := range out {
		if r == '\n' {
			continue
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u202e' {
			return fmt.Sprintf("%U", r)
		}
	}
	return ""
}

// hostileZone builds the hostile release for a zone named test and returns
// the bundle and the zone's trust.yaml.
func hostileZone(t *testing.T) (bundlePath, trustPath string) {
	t.Helper()
	f := bundletest.New(t)
	f.Now = time.Now() // plan checks expiry against the real clock
	dir, _ := f.Build(bundletest.Options{YAML: hostileYAML, Files: map[string]string{"web/index.html": "<p>x</p>\n"}})
	mpath := filepath.Join(dir, bundle.ManifestFile)
	raw, err := os.ReadFile(mpath)
	if err != nil {
		t.Fatal(err)
	}
	m, err := bundle.ParseManifest(raw)
	if err != nil {
		t.Fatal(err)
	}
	m.Steps[0].Run = "rm -rf /srv/data\recho safe"
	mjson, err := bundle.MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mpath, mjson, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(mjson)
	f.Resign(dir, func(st *bundle.Statement) {
		st.Predicate.Manifest.Size, st.Predicate.Manifest.SHA256 = int64(len(mjson)), hex.EncodeToString(sum[:])
		st.Predicate.Change.Reason = "routine\x1b[2K\x1b[1Aapproved"
		st.Subject = bundle.Subjects(&st.Predicate)
	}, f.Release)
	trust := f.WriteZone(t.TempDir(), "")
	tr, err := zone.Load(trust)
	if err != nil {
		t.Fatal(err)
	}
	// The zone's policy on record, as zone init would have it: plan and
	// apply refuse a zone whose chain records none.
	if _, err := apply.CommitPolicy(t.Context(), apply.CommitOptions{Trust: tr, Operator: "Test Operator"}); err != nil {
		t.Fatal(err)
	}
	return dir, trust
}

// TestControlCharactersMadeVisible: what inspect, plan and receipt show
// print from a bundle or a receipt never carries a raw control sequence,
// and the hidden command is shown escaped.
func TestControlCharactersMadeVisible(t *testing.T) {
	b, trust := hostileZone(t)
	rcpt := hostileReceipt(t)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"inspect", []string{"inspect", b}, []string{`rm -rf /srv/data\recho safe [run, when success`, `routine\x1b[2K\x1b[1Aapproved`}},
		{"plan", []string{"plan", b, "--trust", trust}, []string{`rm -rf /srv/data\recho safe`, `hello\u202eevil`}},
		{"receipt show", []string{"receipt", "show", rcpt}, []string{`\x1b[2Jall good`, `exit 1\rno problem`, `Jane\u202eeoD`,
			`via sudo by root\x1b[2Kops (uid 0\r1000)`, `login uid 1000\x1b[1A eve\x07`, `on /dev/pts/1\x1b]0;title\x07`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, strings.NewReader(""), &stdout, &stderr)
			if code != exitOK {
				t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
			}
			out := stdout.String() + stderr.String()
			if c := rawControls(out); c != "" {
				t.Errorf("output carries raw %s:\n%q", c, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %s:\n%s", w, out)
				}
			}
		})
	}
}

// hostileReceipt writes a receipt whose texts carry control sequences.
func hostileReceipt(t *testing.T) string {
	t.Helper()
	s := bundletest.NewSigner(t)
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	p := &receipt.Predicate{ReceiptID: "r1", Zone: "test", Seq: 1,
		Operator: receipt.Operator{User: "ops", UID: "1000", Name: "Jane\u202eeoD",
			SudoUser: "root\x1b[2Kops", SudoUID: "0\r1000", LoginUID: "1000\x1b[1A", LoginUser: "eve\x07", Terminal: "/dev/pts/1\x1b]0;title\x07"},
		Time:    receipt.Times{Started: now, Finished: now, Source: "system clock"},
		Checks:  []receipt.Check{},
		Steps:   []receipt.Step{{Name: "migrate", Kind: "run", When: "success", Result: receipt.StepFailed, Error: "exit 1\rno problem"}},
		Outcome: receipt.Outcome{Result: receipt.RolledBack, Reason: receipt.ReasonStepFailed, Message: "\x1b[2Jall good"}}
	data, err := receipt.Sign(p, []intoto.Subject{}, s)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "receipt-test-0000000001.dsse.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
