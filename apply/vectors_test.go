//go:build unix

package apply

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"airlock.dev/airlock/apply/stage"
	"airlock.dev/airlock/audit"
	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/verify"
	"airlock.dev/airlock/zone"
)

// The frozen test vectors of testdata/vectors (see its README): bundles and
// receipts made once with the fixed keys of testdata/vectors/keys, in a
// folder per format version that made them (v1/bundle, v1/receipt, …), each
// file a block of "key: value" header lines, a blank line, and the body.
const (
	vectorsDir   = "../testdata/vectors"
	vectorKeys   = vectorsDir + "/keys"
	bundleKind   = "bundle"
	receiptKind  = "receipt"
	rootVariable = "${ROOT}" // in zone-vars: the zone's temporary deploy root
)

// expectUnreadable is the expect value of a bundle that bundle.Open refuses,
// so no check runs; the apply's receipt gives the reason of that name.
const expectUnreadable = string(receipt.ReasonBundleUnreadable)

// applyOnlyChecks run in apply and plan but not in verify.Bundle: the zone's
// channel state and identities are needed (doc/design.md, the order of checks).
var applyOnlyChecks = []receipt.CheckName{receipt.CheckSequence, receipt.CheckDecrypt, receipt.CheckExtract, receipt.CheckVariables}

// Receipt vector classes other than ok: the audit finding kinds of a file
// that fails receipt verification.
var receiptClasses = []string{audit.KindTampered, audit.KindUnknownKey, audit.KindInvalid, audit.KindUnparseable}

// vectorHeaders lists every header a vector of each kind may have, and
// whether it is required.
var vectorHeaders = map[string]map[string]bool{
	bundleKind: {
		"expect": true, "form": true, "zone": true, "host": true, "now": true, "roles": true,
		"outcome": true, "reason": true, "inspect": true, "comment": true,
		"zone-vars": false, "applied": false, "override": false, "file": false, "message": false,
	},
	receiptKind: {
		"expect": true, "signer": true, "comment": true,
		"zone": false, "seq": false, "outcome": false, "reason": false, "prev": false, "bundle": false,
	},
}

var headerKeyRE = regexp.MustCompile(`^[a-z][a-z-]*$`)

// vector is one parsed vector file.
type vector struct {
	kind string // bundle | receipt
	name string // file name
	keys []string
	h    map[string]string
	body []byte
}

func (v *vector) set(key, value string) {
	if _, ok := v.h[key]; !ok {
		v.keys = append(v.keys, key)
	}
	v.h[key] = value
}

// marshal writes the vector file: headers in the order set, a blank line,
// the body.
func (v *vector) marshal() []byte {
	var b bytes.Buffer
	for _, k := range v.keys {
		fmt.Fprintf(&b, "%s: %s\n", k, v.h[k])
	}
	b.WriteString("\n")
	b.Write(v.body)
	return b.Bytes()
}

// parseVector reads a vector file strictly: known header keys only, each
// once, required ones present, one-line values.
func parseVector(kind, name string, data []byte) (*vector, error) {
	known, ok := vectorHeaders[kind]
	if !ok {
		return nil, fmt.Errorf("unknown vector kind %q", kind)
	}
	head, body, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok {
		return nil, errors.New("no blank line after the headers")
	}
	v := &vector{kind: kind, name: name, h: map[string]string{}, body: body}
	for i, line := range strings.Split(string(head), "\n") {
		key, value, ok := strings.Cut(line, ": ")
		if !ok { // "key:" with an empty value
			key, ok = strings.CutSuffix(line, ":")
		}
		if !ok || !headerKeyRE.MatchString(key) {
			return nil, fmt.Errorf("header line %d: %q is not \"key: value\"", i+1, line)
		}
		if _, ok := known[key]; !ok {
			return nil, fmt.Errorf("header line %d: unknown header %q for a %s vector", i+1, key, kind)
		}
		if _, dup := v.h[key]; dup {
			return nil, fmt.Errorf("header line %d: %q given twice", i+1, key)
		}
		v.set(key, value)
	}
	for key, required := range known {
		if _, ok := v.h[key]; required && !ok {
			return nil, fmt.Errorf("header %q is required", key)
		}
	}
	if err := v.validate(); err != nil {
		return nil, err
	}
	return v, nil
}

// validate checks header values that the harness branches on.
func (v *vector) validate() error {
	oneOf := func(key string, values ...string) error {
		if val, ok := v.h[key]; ok && !slices.Contains(values, val) {
			return fmt.Errorf("%s: %q, want one of %s", key, val, strings.Join(values, ", "))
		}
		return nil
	}
	outcomes := strs(receipt.OutcomeResults)
	reasons := strs(receipt.Reasons())
	var errs []error
	if v.kind == bundleKind {
		errs = append(errs,
			oneOf("expect", append([]string{"ok", expectUnreadable}, strs(receipt.CheckNames)...)...),
			oneOf("form", "folder", "file"),
			oneOf("inspect", "ok", "error"),
			oneOf("outcome", outcomes...),
			oneOf("reason", reasons...),
			oneOf("override", "force-reapply", "allow-rollback"))
		if _, err := time.Parse(time.RFC3339, v.h["now"]); err != nil {
			errs = append(errs, fmt.Errorf("now: %w", err))
		}
		if e := v.h["expect"]; e != "ok" && (v.h["outcome"] != string(receipt.Refused) || v.h["reason"] != e) {
			errs = append(errs, fmt.Errorf("expect %s needs outcome refused and reason %s", e, e))
		}
	} else {
		errs = append(errs,
			oneOf("expect", append([]string{"ok"}, receiptClasses...)...),
			oneOf("outcome", outcomes...),
			oneOf("reason", reasons...))
		if v.h["expect"] == "ok" {
			for _, k := range []string{"zone", "seq", "outcome", "reason"} {
				if _, ok := v.h[k]; !ok {
					errs = append(errs, fmt.Errorf("an ok receipt vector needs %q", k))
				}
			}
		}
	}
	return errors.Join(errs...)
}

func strs[S ~string](in []S) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = string(s)
	}
	return out
}

// vectorVersionDirs lists the folders of vectors, one per format version
// (testdata/vectors/v1, …). None is an error.
func vectorVersionDirs(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(vectorsDir, "v[0-9]*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("vectors: no format version folders in %s (%v)", vectorsDir, err)
	}
	return dirs
}

// loadVectors reads every vector of a kind in a version folder. An empty or
// missing folder is an error: a vector path gone stale must not pass silently.
func loadVectors(t *testing.T, versionDir, kind string) []*vector {
	t.Helper()
	dir := filepath.Join(versionDir, kind)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("vectors: %v", err)
	}
	var out []*vector
	for _, e := range ents {
		if !e.Type().IsRegular() {
			t.Fatalf("vectors: %s/%s is not a regular file", dir, e.Name())
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		v, err := parseVector(kind, e.Name(), data)
		if err != nil {
			t.Fatalf("vector %s/%s: %v", kind, e.Name(), err)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		t.Fatalf("vectors: no %s vectors in %s", kind, dir)
	}
	return out
}

// TestVectors checks every frozen vector against today's code, through
// every path that reads it. A vector whose result differs from its headers
// fails: that is a format change (doc/design.md, compatibility promise).
func TestVectors(t *testing.T) {
	for _, dir := range vectorVersionDirs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) { runVectors(t, dir) })
	}
}

// runVectors runs the vectors of one format version folder; a receipt's
// prev: and bundle: headers name vectors of the same folder.
func runVectors(t *testing.T, dir string) {
	bundles, receipts := loadVectors(t, dir, bundleKind), loadVectors(t, dir, receiptKind)
	checkCoverage(t, filepath.Base(dir), bundles, receipts)
	byName := map[string]*vector{}
	for _, v := range bundles {
		byName[v.name] = v
	}
	for _, v := range bundles {
		t.Run(bundleKind+"/"+v.name, func(t *testing.T) {
			t.Parallel()
			runBundleVector(t, v)
		})
	}
	bodies := map[string][]byte{}
	for _, v := range receipts {
		bodies[v.name] = v.body
	}
	for _, v := range receipts {
		t.Run(receiptKind+"/"+v.name, func(t *testing.T) {
			t.Parallel()
			runReceiptVector(t, v, bodies, byName)
		})
	}
}

// checkCoverage fails when the vectors no longer cover what they promise:
// every check, both forms, split parts, every outcome, every receipt class.
func checkCoverage(t *testing.T, version string, bundles, receipts []*vector) {
	t.Helper()
	if n := len(bundles) + len(receipts); n < 30 {
		t.Errorf("%d vectors, want at least 30", n)
	}
	seen := map[string]bool{}
	for _, v := range bundles {
		seen["expect "+v.h["expect"]] = true
		seen["form "+v.h["form"]] = true
		seen["outcome "+v.h["outcome"]] = true
		if v.h["expect"] == "ok" {
			seen["ok "+v.h["form"]] = true
		}
		if bytes.Contains(v.body, []byte(bundle.PartName(2))) {
			seen["split "+v.h["form"]] = true
		}
	}
	for _, v := range receipts {
		seen["receipt "+v.h["expect"]] = true
		if v.h["expect"] == "ok" {
			seen["receipt outcome "+v.h["outcome"]] = true
		}
	}
	want := []string{"ok folder", "ok file", "split folder", "split file", "expect " + expectUnreadable}
	for _, c := range receipt.CheckNames {
		want = append(want, "expect "+string(c))
	}
	for _, o := range receipt.OutcomeResults {
		if version == "v1" && o == receipt.Recorded {
			continue // control records (genesis, policy commits) came with format 2
		}
		want = append(want, "receipt outcome "+string(o))
	}
	for _, c := range append([]string{"ok"}, receiptClasses...) {
		want = append(want, "receipt "+c)
	}
	for _, w := range want {
		if !seen[w] {
			t.Errorf("no vector covers %q", w)
		}
	}
}

// vectorPublicKey loads keys/<name>.pub.
func vectorPublicKey(t testing.TB, name string) *keys.PublicKey {
	t.Helper()
	k, err := keys.LoadPublic(filepath.Join(vectorKeys, name+".pub"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newVectorZone writes a trust.yaml for a zone of the vector keys in dir and
// loads it. roles is "role=threshold:key,key …"; vars are the zone's
// variables.
func newVectorZone(t testing.TB, dir, name, host, roles string, vars map[string]string) *zone.Trust {
	t.Helper()
	keyDir, err := filepath.Abs(vectorKeys)
	if err != nil {
		t.Fatal(err)
	}
	doc := &zone.Document{APIVersion: zone.APIVersion, Zone: name, Host: host, Roles: map[string]zone.RoleKeys{},
		Identities: []string{filepath.Join(keyDir, "zone.agekey")},
		Receipts:   zone.Receipts{Key: filepath.Join(keyDir, "receipt.key"), PublicKey: filepath.Join(keyDir, "receipt.pub")},
		State:      "state"}
	for name, v := range vars {
		if doc.Variables == nil {
			doc.Variables = map[string]zone.Value{}
		}
		doc.Variables[name] = zone.Value{Literal: v}
	}
	for _, r := range strings.Fields(roles) {
		role, spec, ok1 := strings.Cut(r, "=")
		threshold, list, ok2 := strings.Cut(spec, ":")
		n, err := strconv.Atoi(threshold)
		if !ok1 || !ok2 || err != nil {
			t.Fatalf("roles: %q is not role=threshold:key,key", r)
		}
		rk := zone.RoleKeys{Threshold: n}
		for _, k := range strings.Split(list, ",") {
			rk.Keys = append(rk.Keys, zone.KeyRef{Path: filepath.Join(keyDir, k+".pub")})
		}
		doc.Roles[role] = rk
	}
	data, err := doc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, zone.TrustFile)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	trust, err := zone.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return trust
}

// materialize writes a bundle vector's body where the zone can read it: the
// single-file form as it is, the folder form untarred into a folder.
func (v *vector) materialize(t *testing.T, dir string) string {
	t.Helper()
	if v.h["form"] == "file" {
		p := filepath.Join(dir, "bundle"+bundle.Extension)
		if err := os.WriteFile(p, v.body, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := filepath.Join(dir, "bundle")
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(v.body))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return p
		}
		if err != nil {
			t.Fatalf("folder body: %v", err)
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Name != filepath.Base(hdr.Name) || hdr.Name == "." || hdr.Name == ".." {
			t.Fatalf("folder body: entry %q: want a regular file named without a folder", hdr.Name)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, hdr.Name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// bundleZone is a fresh zone set up as a bundle vector's headers say.
func (v *vector) bundleZone(t *testing.T) *zone.Trust {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "srv")
	var vars map[string]string
	for _, kv := range strings.Fields(v.h["zone-vars"]) {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("zone-vars: %q is not NAME=VALUE", kv)
		}
		if vars == nil {
			vars = map[string]string{}
		}
		vars[k] = strings.ReplaceAll(val, rootVariable, root)
	}
	trust := newVectorZone(t, dir, v.h["zone"], v.h["host"], v.h["roles"], vars)
	// The zone's genesis record: the policy applies run under.
	if _, err := CommitPolicy(context.Background(), CommitOptions{Trust: trust, Operator: "Vector Operator",
		Now: func() time.Time { return v.now(t) }, Version: "test", Stderr: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if applied, ok := v.h["applied"]; ok {
		now := v.now(t)
		rec := &channelRecord{AppliedAt: now}
		for _, kv := range strings.Fields(applied) {
			k, val, _ := strings.Cut(kv, "=")
			var err error
			switch k {
			case "name":
				rec.Name = val
			case "channel":
				rec.Channel = val
			case "version":
				rec.Version = val
			case "bundle":
				rec.BundleID = val
			case "sequence":
				rec.Sequence, err = strconv.ParseUint(val, 10, 64)
			default:
				err = errors.New("unknown field")
			}
			if err != nil {
				t.Fatalf("applied: %q: %v", kv, err)
			}
		}
		st, err := openState(trust.StateDir, func() time.Time { return now })
		if err != nil {
			t.Fatal(err)
		}
		if err := st.setChannel(rec); err != nil {
			t.Fatal(err)
		}
	}
	return trust
}

func (v *vector) now(t *testing.T) time.Time {
	now, err := time.Parse(time.RFC3339, v.h["now"])
	if err != nil {
		t.Fatal(err)
	}
	return now
}

// expectCheck is the check a bundle vector must fail, or "" for ok.
func (v *vector) expectCheck() receipt.CheckName {
	if e := v.h["expect"]; e != "ok" && e != expectUnreadable {
		return receipt.CheckName(e)
	}
	return ""
}

// checkVerifyError asserts that err is a verification failure of the
// vector's check, naming its file and message when the headers give them.
func (v *vector) checkVerifyError(t *testing.T, path string, err error) {
	t.Helper()
	var ve *verify.Error
	if !errors.As(err, &ve) || ve.Check != v.expectCheck() {
		t.Fatalf("%s: err = %v, want a %s verification failure", path, err, v.expectCheck())
	}
	if f, ok := v.h["file"]; ok && ve.File != f {
		t.Errorf("%s: failure names file %q, want %q (%v)", path, ve.File, f, err)
	}
	if m, ok := v.h["message"]; ok && !strings.Contains(ve.Msg, m) {
		t.Errorf("%s: message %q does not contain %q", path, ve.Msg, m)
	}
}

func runBundleVector(t *testing.T, v *vector) {
	trust := v.bundleZone(t)
	path := v.materialize(t, t.TempDir())
	now := v.now(t)
	if b, err := bundle.Open(path); v.h["expect"] == expectUnreadable {
		if err == nil {
			b.Close()
			t.Fatal("bundle.Open: opened a bundle the vector says is unreadable")
		}
	} else if err != nil {
		t.Fatalf("bundle.Open: %v", err)
	} else {
		if b.SingleFile() != (v.h["form"] == "file") {
			t.Errorf("bundle.Open: SingleFile %v, form %s", b.SingleFile(), v.h["form"])
		}
		v.checkVerify(t, b, trust.Policy, now)
		b.Close()
	}
	v.checkInspect(t, path)
	o := Options{Bundle: path, Trust: trust, Now: func() time.Time { return now }, Version: "vectors",
		ForceReapply: v.h["override"] == "force-reapply", AllowRollback: v.h["override"] == "allow-rollback"}
	v.checkPlan(t, o)
	v.checkApply(t, o)
}

// checkVerify runs verify.Bundle, which stops short of the apply-only checks.
func (v *vector) checkVerify(t *testing.T, b *bundle.Bundle, pol *zone.Policy, now time.Time) {
	t.Helper()
	res, err := verify.Bundle(context.Background(), b, verify.Options{Policy: pol, Now: now})
	if c := v.expectCheck(); c == "" || slices.Contains(applyOnlyChecks, c) {
		if err != nil || !res.Verified {
			t.Fatalf("verify.Bundle: %v, want it verified", err)
		}
		for _, c := range res.Checks {
			if c.Result == receipt.Fail {
				t.Errorf("verify.Bundle: check %s failed: %s", c.Name, c.Detail)
			}
		}
		return
	}
	v.checkVerifyError(t, "verify.Bundle", err)
	if res == nil || res.Verified || len(res.Checks) == 0 {
		t.Fatalf("verify.Bundle: result %+v for a failure", res)
	}
	if last := res.Checks[len(res.Checks)-1]; last.Name != v.expectCheck() || last.Result != receipt.Fail {
		t.Errorf("verify.Bundle: last check %+v, want %s failed", last, v.expectCheck())
	}
}

// checkInspect runs bundle.Inspect, which reads without keys.
func (v *vector) checkInspect(t *testing.T, path string) {
	t.Helper()
	in, err := bundle.Inspect(path)
	if (err != nil) != (v.h["inspect"] == "error") {
		t.Fatalf("bundle.Inspect: %v, vector says inspect: %s", err, v.h["inspect"])
	}
	if err != nil {
		return
	}
	if in.Form != v.h["form"] {
		t.Errorf("bundle.Inspect: form %s, want %s", in.Form, v.h["form"])
	}
	if v.h["expect"] == "ok" && (!in.ManifestOK || len(in.Problems) > 0) {
		t.Errorf("bundle.Inspect: manifest ok %v, problems %q", in.ManifestOK, in.Problems)
	}
}

// checkPlan runs MakePlan: the checks of apply, decryption and extraction,
// without running anything.
func (v *vector) checkPlan(t *testing.T, o Options) {
	t.Helper()
	plan, err := MakePlan(context.Background(), o)
	switch c := v.expectCheck(); {
	case v.h["expect"] == expectUnreadable:
		if err == nil {
			t.Fatal("MakePlan: planned an unreadable bundle")
		}
	case c == receipt.CheckDecrypt:
		if !errors.Is(err, stage.ErrNoIdentity) {
			t.Fatalf("MakePlan: err = %v, want %v", err, stage.ErrNoIdentity)
		}
	case c == receipt.CheckExtract:
		var se *stage.Error
		if !errors.As(err, &se) {
			t.Fatalf("MakePlan: err = %v, want a *stage.Error", err)
		}
		if f, ok := v.h["file"]; ok && se.Entry != f {
			t.Errorf("MakePlan: failure names %q, want %q", se.Entry, f)
		}
	case c == receipt.CheckVariables:
		if err == nil {
			t.Fatal("MakePlan: no error, want a variables failure")
		}
	case c != "":
		v.checkVerifyError(t, "MakePlan", err)
	default:
		if err != nil {
			t.Fatalf("MakePlan: %v", err)
		}
		if already := v.h["outcome"] == string(receipt.AlreadyApplied); plan.AlreadyApplied != already {
			t.Errorf("MakePlan: AlreadyApplied %v, outcome %s", plan.AlreadyApplied, v.h["outcome"])
		}
	}
}

// checkApply applies the bundle into the zone and checks the result and the
// receipt the applier signed.
func (v *vector) checkApply(t *testing.T, o Options) {
	t.Helper()
	var out bytes.Buffer
	o.Stdout, o.Stderr = &out, &out
	res, err := Apply(context.Background(), o)
	if res == nil {
		t.Fatalf("Apply: no result: %v\n%s", err, out.String())
	}
	t.Logf("Apply: %s, %s: %v", res.Outcome, res.Reason, err)
	outcome, reason := receipt.OutcomeResult(v.h["outcome"]), receipt.Reason(v.h["reason"])
	if res.Outcome != outcome || res.Reason != reason {
		t.Fatalf("Apply: outcome %s reason %s (%v), want %s %s\n%s", res.Outcome, res.Reason, err, outcome, reason, out.String())
	}
	switch c := v.expectCheck(); {
	case c == receipt.CheckVariables || v.h["expect"] == expectUnreadable:
		var ve *verify.Error
		if err == nil || errors.As(err, &ve) {
			t.Errorf("Apply: err = %v, want a refusal that is not a verification failure", err)
		}
	case c != "":
		v.checkVerifyError(t, "Apply", err)
	case outcome == receipt.Applied || outcome == receipt.AlreadyApplied:
		if err != nil {
			t.Errorf("Apply: %v", err)
		}
	default:
		if !errors.Is(err, ErrStepFailed) {
			t.Errorf("Apply: err = %v, want %v", err, ErrStepFailed)
		}
	}
	data, err := os.ReadFile(res.Receipt)
	if err != nil {
		t.Fatal(err)
	}
	r, err := receipt.Verify(data, []*keys.PublicKey{vectorPublicKey(t, "receipt")})
	if err != nil {
		t.Fatalf("the apply's receipt: %v", err)
	}
	p := r.Predicate()
	if p.Outcome.Result != outcome || p.Outcome.Reason != reason || p.Zone != v.h["zone"] || p.Seq != 2 { // seq 1 is the genesis record
		t.Errorf("receipt: outcome %+v zone %s seq %d", p.Outcome, p.Zone, p.Seq)
	}
	// The bundle verified when every check of verify.Bundle and the
	// sequence passed: the failures after them are decryption and later.
	verified := v.h["expect"] == "ok" ||
		slices.Contains([]receipt.CheckName{receipt.CheckDecrypt, receipt.CheckExtract, receipt.CheckVariables}, v.expectCheck())
	if p.Bundle.Verified != verified {
		t.Errorf("receipt: bundle verified %v, want %v", p.Bundle.Verified, verified)
	}
	if c := v.expectCheck(); c != "" && c != receipt.CheckVariables {
		if last := p.Checks[len(p.Checks)-1]; last.Name != c || last.Result != receipt.Fail {
			t.Errorf("receipt: last check %+v, want %s failed", last, c)
		}
	}
	if o, ok := v.h["override"]; ok && (len(p.Override) != 1 || p.Override[0].Name != o) {
		t.Errorf("receipt: overrides %+v, want %s", p.Override, o)
	}
	if verified {
		if _, err := verify.Receipt(data, []*keys.PublicKey{vectorPublicKey(t, "receipt")}, openBundle(t, o.Bundle)); err != nil {
			t.Errorf("verify.Receipt: the receipt is not about this bundle: %v", err)
		}
	}
}

func openBundle(t *testing.T, path string) *bundle.Bundle {
	t.Helper()
	b, err := bundle.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func runReceiptVector(t *testing.T, v *vector, bodies map[string][]byte, bundles map[string]*vector) {
	receiptKey := vectorPublicKey(t, "receipt")
	trusted := []*keys.PublicKey{receiptKey}
	r, err := receipt.Verify(v.body, trusted)
	if v.h["expect"] != "ok" {
		var ve *receipt.VerifyError
		if !errors.As(err, &ve) {
			t.Fatalf("receipt.Verify: err = %v, want a *receipt.VerifyError", err)
		}
	} else {
		if err != nil {
			t.Fatalf("receipt.Verify: %v", err)
		}
		v.checkReceipt(t, r, bodies, bundles)
	}
	v.checkSigner(t)
	v.checkAudit(t, trusted)
}

// checkReceipt compares a verified receipt with the vector's headers.
func (v *vector) checkReceipt(t *testing.T, r *receipt.Receipt, bodies map[string][]byte, bundles map[string]*vector) {
	t.Helper()
	p := r.Predicate()
	if got := fmt.Sprint(p.Seq); p.Zone != v.h["zone"] || got != v.h["seq"] {
		t.Errorf("receipt: zone %s seq %s, want %s %s", p.Zone, got, v.h["zone"], v.h["seq"])
	}
	if string(p.Outcome.Result) != v.h["outcome"] || string(p.Outcome.Reason) != v.h["reason"] {
		t.Errorf("receipt: outcome %+v, want %s %s", p.Outcome, v.h["outcome"], v.h["reason"])
	}
	if sum := sha256.Sum256(v.body); r.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("receipt: SHA256 %s is not that of the envelope bytes", r.SHA256)
	}
	if prev, ok := v.h["prev"]; ok {
		body, ok := bodies[prev]
		if !ok {
			t.Fatalf("prev: no receipt vector %q", prev)
		}
		if sum := sha256.Sum256(body); p.PrevSHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("receipt: prevSha256 %s is not the digest of %s", p.PrevSHA256, prev)
		}
	}
	if name, ok := v.h["bundle"]; ok {
		bv, ok := bundles[name]
		if !ok {
			t.Fatalf("bundle: no bundle vector %q", name)
		}
		b := openBundle(t, bv.materialize(t, t.TempDir()))
		if _, err := verify.Receipt(v.body, []*keys.PublicKey{vectorPublicKey(t, "receipt")}, b); err != nil {
			t.Errorf("verify.Receipt: %v", err)
		}
	}
}

// checkSigner checks the envelope's signature against the key the vector
// names, apart from what the receipt says: a tampered receipt's signature
// fails for its own key; others verify with it.
func (v *vector) checkSigner(t *testing.T) {
	t.Helper()
	env, err := dsse.Read(bytes.NewReader(v.body), receipt.MaxSize)
	if v.h["signer"] == "none" {
		if err == nil {
			t.Errorf("signer none, but the envelope reads")
		}
		return
	}
	if err != nil {
		t.Fatalf("envelope: %v", err)
	}
	_, err = dsse.Verify(env, []*keys.PublicKey{vectorPublicKey(t, v.h["signer"])})
	if tampered := v.h["expect"] == audit.KindTampered; (err == nil) == tampered {
		t.Errorf("signature by %s: %v (expect %s)", v.h["signer"], err, v.h["expect"])
	}
}

// checkAudit audits a folder holding only this receipt: a rejected receipt
// is reported as the vector's class; a verified one is not rejected, and a
// refused, failed or rolled-back apply is reported as such.
// tamperReasons are the refusals the audit reports as tampering attempts.
var tamperReasons = []string{"envelope", "signature", "payload-type", "predicate-type", "manifest", "parts", "extract"}

func (v *vector) checkAudit(t *testing.T, trusted []*keys.PublicKey) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "receipt.dsse.json"), v.body, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Run(context.Background(), audit.Options{Dir: dir, Keys: trusted, Now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, f := range rep.Findings {
		kinds = append(kinds, f.Kind)
	}
	sort.Strings(kinds)
	want := v.h["expect"]
	if want == "ok" {
		for _, c := range receiptClasses {
			if slices.Contains(kinds, c) {
				t.Errorf("audit: finding %s for a valid receipt (%v)", c, kinds)
			}
		}
		if rep.Summary.Receipts != 1 {
			t.Errorf("audit: %d receipts verified, want 1", rep.Summary.Receipts)
		}
		switch o := receipt.OutcomeResult(v.h["outcome"]); o {
		case receipt.Refused, receipt.Failed, receipt.RolledBack:
			want = string(o)
			if o == receipt.Refused && slices.Contains(tamperReasons, v.h["reason"]) {
				want = "tampering" // a refusal because the bundle was altered or signed by the wrong key
			}
		default:
			return
		}
	}
	if !slices.Contains(kinds, want) {
		t.Errorf("audit: findings %v, want %s", kinds, want)
	}
}

// TestParseVectorStrict: a vector file that the harness could misread is
// refused, so a stale or mistyped vector fails instead of passing.
func TestParseVectorStrict(t *testing.T) {
	good := "expect: ok\nsigner: receipt\nzone: z\nseq: 1\noutcome: applied\nreason: ok\ncomment: c\n\nbody"
	if v, err := parseVector(receiptKind, "good", []byte(good)); err != nil || string(v.body) != "body" || v.h["zone"] != "z" {
		t.Fatalf("good vector: %+v, %v", v, err)
	}
	tests := []struct{ name, kind, data string }{
		{"unknown header", receiptKind, "expekt: ok\n" + good},
		{"header of the other kind", receiptKind, "form: file\n" + good},
		{"duplicate header", receiptKind, "comment: again\n" + good},
		{"missing required header", receiptKind, strings.Replace(good, "signer: receipt\n", "", 1)},
		{"ok receipt without outcome", receiptKind, strings.Replace(good, "outcome: applied\n", "", 1)},
		{"unknown expect", receiptKind, strings.Replace(good, "expect: ok", "expect: fine", 1)},
		{"unknown outcome", receiptKind, strings.Replace(good, "outcome: applied", "outcome: done", 1)},
		{"not key: value", receiptKind, "just text\n" + good},
		{"no blank line", receiptKind, strings.Replace(good, "\n\n", "\n", 1)},
		{"unknown kind", "ledger", good},
		{"check failure that is not refused", bundleKind, "expect: parts\nform: file\nzone: z\nhost: h\nnow: 2026-11-01T13:00:00Z\n" +
			"roles: release=1:release\noutcome: applied\nreason: parts\ninspect: ok\ncomment: c\n\n"},
		{"bad time", bundleKind, "expect: ok\nform: file\nzone: z\nhost: h\nnow: yesterday\n" +
			"roles: release=1:release\noutcome: applied\nreason: ok\ninspect: ok\ncomment: c\n\n"},
	}
	for _, tt := range tests {
		if _, err := parseVector(tt.kind, tt.name, []byte(tt.data)); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}
