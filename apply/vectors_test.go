//go:build unix

package apply

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
	"go.yaml.in/yaml/v3"
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
	addrVariable = "${ADDR}" // in zone-vars and var-file: the address of the zone's check server
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
		// Format 2: the host's roles, the --var-file, and what the apply's
		// receipt (and the deploy root) must show.
		"host-roles": false, "var-file": false,
		"sources": false, "deployed": false, "check-steps": false, "releases": false, "stdout": false,
	},
	receiptKind: {
		"expect": true, "signer": true, "comment": true,
		"zone": false, "seq": false, "outcome": false, "reason": false, "prev": false, "bundle": false,
		// Format 2: control records, co-signatures and what the receipt records.
		"event": false, "changes": false, "operator": false,
		"sources": false, "deployed": false, "check-steps": false, "releases": false, "pruned": false,
		"stdout": false, "clock": false, "storage": false,
	},
}

// format2Headers are the headers a folder of format 2 or later must use at
// least once each: they name what format 2 added.
var format2Headers = map[string][]string{
	bundleKind:  {"host-roles", "var-file", "sources", "deployed", "check-steps", "releases", "stdout"},
	receiptKind: {"event", "changes", "operator", "sources", "deployed", "check-steps", "releases", "pruned", "stdout", "clock", "storage"},
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

// setNonEmpty sets a header that is left out when empty.
func (v *vector) setNonEmpty(key, value string) {
	if value != "" {
		v.set(key, value)
	}
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
			oneOf("reason", reasons...),
			oneOf("event", strs(receipt.Events)...),
			oneOf("clock", clockSynchronised, clockUnsynchronised))
		if v.h["expect"] == "ok" {
			for _, k := range []string{"zone", "seq", "outcome", "reason"} {
				if _, ok := v.h[k]; !ok {
					errs = append(errs, fmt.Errorf("an ok receipt vector needs %q", k))
				}
			}
		}
		if control := receipt.Event(v.h["event"]).IsControl(); control != (v.h["outcome"] == string(receipt.Recorded)) && v.h["expect"] == "ok" {
			errs = append(errs, fmt.Errorf("event %q with outcome %q: a genesis or policy record, and only it, is recorded", v.h["event"], v.h["outcome"]))
		}
		if _, ok := v.h["changes"]; ok && v.h["event"] != string(receipt.EventPolicy) {
			errs = append(errs, errors.New("changes: only for event policy"))
		}
		if s, ok := v.h["storage"]; ok && !storageRE.MatchString(s) {
			errs = append(errs, fmt.Errorf("storage: %q is not DIRMODE/FILEMODE", s))
		}
	}
	_, err1 := v.sources()
	_, err2 := v.deployed()
	_, err3 := v.checkSteps()
	_, err4 := v.stdout()
	errs = append(errs, err1, err2, err3, err4)
	return errors.Join(errs...)
}

// Values of the clock header: the kernel's synchronisation state.
const (
	clockSynchronised   = "synchronised"
	clockUnsynchronised = "unsynchronised"
)

var storageRE = regexp.MustCompile(`^0[0-7]{3}/0[0-7]{3}$`)

// sources parses the sources header: NAME=ORIGIN, NAME=ORIGIN/SCOPE for a
// value the bundle gives for a zone, role or host, and +fromFile after
// either when the value was read from a file kept in the zone. It returns
// each as receipt.VariableSource would say it: name → "origin[/scope][+fromFile]".
func (v *vector) sources() (map[string]string, error) {
	out := map[string]string{}
	for _, f := range strings.Fields(v.h["sources"]) {
		i := strings.LastIndex(f, "=")
		if i <= 0 {
			return nil, fmt.Errorf("sources: %q is not NAME=ORIGIN", f)
		}
		name, val := f[:i], f[i+1:]
		origin, _, _ := strings.Cut(strings.TrimSuffix(val, "+fromFile"), "/")
		if !slices.Contains(receipt.Origins, receipt.Origin(origin)) {
			return nil, fmt.Errorf("sources: %q: unknown origin %q", f, origin)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("sources: %s given twice", name)
		}
		out[name] = val
	}
	return out, nil
}

// sourceString is a variable source as the sources header writes it.
func sourceString(s receipt.VariableSource) string {
	out := string(s.Origin)
	if s.Scope != "" {
		out += "/" + s.Scope
	}
	if s.FromFile != "" {
		out += "+fromFile"
	}
	return out
}

// deployedFile is one file of the deployed header: PATH=MODE:SHA256, or
// PATH=MODE:SHA256:OWNER:GROUP when a files rule set them.
type deployedFile struct{ mode, sha256, owner, group string }

var deployedRE = regexp.MustCompile(`^([^=]+)=(0[0-7]{3}):([0-9a-f]{64})(?::([^:]*):([^:]*))?$`)

func (v *vector) deployed() (map[string]deployedFile, error) {
	ms, err := v.headerFields("deployed", deployedRE, "PATH=MODE:SHA256[:OWNER:GROUP]")
	out := map[string]deployedFile{}
	for _, m := range ms {
		out[m[1]] = deployedFile{mode: m[2], sha256: m[3], owner: m[4], group: m[5]}
	}
	return out, err
}

var stdoutRE = regexp.MustCompile(`^([^=]+)=([0-9a-f]{64})$`)

// stdout parses the stdout header: NAME=SHA256 of a step's standard output.
func (v *vector) stdout() (map[string]string, error) {
	ms, err := v.headerFields("stdout", stdoutRE, "NAME=SHA256")
	out := map[string]string{}
	for _, m := range ms {
		out[m[1]] = m[2]
	}
	return out, err
}

// headerFields parses a header of space-separated fields, each matching re
// (want says how they look) and naming (its first submatch) something
// once. It returns their submatches.
func (v *vector) headerFields(key string, re *regexp.Regexp, want string) ([][]string, error) {
	var out [][]string
	seen := map[string]bool{}
	for _, f := range strings.Fields(v.h[key]) {
		m := re.FindStringSubmatch(f)
		if m == nil {
			return nil, fmt.Errorf("%s: %q is not %s", key, f, want)
		}
		if seen[m[1]] {
			return nil, fmt.Errorf("%s: %s given twice", key, m[1])
		}
		seen[m[1]] = true
		out = append(out, m)
	}
	return out, nil
}

// checkStep is one step of the check-steps header: NAME=RESULT:STATUS, the
// step's result and the HTTP status of its last answer (0: none, as for
// a tcp check).
type checkStep struct {
	result receipt.StepResult
	status int
}

func (v *vector) checkSteps() (map[string]checkStep, error) {
	out := map[string]checkStep{}
	for _, f := range strings.Fields(v.h["check-steps"]) {
		name, rest, ok1 := strings.Cut(f, "=")
		result, status, ok2 := strings.Cut(rest, ":")
		n, err := strconv.Atoi(status)
		if !ok1 || !ok2 || err != nil || !slices.Contains(receipt.StepResults, receipt.StepResult(result)) {
			return nil, fmt.Errorf("check-steps: %q is not NAME=RESULT:STATUS", f)
		}
		out[name] = checkStep{result: receipt.StepResult(result), status: n}
	}
	return out, nil
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
	t.Run(receiptKind+"/chains", func(t *testing.T) {
		t.Parallel()
		checkChains(t, receipts)
	})
}

// chainFindings are the audit findings of a chain that is not whole.
var chainFindings = []string{audit.KindGap, audit.KindFork, audit.KindReorder, audit.KindRestart, audit.KindTruncated,
	audit.KindDuplicate, audit.KindPolicyUncommitted}

// checkChains audits, together, the ok receipts that the prev headers
// link back to each seq 1 receipt: the links the writer made must still
// chain them, with seqs 1 to n, whatever events they record.
func checkChains(t *testing.T, receipts []*vector) {
	byName := map[string]*vector{}
	for _, v := range receipts {
		if v.h["expect"] == "ok" {
			byName[v.name] = v
		}
	}
	chains := map[string][]*vector{} // the seq 1 receipt's name → the chain
	for _, v := range byName {
		first := v
		for n := 0; first.h["prev"] != ""; n++ {
			next, ok := byName[first.h["prev"]]
			if !ok || n > len(byName) {
				t.Fatalf("%s: prev %q is no ok receipt vector, or the prevs loop", first.name, first.h["prev"])
			}
			first = next
		}
		chains[first.name] = append(chains[first.name], v)
	}
	if len(chains) == 0 {
		t.Fatal("no chain of receipts")
	}
	for name, chain := range chains {
		dir := t.TempDir()
		seqs := map[string]bool{}
		for _, v := range chain {
			seqs[v.h["seq"]] = true
			if err := os.WriteFile(filepath.Join(dir, v.name), v.body, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for i := 1; i <= len(chain); i++ {
			if !seqs[strconv.Itoa(i)] {
				t.Errorf("chain from %s: %d receipts, none with seq %d", name, len(chain), i)
			}
		}
		rep, err := audit.Run(context.Background(), audit.Options{Dir: dir, Keys: []*keys.PublicKey{vectorPublicKey(t, "receipt")},
			Now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Summary.Receipts != len(chain) || rep.Summary.Rejected != 0 {
			t.Errorf("chain from %s: audit verified %d receipts and rejected %d, want %d and 0", name, rep.Summary.Receipts, rep.Summary.Rejected, len(chain))
		}
		for _, f := range rep.Findings {
			if slices.Contains(chainFindings, f.Kind) {
				t.Errorf("chain from %s: audit finding %s: %s", name, f.Kind, f.Message)
			}
		}
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
		if e, ok := v.h["event"]; ok {
			seen["receipt event "+e] = true
		}
	}
	for kind, vs := range map[string][]*vector{bundleKind: bundles, receiptKind: receipts} {
		for _, v := range vs {
			for h := range v.h {
				seen[kind+" header "+h] = true
			}
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
	if version != "v1" { // what format 2 added: control records, and the headers that check its fields
		want = append(want, "receipt event "+string(receipt.EventGenesis), "receipt event "+string(receipt.EventPolicy))
		for _, kind := range []string{bundleKind, receiptKind} {
			for _, h := range format2Headers[kind] {
				want = append(want, kind+" header "+h)
			}
		}
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

// vectorZoneDocument is a trust.yaml for a zone of the vector keys, to be
// edited before writeVectorZone writes it. roles is "role=threshold:key,key
// …"; vars are the zone's variables.
func vectorZoneDocument(t testing.TB, name, host, roles string, vars map[string]string) *zone.Document {
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
	return doc
}

// writeVectorZone writes doc as dir/trust.yaml and loads it.
func writeVectorZone(t testing.TB, dir string, doc *zone.Document) *zone.Trust {
	t.Helper()
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

// vectorZone is a fresh zone set up as a bundle vector's headers say.
type vectorZone struct {
	trust   *zone.Trust
	root    string // ${ROOT}: the deploy root
	varFile string // the --var-file, or ""
}

// bundleZone makes the zone a bundle vector's headers describe: trust.yaml
// (zone-vars, host-roles), its genesis record, the var-file and the
// channel state (applied). ${ROOT} in a value is a fresh deploy root;
// ${ADDR} the address of a loopback HTTP server (startCheckServer).
func (v *vector) bundleZone(t *testing.T) *vectorZone {
	t.Helper()
	dir := t.TempDir()
	z := &vectorZone{root: filepath.Join(dir, "srv")}
	addr := ""
	expand := func(val string) string {
		if strings.Contains(val, addrVariable) && addr == "" {
			addr = startCheckServer(t)
		}
		return strings.NewReplacer(rootVariable, z.root, addrVariable, addr).Replace(val)
	}
	vars := v.assignments(t, "zone-vars", expand)
	doc := vectorZoneDocument(t, v.h["zone"], v.h["host"], v.h["roles"], vars)
	doc.HostRoles = strings.Fields(v.h["host-roles"])
	trust := writeVectorZone(t, dir, doc)
	z.trust = trust
	if _, ok := v.h["var-file"]; ok {
		data, err := yaml.Marshal(v.assignments(t, "var-file", expand))
		if err != nil {
			t.Fatal(err)
		}
		z.varFile = filepath.Join(dir, "vars.yaml")
		if err := os.WriteFile(z.varFile, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
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
	return z
}

// assignments parses a NAME=VALUE … header, each value through expand.
func (v *vector) assignments(t *testing.T, key string, expand func(string) string) map[string]string {
	t.Helper()
	var out map[string]string
	for _, kv := range strings.Fields(v.h[key]) {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("%s: %q is not NAME=VALUE", key, kv)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = expand(val)
	}
	return out
}

// startCheckServer starts a loopback HTTP server for check steps, stopped
// when the test ends, and returns its address (127.0.0.1:PORT): GET
// /health answers 200 "healthy", any other path 503 "down".
func startCheckServer(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			io.WriteString(w, "healthy\n")
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "down\n")
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
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
	z := v.bundleZone(t)
	trust := z.trust
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
		ForceReapply: v.h["override"] == "force-reapply", AllowRollback: v.h["override"] == "allow-rollback", VarFile: z.varFile}
	v.checkPlan(t, o)
	p := v.checkApply(t, o)
	v.checkFields(t, "the apply's receipt", p, fileKeys(trust.StateDir))
	v.checkDeployRoot(t, z.root, p)
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
// receipt the applier signed, which it returns.
func (v *vector) checkApply(t *testing.T, o Options) *receipt.Predicate {
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
	return p
}

// checkFields compares what a receipt records with the headers that
// describe it (format 2): sources, deployed, check-steps, stdout,
// releases, pruned, clock and storage. A header that is absent checks nothing.
// From format 3 a deployed file holding a secret is recorded by its keyed
// digest: with the zone's file digest keys (nil for a receipt vector,
// which has none), its HMAC is checked against the file as deployed, and
// that file's sha256 is the one compared with the header.
func (v *vector) checkFields(t *testing.T, what string, p *receipt.Predicate, keys map[string]*fileKey) {
	t.Helper()
	if _, ok := v.h["sources"]; ok {
		want, _ := v.sources()
		got := map[string]string{}
		for _, s := range p.VariableSources {
			got[s.Name] = sourceString(s)
			// trust.yaml and the var-file replace the value the bundle
			// signed, and name the file and its digest.
			if s.Replaced != s.Origin.Zone() || s.Origin.Zone() != (s.File != "" && len(s.SHA256) == 64) {
				t.Errorf("%s: variable source %+v: replaced, file and sha256 do not agree with origin %s", what, s, s.Origin)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: variable sources\n%v\nwant\n%v", what, got, want)
		}
	}
	if _, ok := v.h["deployed"]; ok {
		want, _ := v.deployed()
		if p.FilesTotal != len(want) || len(p.Files) != len(want) {
			t.Errorf("%s: %d files listed of %d, want %d", what, len(p.Files), p.FilesTotal, len(want))
		}
		for _, f := range p.Files {
			// The receipt names each file by its path in the zone; the
			// header by its path under the deploy root.
			var match []string
			for path := range want {
				if f.Path == path || strings.HasSuffix(f.Path, "/"+path) {
					match = append(match, path)
				}
			}
			if len(match) != 1 {
				t.Errorf("%s: file %s matches %q of the deployed header", what, f.Path, match)
				continue
			}
			sum := f.SHA256
			switch {
			case f.Keyed() && keys == nil:
				// A frozen receipt read alone: neither the zone's file
				// digest key nor the file is here, so only the form is
				// checked — a keyed digest and the template's, no plain
				// sha256 — and the header's sha256 is taken as the file's.
				if f.SHA256 != "" || len(f.HMACSHA256) != 64 || len(f.TemplateSHA256) != 64 || f.HMACKey == "" {
					t.Errorf("%s: file %s: keyed digest %q, template %q, key %q, sha256 %q: want a keyed digest, a template digest, a key and no sha256", what, f.Path, f.HMACSHA256, f.TemplateSHA256, f.HMACKey, f.SHA256)
				}
				sum = want[match[0]].sha256
			case f.Keyed():
				sum = keyedFileDigest(t, what, f, keys)
			}
			if w := want[match[0]]; (deployedFile{f.Mode, sum, f.Owner, f.Group}) != w {
				t.Errorf("%s: file %s: mode %s sha256 %s owner %q group %q, want %+v", what, f.Path, f.Mode, sum, f.Owner, f.Group, w)
			}
		}
	}
	if _, ok := v.h["check-steps"]; ok {
		want, _ := v.checkSteps()
		seen := 0
		for _, s := range p.Steps {
			if s.Kind != string(bundle.KindHealth) {
				continue
			}
			seen++
			w, ok := want[s.Name]
			d, err := time.ParseDuration(s.Duration)
			switch {
			case !ok:
				t.Errorf("%s: check step %q is not in check-steps", what, s.Name)
			case s.Result != w.result || s.LastStatus != w.status:
				t.Errorf("%s: check step %q: result %s, last status %d, want %s %d", what, s.Name, s.Result, s.LastStatus, w.result, w.status)
			case s.Result == receipt.StepSkipped:
			case s.Check == "" || s.Attempts < 1 || err != nil || d < 0:
				t.Errorf("%s: check step %q: check %q, %d attempts, duration %q: want what it polled, how often and how long", what, s.Name, s.Check, s.Attempts, s.Duration)
			}
		}
		if seen != len(want) {
			t.Errorf("%s: %d check steps, check-steps names %d", what, seen, len(want))
		}
	}
	if _, ok := v.h["stdout"]; ok {
		want, _ := v.stdout()
		for name, sum := range want {
			i := slices.IndexFunc(p.Steps, func(s receipt.Step) bool { return s.Name == name })
			if i < 0 || p.Steps[i].StdoutSHA256 != sum {
				t.Errorf("%s: step %q: no step of that name, or its standard output is not the one whose sha256 is %s", what, name, sum)
			}
		}
	}
	if want, ok := v.h["releases"]; ok {
		var got []string
		for _, r := range p.Releases {
			got = append(got, orDash(r.Previous)+">"+orDash(r.Current))
			if r.Target == "" {
				t.Errorf("%s: release switch %+v names no target", what, r)
			}
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%s: releases %q, want %q", what, strings.Join(got, " "), want)
		}
		if p.Release == nil || !slices.ContainsFunc(p.Releases, func(r receipt.Release) bool { return r.Target == p.Release.Target }) {
			t.Errorf("%s: release %+v is not one of the switches %+v", what, p.Release, p.Releases)
		}
	}
	if want, ok := v.h["pruned"]; ok {
		// The receipt names each release directory by its path in the
		// zone; the header by its path under the deploy root.
		w := strings.Fields(want)
		if p.Release == nil || len(p.Release.Pruned) != len(w) {
			t.Errorf("%s: release %+v, want pruned %q", what, p.Release, want)
		} else {
			for i, dir := range p.Release.Pruned {
				if !strings.HasSuffix(filepath.ToSlash(dir), "/"+w[i]) {
					t.Errorf("%s: pruned %s, want …/%s", what, dir, w[i])
				}
			}
		}
	}
	if want, ok := v.h["clock"]; ok {
		if c := p.Time.Clock; c == nil || c.Synchronised != (want == clockSynchronised) || c.Method == "" {
			t.Errorf("%s: time.clock %+v, want %s", what, c, want)
		}
	}
	if want, ok := v.h["storage"]; ok {
		if s := p.Storage; s == nil || s.DirMode+"/"+s.FileMode != want {
			t.Errorf("%s: storage %+v, want %s", what, s, want)
		}
	}
}

// keyedFileDigest checks the keyed digest of a deployed file holding a
// secret against the file, with the key the receipt names, and returns
// the file's sha256 ("" when it does not check).
func keyedFileDigest(t *testing.T, what string, f receipt.File, keys map[string]*fileKey) string {
	t.Helper()
	k := keys[f.HMACKey]
	if k == nil {
		t.Errorf("%s: file %s: recorded by a keyed digest, with key %q, which the zone does not hold", what, f.Path, f.HMACKey)
		return ""
	}
	data, err := os.ReadFile(f.Path)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return ""
	}
	sum := sha256.Sum256(data)
	if k.sum(data) != f.HMACSHA256 || f.TemplateSHA256 == hex.EncodeToString(sum[:]) {
		t.Errorf("%s: file %s: keyed digest %s, template %s: not those of the file deployed", what, f.Path, f.HMACSHA256, f.TemplateSHA256)
		return ""
	}
	return hex.EncodeToString(sum[:])
}

// deployRootFiles lists every regular file under a deploy root by its
// slash path, with its mode and sha256. The current links are skipped;
// anything else that is not a directory or a regular file is an error.
func deployRootFiles(root string) (map[string]deployedFile, error) {
	got := map[string]deployedFile{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.Type()&os.ModeSymlink != 0 && d.Name() == "current":
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("%s: not a regular file (%s)", rel, d.Type())
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode()&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != 0 {
			return fmt.Errorf("%s: mode %s", rel, fi.Mode())
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		got[rel] = deployedFile{mode: fmt.Sprintf("%04o", uint32(fi.Mode().Perm())), sha256: hex.EncodeToString(sum[:])}
		return nil
	})
	return got, err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// checkDeployRoot compares the deploy root after the apply with the
// deployed header — every regular file under it, by path, mode and
// sha256, and nothing else but directories and the current links — and
// each target's current link with the receipt's release switches.
func (v *vector) checkDeployRoot(t *testing.T, root string, p *receipt.Predicate) {
	t.Helper()
	if _, ok := v.h["deployed"]; !ok {
		return
	}
	want, _ := v.deployed()
	got, err := deployRootFiles(root)
	if err != nil {
		t.Fatalf("deploy root: %v", err)
	}
	for path, w := range want {
		w.owner, w.group = "", "" // owners are not compared on disk
		if g, ok := got[path]; !ok {
			t.Errorf("deploy root: no %s", path)
		} else if g != w {
			t.Errorf("deploy root: %s: mode %s sha256 %s, want %s %s", path, g.mode, g.sha256, w.mode, w.sha256)
		}
	}
	for path := range got {
		if _, ok := want[path]; !ok {
			t.Errorf("deploy root: %s is not in the deployed header", path)
		}
	}
	for _, r := range p.Releases {
		link, err := os.Readlink(filepath.Join(r.Target, "current"))
		if r.Current == "" && !errors.Is(err, os.ErrNotExist) || r.Current != "" && link != r.Current {
			t.Errorf("deploy root: %s/current is %q (%v), the receipt says %q", r.Target, link, err, r.Current)
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
	var p *receipt.Predicate
	if r != nil {
		p = r.Predicate()
	}
	v.checkAudit(t, trusted, p)
}

// linkDigest is the digest by which the next receipt of a chain names
// this one, as doc/design.md specifies it: for format version 2 and later
// the SHA-256 of the signed statement (the DSSE payload), for version 1
// that of the envelope bytes.
func linkDigest(t *testing.T, body []byte) string {
	t.Helper()
	env, err := dsse.Read(bytes.NewReader(body), receipt.MaxSize)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := dsse.PayloadOf(env)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Predicate struct {
			FormatVersion int `json:"formatVersion"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	if st.Predicate.FormatVersion < 2 {
		payload = body
	}
	sum := sha256.Sum256(payload)
	return hex.EncodeToString(sum[:])
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
	if sum := sha256.Sum256(v.body); r.EnvelopeSHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("receipt: EnvelopeSHA256 %s is not that of the envelope bytes", r.EnvelopeSHA256)
	}
	if d := linkDigest(t, v.body); r.SHA256 != d {
		t.Errorf("receipt: link digest %s, want %s", r.SHA256, d)
	}
	if prev, ok := v.h["prev"]; ok {
		body, ok := bodies[prev]
		if !ok {
			t.Fatalf("prev: no receipt vector %q", prev)
		}
		if d := linkDigest(t, body); p.PrevSHA256 != d {
			t.Errorf("receipt: prevSha256 %s is not the link digest of %s (%s)", p.PrevSHA256, prev, d)
		}
	}
	if ev := receipt.Event(v.h["event"]); p.EventOf() != ev && (ev != "" || p.EventOf() != receipt.EventApply) {
		t.Errorf("receipt: event %q, want %q", p.EventOf(), v.h["event"])
	}
	if want, ok := v.h["changes"]; ok && p.PolicyChange == nil {
		t.Errorf("receipt: no policy change, want changes %q", want)
	} else if ok {
		var got []string
		weakens := false
		for _, c := range p.PolicyChange.Changes {
			got = append(got, c.Kind)
			weakens = weakens || c.Weakens
		}
		if strings.Join(got, " ") != want || p.PolicyChange.Weakens != weakens || p.PolicyChange.PreviousSHA256 == "" {
			t.Errorf("receipt: policy change %+v, want changes %q", p.PolicyChange, want)
		}
	}
	if op, ok := v.h["operator"]; ok {
		k := vectorPublicKey(t, op)
		env, err := dsse.Read(bytes.NewReader(v.body), receipt.MaxSize)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dsse.Verify(env, []*keys.PublicKey{k}); err != nil || r.Operator == nil || !r.Operator.Equal(k) || p.Operator.Key.Name == "" {
			t.Errorf("receipt: operator %+v (%v), want a co-signature by keys/%s.pub naming its person", p.Operator.Key, err, op)
		}
	} else if r.Operator != nil || p.Operator.Key != nil {
		t.Errorf("receipt: co-signed by %+v, the vector names no operator", p.Operator.Key)
	}
	v.checkFields(t, "receipt", p, nil)
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

func (v *vector) checkAudit(t *testing.T, trusted []*keys.PublicKey, p *receipt.Predicate) {
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
	if v.h["expect"] != "ok" {
		if !slices.Contains(kinds, v.h["expect"]) {
			t.Errorf("audit: findings %v, want %s", kinds, v.h["expect"])
		}
		return
	}
	if rep.Summary.Receipts != 1 {
		t.Errorf("audit: %d receipts verified, want 1", rep.Summary.Receipts)
	}
	// What the audit must report of this receipt, and must not.
	want, not := []string(nil), receiptClasses
	switch o := receipt.OutcomeResult(v.h["outcome"]); o {
	case receipt.Refused, receipt.Failed, receipt.RolledBack:
		if o == receipt.Refused && slices.Contains(tamperReasons, v.h["reason"]) {
			want = append(want, audit.KindTampering) // a refusal because the bundle was altered or signed by the wrong key
		} else {
			want = append(want, string(o))
		}
	}
	control, applies := 1, 0
	switch receipt.Event(v.h["event"]) {
	case receipt.EventGenesis:
		not = append(not, audit.KindNoGenesis)
	case receipt.EventPolicy:
		if p.PolicyChange != nil && p.PolicyChange.Weakens {
			want = append(want, audit.KindPolicyWeakened)
		} else {
			want = append(want, audit.KindPolicyChange)
		}
	default:
		control, applies = 0, 1
	}
	if rep.Summary.ControlChanges != control || rep.Summary.Applies != applies {
		t.Errorf("audit: %d control changes and %d applies, want %d and %d", rep.Summary.ControlChanges, rep.Summary.Applies, control, applies)
	}
	if _, ok := v.h["operator"]; ok {
		// A co-signature by an operator key the policy lists names the person.
		not = append(not, audit.KindUnattributed, audit.KindUnattributedAttempt)
	}
	if c, ok := v.h["clock"]; ok && control == 0 {
		if c == clockUnsynchronised {
			want = append(want, audit.KindClockUnsynchronised)
		} else {
			not = append(not, audit.KindClockUnsynchronised)
		}
	}
	if sources, ok := v.h["sources"]; ok {
		if strings.Contains(sources, "="+string(receipt.OriginTrust)) || strings.Contains(sources, "="+string(receipt.OriginVarFile)) {
			want = append(want, audit.KindZoneValue)
		} else {
			not = append(not, audit.KindZoneValue)
		}
	}
	for _, k := range want {
		if !slices.Contains(kinds, k) {
			t.Errorf("audit: findings %v, want %s", kinds, k)
		}
	}
	for _, k := range not {
		if slices.Contains(kinds, k) {
			t.Errorf("audit: finding %s (%v)", k, kinds)
		}
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
