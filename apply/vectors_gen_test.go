//go:build unix

package apply

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"testing/cryptotest"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

var generateVectors = flag.Bool("generate", false,
	"write the vectors of this format version and the fuzz seeds made from them (see testdata/vectors/README.md)")

// The fixed inputs of every vector.
var (
	vectorIssued = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC) // issuedAt; expires a day later
	vectorNow    = vectorIssued.Add(time.Hour)                   // the zone's clock, unless a vector says otherwise
	// vectorMTime is the modification time of every entry of a vector's tar body.
	vectorMTime = vectorIssued
)

const (
	vectorZoneName = "pci-test"
	vectorHost     = "app-01"
	vectorSecret   = "vector-s3cret-value"
	vectorRoles    = "release=1:release"
	vectorVars     = "Root=" + rootVariable
	// otherBundleID is the bundle ID of a prior apply that no vector is.
	otherBundleID = "01900000-0000-7000-8000-000000000001"
)

// Seeds of the deterministic randomness: key generation, and everything
// else (bundle IDs, age file keys, signatures, receipt IDs).
const (
	keysSeed    = 7
	vectorsSeed = 8
)

// The vector keys: keys/<name>.key and .pub, and keys/<name>.agekey.
// operator co-signs receipts (format 2).
var (
	vectorSignerNames   = []string{"release", "approve", "other", "receipt", "other-receipt", "operator"}
	vectorIdentityNames = []string{"zone", "other-zone"}
)

// TestGenerateVectors writes testdata/vectors/v<FormatVersion>, which must
// not exist yet. It runs only with -generate:
//
//	go test ./apply -run TestGenerateVectors -generate
//
// The keys are made once (when keys/ lacks them) and reused. With the same
// keys, code and Go version, the bundle vectors come out byte for byte the
// same; receipts hold the time, host and applier of the run that made them.
func TestGenerateVectors(t *testing.T) {
	if !*generateVectors {
		t.Skip("run with -generate to write testdata/vectors")
	}
	if bundle.FormatVersion != receipt.FormatVersion {
		t.Fatalf("bundle format %d, receipt format %d: decide which folder of testdata/vectors their vectors go to", bundle.FormatVersion, receipt.FormatVersion)
	}
	// A version's vectors are made once; a format change makes the next
	// version, and its folder.
	if _, err := os.Stat(vectorVersionDir()); err == nil {
		t.Fatalf("%s exists, and a format version's vectors are frozen: a change of the format is format version %d (testdata/vectors/README.md). "+
			"Only vectors of a version never released may be made again: remove the folder by hand first", vectorVersionDir(), bundle.FormatVersion+1)
	}
	var ks *genKeys
	t.Run("keys", func(t *testing.T) { ks = loadOrMakeVectorKeys(t) })
	if ks == nil {
		t.FailNow()
	}
	t.Run("vectors", func(t *testing.T) {
		cryptotest.SetGlobalRandom(t, vectorsSeed)
		g := &generator{t: t, k: ks, tmp: t.TempDir(), folders: map[string]string{}, seeds: map[string][]byte{}}
		g.f = &bundletest.Fixture{T: t, Dir: g.tmp, Release: ks.signers["release"], Approver: ks.signers["approve"],
			Other: ks.signers["other"], Identity: ks.ids["zone"], Ledger: filepath.Join(g.tmp, "ledger"), Now: vectorIssued}
		g.bundleVectors()
		g.receiptVectors()
		g.write()
	})
}

// vectorVersionDir is the folder of the vectors this code makes: that of
// the format version it writes.
func vectorVersionDir() string {
	return filepath.Join(vectorsDir, fmt.Sprintf("v%d", bundle.FormatVersion))
}

// seedTag names the fuzz seeds made from the vectors of vectorVersionDir.
func seedTag() string { return fmt.Sprintf("vector-v%d", bundle.FormatVersion) }

type genKeys struct {
	signers map[string]*keys.Signer
	ids     map[string]*age.X25519Identity
}

// loadOrMakeVectorKeys reads the committed keys, making any that is
// missing from a seed of its own (a key added later must not repeat the
// first key the shared seed made), and checks that no two are the same.
func loadOrMakeVectorKeys(t *testing.T) *genKeys {
	ks := &genKeys{signers: map[string]*keys.Signer{}, ids: map[string]*age.X25519Identity{}}
	if err := os.MkdirAll(vectorKeys, 0o755); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for i, name := range append(slices.Clone(vectorSignerNames), vectorIdentityNames...) {
		cryptotest.SetGlobalRandom(t, keysSeed<<8|uint64(i))
		if i >= len(vectorSignerNames) {
			ks.ids[name] = loadOrMakeIdentity(t, name)
			id := ks.ids[name].Recipient().String()
			if other, dup := seen[id]; dup {
				t.Fatalf("keys/%s.agekey is keys/%s.agekey", name, other)
			}
			seen[id] = name
			continue
		}
		path := filepath.Join(vectorKeys, name+".key")
		if _, err := os.Stat(path); os.IsNotExist(err) {
			priv, pub, err := keys.Generate(nil)
			if err != nil {
				t.Fatal(err)
			}
			writeGenFile(t, path, priv)
			writeGenFile(t, filepath.Join(vectorKeys, name+".pub"), pub)
		}
		s, err := keys.LoadPrivate(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if other, dup := seen[s.Public().ID()]; dup {
			t.Fatalf("keys/%s.key is keys/%s.key", name, other)
		}
		seen[s.Public().ID()] = name
		ks.signers[name] = s
	}
	return ks
}

// loadOrMakeIdentity reads keys/<name>.agekey, making it when missing.
func loadOrMakeIdentity(t *testing.T, name string) *age.X25519Identity {
	path := filepath.Join(vectorKeys, name+".agekey")
	if _, err := os.Stat(path); os.IsNotExist(err) {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		writeGenFile(t, path, []byte("# TEST KEY ONLY: the age identity of the test vectors' "+name+".\n# recipient: "+
			id.Recipient().String()+"\n"+id.String()+"\n"))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil || len(ids) != 1 {
		t.Fatalf("%s: %v", path, err)
	}
	return ids[0].(*age.X25519Identity)
}

func writeGenFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// generator makes the vectors in order; the order fixes what the
// deterministic randomness gives each.
type generator struct {
	t       *testing.T
	k       *genKeys
	f       *bundletest.Fixture
	tmp     string
	vectors []*vector
	folders map[string]string // bundle vector name → the folder bundle it was packed from
	good    string            // the release as built: most vectors start from a copy
	hosted  string            // the release targeting host:app-02
	format2 string            // vectorRelease2 2.0.0 as built
	seeds   map[string][]byte // fuzz seed file (relative to the repository root) → content
}

// vectorRelease is the release of every bundle vector: a deploy with
// substitution, a script, a check whose command is given, and a failure step.
func vectorRelease(version, check, undo string) string {
	return fmt.Sprintf(`apiVersion: airlock/v1
name: shop
version: %q
channel: stable
targets: [zone:%s]
expires: 24h
change: { ticket: CHG-7, reason: frozen test vector }
packages:
  - name: web
    path: web
variables:
  Root: { value: /nonexistent, description: "deploy root: the zone sets it" }
  Greeting: hello
  Secret: { sensitive: true, fromEnv: SHOP_SECRET }
steps:
  - name: prepare
    run: 'echo "preparing #{Greeting}"'
  - name: install
    deploy: web
    to: "#{Root}"
    substitute: ["conf/*.conf"]
  - name: migrate
    script: scripts/migrate.sh
  - name: check
    run: %q
  - name: undo
    when: failure
    run: %q
`, version, vectorZoneName, check, undo)
}

func vectorFiles() map[string]string {
	return map[string]string{
		"web/index.html":     "<p>shop</p>\n",
		"web/conf/app.conf":  "greeting=#{Greeting}\nsecret=#{Secret}\n",
		"web/bin/run":        "#!/bin/sh\necho run\n",
		"scripts/migrate.sh": "#!/bin/sh\necho migrated\n",
	}
}

// vectorRelease2 is the release of the format 2 vectors: what format 2
// added to a manifest and statement. Archive packages (a zip and a
// tar.gz); a script substituted before it runs; deploy steps with
// structured replacement and files rules; an HTTP and a TCP check step
// polling the address the zone gives (Addr), the HTTP one at path
// health; change evidence; a role: target; values byZone, byRole and
// byHost. extraRules are more files rules of the web deploy.
func vectorRelease2(version, health, timeout, extraRules string) string {
	return fmt.Sprintf(`apiVersion: airlock/v1
name: shop
version: %q
channel: stable
targets: [zone:%[5]s, role:web]
expires: 24h
change:
  ticket: CHG-9
  reason: frozen test vector of format 2
  securityImpact: "SIA-9: no change to how cardholder data is stored or sent"
  backout: the undo step runs on failure; re-apply the release before
  testEvidence: [tests/results.txt]
packages:
  - name: web
    archive: dist/web.zip
  - name: api
    archive: dist/api.tar.gz
variables:
  Root: { value: /nonexistent, description: "deploy root: the zone sets it" }
  Addr: { value: "127.0.0.1:9", description: "address of the service the checks poll: the zone sets it" }
  Greeting:
    value: hello
    byRole: { web: hello web }
    byHost: { %[6]s: hello %[6]s }
  Tier:
    value: none
    byRole: { web: web, db: db }
  Banner: signed banner
  Secret: { sensitive: true, fromEnv: SHOP_SECRET }
  "Logging:Level":
    value: Information
    byZone: { %[5]s: Warning }
  "Service:Port": "8080"
steps:
  - name: migrate
    script: scripts/migrate.sh
    substitute: true
  - name: install-web
    deploy: web
    to: "#{Root}/web"
    substitute: ["conf/*.conf"]
    structured: ["conf/**/*.json"]
    files:
      - { match: "conf/**", mode: "0640" }
      - { match: "bin/*", mode: "0750" }%[4]s
    keep: 1
  - name: install-api
    deploy: api
    to: "#{Root}/api"
    structured: ["*.yaml"]
  - name: http-health
    check: { http: "http://#{Addr}%[2]s", status: 200, contains: healthy, timeout: %[3]s, interval: 100ms }
  - name: tcp-health
    check: { tcp: "#{Addr}", timeout: 2s }
  - name: undo
    when: failure
    run: echo undo
`, version, health, timeout, extraRules, vectorZoneName, vectorHost)
}

// vectorFiles2 are the files of vectorRelease2: the archives made here
// (no entry times, so the same bytes every time).
func vectorFiles2(t *testing.T) map[string]string {
	web := bundletest.Zip(t,
		bundletest.Entry{Name: "index.html", Body: "<p>shop #{Greeting}</p>\n"}, // not substituted: no glob selects it
		bundletest.Entry{Name: "conf/app.conf", Body: "greeting=#{Greeting}\nsecret=#{Secret}\nbanner=#{Banner}\n"},
		bundletest.Entry{Name: "conf/settings.json", Body: `{"Logging": {"Level": "Debug"}, "Service": {"Port": 80}}` + "\n"},
		bundletest.Entry{Name: "bin/run", Body: "#!/bin/sh\necho run\n", Mode: 0o755})
	api := bundletest.TarGz(t,
		bundletest.Entry{Name: "settings.yaml", Body: "Logging:\n  Level: Debug\nService:\n  Port: 80\n"},
		bundletest.Entry{Name: "VERSION", Body: "api\n"})
	return map[string]string{
		"dist/web.zip":       string(web),
		"dist/api.tar.gz":    string(api),
		"scripts/migrate.sh": "#!/bin/sh\necho \"migrating the #{Tier} tier\"\n",
		"tests/results.txt":  "12 tests passed\n",
	}
}

// build2Spec describes a build of vectorRelease2.
type build2Spec struct {
	version    string
	seq        uint64
	health     string // the HTTP check's path; default /health
	timeout    string // the HTTP check's timeout; default 5s
	extraRules string // more files rules of the web deploy
}

// build2 builds vectorRelease2 with the real builder, in the folder form.
func (g *generator) build2(r build2Spec) string {
	g.t.Helper()
	orDefault(&r.health, "/health")
	orDefault(&r.timeout, "5s")
	out, _ := g.f.Build(bundletest.Options{YAML: vectorRelease2(r.version, r.health, r.timeout, r.extraRules), Files: vectorFiles2(g.t),
		Sequence: r.seq, Signers: []*keys.Signer{g.k.signers["release"]}, Secret: vectorSecret, Epoch: vectorMTime})
	return out
}

// buildSpec describes a build of the vector release.
type buildSpec struct {
	version     string // default 1.0.0
	check, undo string // default "true" and "echo undo"
	seq         uint64 // default 1
	targets     []string
	signers     []string // default release
	identity    string   // zone identity encrypted to; default zone
	file        bool     // the builder's single-file form
}

// build builds the vector release with the real builder.
func (g *generator) build(r buildSpec) string {
	g.t.Helper()
	orDefault(&r.version, "1.0.0")
	orDefault(&r.check, "true")
	orDefault(&r.undo, "echo undo")
	orDefault(&r.identity, "zone")
	if r.seq == 0 {
		r.seq = 1
	}
	if len(r.signers) == 0 {
		r.signers = []string{"release"}
	}
	var signers []*keys.Signer
	for _, s := range r.signers {
		signers = append(signers, g.k.signers[s])
	}
	f := *g.f
	f.Identity = g.k.ids[r.identity]
	o := bundletest.Options{YAML: vectorRelease(r.version, r.check, r.undo), Files: vectorFiles(), Sequence: r.seq,
		Signers: signers, Secret: vectorSecret, Targets: r.targets, Epoch: vectorMTime}
	if r.file {
		o.Out = filepath.Join(g.dir(), "b"+bundle.Extension)
	}
	out, _ := f.Build(o)
	return out
}

// dir returns a new empty temporary directory.
func (g *generator) dir() string {
	g.t.Helper()
	d, err := os.MkdirTemp(g.tmp, "v-")
	if err != nil {
		g.t.Fatal(err)
	}
	return d
}

// copy copies a folder bundle, for crafting.
func (g *generator) copy(dir string) string {
	g.t.Helper()
	out := filepath.Join(g.dir(), "b")
	if err := os.CopyFS(out, os.DirFS(dir)); err != nil {
		g.t.Fatal(err)
	}
	return out
}

// vfile is one file of a vector body.
type vfile struct {
	name string
	data []byte
	hdr  *tar.Header // nil: a regular file
}

// files lists a folder bundle's files: the bundle's own in canonical order,
// then any other file on the media, by name.
func (g *generator) files(dir string, others bool) []vfile {
	g.t.Helper()
	b, err := bundle.Open(dir)
	if err != nil {
		g.t.Fatal(err)
	}
	defer b.Close()
	names := b.Names()
	if others {
		ents, err := os.ReadDir(dir)
		if err != nil {
			g.t.Fatal(err)
		}
		var extra []string
		for _, e := range ents {
			if _, ok := b.Size(e.Name()); !ok {
				extra = append(extra, e.Name())
			}
		}
		sort.Strings(extra)
		names = append(names, extra...)
	}
	var out []vfile
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			g.t.Fatal(err)
		}
		out = append(out, vfile{name: n, data: data})
	}
	return out
}

// tarBody writes files as a tar: the body of a folder vector, or the
// single-file form itself (regular entries unless a header is given, mode
// 0644, fixed time, USTAR, as the builder writes it).
func (g *generator) tarBody(files []vfile) []byte {
	out := make([]vfile, len(files))
	for i, f := range files {
		hdr := tar.Header{Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.data))}
		if f.hdr != nil {
			hdr = *f.hdr
		}
		hdr.ModTime, hdr.Format = vectorMTime, tar.FormatUSTAR
		out[i] = vfile{name: f.name, data: f.data, hdr: &hdr}
	}
	return g.writeTar(out)
}

// untar reads a single-file bundle made by the builder back into its files,
// checking that they are what tarBody would write but for the time.
func (g *generator) untar(path string) []vfile {
	g.t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		g.t.Fatal(err)
	}
	var out []vfile
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil || hdr.Typeflag != tar.TypeReg || hdr.Mode != 0o644 {
			g.t.Fatalf("%s: entry %+v: %v", path, hdr, err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			g.t.Fatal(err)
		}
		out = append(out, vfile{name: hdr.Name, data: body})
	}
}

// bv is a bundle vector to write; zero fields take the defaults of a
// verifiable bundle in the vector zone.
type bv struct {
	name, comment string
	expect        string // default ok
	form          string // default folder
	dir           string // folder bundle to pack
	files         []vfile
	now           time.Time
	zone, host    string
	roles         string
	zoneVars      *string
	applied       string
	override      string
	outcome       string
	reason        string
	file, message string
	inspect       string
	// Format 2: the host's roles and the --var-file (NAME=VALUE …); what
	// the receipt must record (see the headers in vectors_test.go); and
	// deployed, to freeze the deploy root as this code leaves it.
	hostRoles, varFile                    string
	sources, checkSteps, releases, stdout string
	deployed                              bool
}

func (g *generator) bundle(b bv) *vector {
	g.t.Helper()
	orDefault(&b.expect, "ok")
	orDefault(&b.form, "folder")
	orDefault(&b.zone, vectorZoneName)
	orDefault(&b.host, vectorHost)
	orDefault(&b.roles, vectorRoles)
	orDefault(&b.inspect, "ok")
	if b.expect != "ok" {
		orDefault(&b.outcome, string(receipt.Refused))
		orDefault(&b.reason, b.expect)
	}
	orDefault(&b.outcome, string(receipt.Applied))
	orDefault(&b.reason, string(receipt.ReasonOK))
	if b.now.IsZero() {
		b.now = vectorNow
	}
	if b.files == nil {
		b.files = g.files(b.dir, b.form == "folder")
	}
	v := &vector{kind: bundleKind, name: b.name, h: map[string]string{}, body: g.tarBody(b.files)}
	v.set("expect", b.expect)
	v.set("form", b.form)
	v.set("zone", b.zone)
	v.set("host", b.host)
	v.set("now", b.now.Format(time.RFC3339))
	v.set("roles", b.roles)
	v.setNonEmpty("host-roles", b.hostRoles)
	if b.zoneVars == nil {
		v.set("zone-vars", vectorVars)
	} else if *b.zoneVars != "" {
		v.set("zone-vars", *b.zoneVars)
	}
	v.setNonEmpty("var-file", b.varFile)
	v.setNonEmpty("applied", b.applied)
	v.setNonEmpty("override", b.override)
	v.set("outcome", b.outcome)
	v.set("reason", b.reason)
	v.setNonEmpty("file", b.file)
	v.setNonEmpty("message", b.message)
	v.set("inspect", b.inspect)
	v.setNonEmpty("sources", b.sources)
	if b.deployed {
		v.set("deployed", "") // by freezeDeployed, once every bundle vector is made
	}
	v.setNonEmpty("check-steps", b.checkSteps)
	v.setNonEmpty("stdout", b.stdout)
	v.setNonEmpty("releases", b.releases)
	v.set("comment", b.comment)
	if err := v.validate(); err != nil {
		g.t.Fatalf("vector %s: %v", b.name, err)
	}
	g.vectors = append(g.vectors, v)
	if b.dir != "" {
		g.folders[b.name] = b.dir
	}
	return v
}

// sums rewrites SHA256SUMS of a crafted folder bundle so that it stays
// consistent with the files (sha256sum -c passes; verification ignores it).
func (g *generator) sums(dir string) {
	g.t.Helper()
	var b strings.Builder
	for _, f := range g.files(dir, false) {
		if f.name != bundle.SumsFile {
			sum := sha256.Sum256(f.data)
			fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), f.name)
		}
	}
	writeGenFile(g.t, filepath.Join(dir, bundle.SumsFile), []byte(b.String()))
}

// resign signs an edited statement with the given keys (default release):
// a malicious or mistaken signer, whose statement verifies.
func (g *generator) resign(dir string, edit func(st *bundle.Statement), signers ...string) {
	g.t.Helper()
	if len(signers) == 0 {
		signers = []string{"release"}
	}
	var ss []*keys.Signer
	for _, s := range signers {
		ss = append(ss, g.k.signers[s])
	}
	g.f.Resign(dir, edit, ss...)
	g.sums(dir)
}

// editEnvelope rewrites the statement envelope's JSON text.
func (g *generator) editEnvelope(dir string, edit func(env *dsse.Envelope) []byte) {
	g.t.Helper()
	p := filepath.Join(dir, bundle.StatementFile)
	raw, err := os.ReadFile(p)
	if err != nil {
		g.t.Fatal(err)
	}
	env, err := dsse.Read(bytes.NewReader(raw), bundle.MaxStatementSize)
	if err != nil {
		g.t.Fatal(err)
	}
	writeGenFile(g.t, p, edit(env))
	g.sums(dir)
}

func (g *generator) marshalEnvelope(env *dsse.Envelope) []byte {
	g.t.Helper()
	b, err := dsse.Marshal(env)
	if err != nil {
		g.t.Fatal(err)
	}
	return b
}

// setPayload replaces an unsplit payload with ct and signs the statement
// that lists it, after edit.
func (g *generator) setPayload(dir string, ct []byte, edit func(p *bundle.Predicate)) {
	g.t.Helper()
	writeGenFile(g.t, filepath.Join(dir, bundle.PayloadFile), ct)
	sum := sha256.Sum256(ct)
	g.resign(dir, func(st *bundle.Statement) {
		pl := &st.Predicate.Payload
		pl.Parts = []bundle.FileRef{{Name: bundle.PayloadFile, Size: int64(len(ct)), SHA256: hex.EncodeToString(sum[:])}}
		pl.Size = int64(len(ct))
		if edit != nil {
			edit(&st.Predicate)
		}
		st.Subject = bundle.Subjects(&st.Predicate)
	})
}

// plaintext decrypts a folder bundle's unsplit payload into its tar entries.
func (g *generator) plaintext(dir string) []vfile {
	g.t.Helper()
	ct, err := os.ReadFile(filepath.Join(dir, bundle.PayloadFile))
	if err != nil {
		g.t.Fatal(err)
	}
	ar, err := age.Decrypt(bytes.NewReader(ct), g.k.ids["zone"])
	if err != nil {
		g.t.Fatal(err)
	}
	zr, err := zstd.NewReader(ar)
	if err != nil {
		g.t.Fatal(err)
	}
	defer zr.Close()
	var out []vfile
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			g.t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			g.t.Fatal(err)
		}
		out = append(out, vfile{name: hdr.Name, data: data, hdr: hdr})
	}
}

// writeTar writes entries as a tar stream, headers as given.
func (g *generator) writeTar(ents []vfile) []byte {
	g.t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		hdr := *e.hdr
		hdr.Name = e.name
		if err := tw.WriteHeader(&hdr); err != nil {
			g.t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			g.t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		g.t.Fatal(err)
	}
	return b.Bytes()
}

// seal compresses and encrypts a plaintext to the zone, as the builder does.
func (g *generator) seal(plain []byte) []byte {
	g.t.Helper()
	var out bytes.Buffer
	aw, err := age.Encrypt(&out, g.k.ids["zone"].Recipient())
	if err != nil {
		g.t.Fatal(err)
	}
	zw, err := zstd.NewWriter(aw, zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(true))
	if err != nil {
		g.t.Fatal(err)
	}
	if _, err := zw.Write(plain); err != nil {
		g.t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		g.t.Fatal(err)
	}
	if err := aw.Close(); err != nil {
		g.t.Fatal(err)
	}
	return out.Bytes()
}

// malicious rewrites a folder bundle as a trusted but malicious signer
// would: payload entries and manifest edited, everything signed to match
// (then the predicate edited, if pred is given).
func (g *generator) malicious(dir string, ents func([]vfile) []vfile, man func(*bundle.Manifest), pred func(*bundle.Predicate)) {
	g.t.Helper()
	plain := g.plaintext(dir)
	if ents != nil {
		plain = ents(plain)
	}
	mp := filepath.Join(dir, bundle.ManifestFile)
	data, err := os.ReadFile(mp)
	if err != nil {
		g.t.Fatal(err)
	}
	m, err := bundle.ParseManifest(data)
	if err != nil {
		g.t.Fatal(err)
	}
	if v := plain[0]; v.name == bundle.VariablesEntry {
		sum := sha256.Sum256(v.data)
		m.VariablesFile.Size, m.VariablesFile.SHA256 = int64(len(v.data)), hex.EncodeToString(sum[:])
	}
	if man != nil {
		man(m)
	}
	if data, err = bundle.MarshalManifest(m); err != nil {
		g.t.Fatal(err)
	}
	writeGenFile(g.t, mp, data)
	msum := sha256.Sum256(data)
	pt := g.writeTar(plain)
	psum := sha256.Sum256(pt)
	g.setPayload(dir, g.seal(pt), func(p *bundle.Predicate) {
		p.Manifest.Size, p.Manifest.SHA256 = int64(len(data)), hex.EncodeToString(msum[:])
		p.Payload.PlaintextSize, p.Payload.PlaintextSHA256 = int64(len(pt)), hex.EncodeToString(psum[:])
		p.Payload.Entries = len(m.Files) + 1
		if pred != nil {
			pred(p)
		}
	})
}

// resplit cuts an unsplit folder bundle's payload into parts of size bytes
// and signs the statement listing them. (The builder's --split has a 1 MiB
// minimum that readers do not enforce; small parts keep the vectors small.)
func (g *generator) resplit(dir string, size int) {
	g.t.Helper()
	p := filepath.Join(dir, bundle.PayloadFile)
	ct, err := os.ReadFile(p)
	if err != nil {
		g.t.Fatal(err)
	}
	if err := os.Remove(p); err != nil {
		g.t.Fatal(err)
	}
	var parts []bundle.FileRef
	for i := 0; len(ct) > 0; i++ {
		n := min(size, len(ct))
		name := bundle.PartName(i + 1)
		writeGenFile(g.t, filepath.Join(dir, name), ct[:n])
		sum := sha256.Sum256(ct[:n])
		parts = append(parts, bundle.FileRef{Name: name, Size: int64(n), SHA256: hex.EncodeToString(sum[:])})
		ct = ct[n:]
	}
	g.resign(dir, func(st *bundle.Statement) {
		st.Predicate.Payload.Parts = parts
		st.Subject = bundle.Subjects(&st.Predicate)
	})
}

func (g *generator) remove(dir, name string) {
	g.t.Helper()
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		g.t.Fatal(err)
	}
}

func (g *generator) copyFile(src, dst string) {
	g.t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		g.t.Fatal(err)
	}
	writeGenFile(g.t, dst, data)
}

func (g *generator) statement(dir string) *bundle.Statement { return g.f.Statement(dir) }

func ptr(s string) *string { return &s }

// orDefault sets *s to d when it is empty.
func orDefault(s *string, d string) {
	if *s == "" {
		*s = d
	}
}

// futureFormat is a format version no airlock will read.
const futureFormat = 999

const zeroDigest = "0000000000000000000000000000000000000000000000000000000000000000"

// bundleVectors makes every bundle vector. The order of the builds fixes
// what the deterministic randomness gives each: keep it.
func (g *generator) bundleVectors() {
	g.good = g.build(buildSpec{})
	g.goodVectors()
	g.splitVectors()
	g.envelopeVectors()
	g.signatureVectors()
	g.statementVectors()
	g.zoneVectors()
	g.manifestVectors()
	g.payloadVectors()
	g.unreadableVectors()
	g.format2Vectors()
	g.format3Vectors()
	g.bundleSeeds()
	g.freezeDeployed()
}

// format3Vectors are bundles of what format 3 added to the manifest and
// the statement: a container image from an OCI image layout, carried in
// the payload's own layout (images/) and named in the statement.
func (g *generator) format3Vectors() {
	t := g.t
	lay := filepath.Join(g.dir(), "layout")
	web := bundletest.Image(t, "linux/amd64",
		bundletest.Layer(t, map[string][]byte{"bin/web": []byte("#!/bin/sh\necho web\n")}),
		bundletest.Layer(t, map[string][]byte{"etc/web.conf": []byte("port=8080\n")}))
	bundletest.WriteLayout(t, lay, map[string]any{"shop/web:1.0": web})
	files := vectorFiles()
	err := filepath.WalkDir(lay, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(lay, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		files["images/web/"+filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	yaml := vectorRelease("1.0.0", "true", "echo undo") + "images:\n  - name: web-image\n    layout: images/web\n    ref: shop/web:1.0\n"
	out, _ := g.f.Build(bundletest.Options{YAML: yaml, Files: files, Sequence: 1, Signers: []*keys.Signer{g.k.signers["release"]},
		Secret: vectorSecret, Epoch: vectorMTime})
	g.bundle(bv{name: "ok-images", dir: out,
		comment: "format 3: a container image from an OCI image layout, its manifest, config and layers in the payload's image layout (images/), named in the statement"})
}

// goodVectors are bundles every check passes, of both forms, and what the
// zone then does.
func (g *generator) goodVectors() {
	t, good := g.t, g.good
	id := g.statement(good).Predicate.BundleID
	g.bundle(bv{name: "ok-folder", dir: good, comment: "a bundle as the builder makes it, in the folder form"})
	fileForm := g.build(buildSpec{file: true})
	g.bundle(bv{name: "ok-file", form: "file", files: g.untar(fileForm), inspect: "ok",
		comment: "a bundle as the builder makes it, in the single-file form (entry times fixed)"})
	media := g.copy(good)
	writeGenFile(t, filepath.Join(media, "README.txt"), []byte("release notes on the media\n"))
	writeGenFile(t, filepath.Join(media, bundle.PayloadFile+".bak"), []byte("not a part\n"))
	g.bundle(bv{name: "ok-media-extra-files", dir: media, comment: "files on the media that are not bundle file names are ignored"})
	approved := g.build(buildSpec{signers: []string{"release", "approve"}})
	g.bundle(bv{name: "ok-approved", dir: approved, roles: "release=1:release approve=1:approve",
		comment: "release and approve roles, each signed by its key"})
	twoKeys := g.build(buildSpec{signers: []string{"release", "other"}})
	g.bundle(bv{name: "ok-threshold-two", dir: twoKeys, roles: "release=2:release,other",
		comment: "a release threshold of 2 met by two distinct keys"})
	g.hosted = g.build(buildSpec{targets: []string{"zone:" + vectorZoneName, "host:app-02"}})
	g.bundle(bv{name: "ok-host-target", dir: g.hosted, host: "app-02", comment: "a host target naming this host"})
	g.bundle(bv{name: "ok-already-applied", dir: good, applied: applied(1, "1.0.0", id), outcome: string(receipt.AlreadyApplied),
		reason: string(receipt.ReasonAlreadyApplied), comment: "the zone applied this very bundle before: nothing runs"})
	g.bundle(bv{name: "ok-force-reapply", dir: good, applied: applied(1, "1.0.0", id), override: "force-reapply",
		comment: "the same bundle again with --force-reapply: applied, and the receipt records the override"})
	g.bundle(bv{name: "ok-allow-rollback", dir: good, applied: applied(5, "0.9.0", otherBundleID), override: "allow-rollback",
		comment: "a lower sequence with --allow-rollback: applied, and the receipt records the override"})
	stepFails := g.build(buildSpec{version: "1.1.0", seq: 2, check: "echo check failed >&2; exit 3"})
	g.bundle(bv{name: "ok-step-fails", dir: stepFails, outcome: string(receipt.RolledBack), reason: string(receipt.ReasonStepFailed),
		comment: "every check passes; a step fails and the failure step runs: rolled back"})
	undoFails := g.build(buildSpec{version: "1.2.0", seq: 3, check: "exit 3", undo: "exit 4"})
	g.bundle(bv{name: "ok-undo-fails", dir: undoFails, outcome: string(receipt.Failed), reason: string(receipt.ReasonStepFailed),
		comment: "a step fails and so does the failure step: the apply failed"})
}

// splitVectors cut the payload into three parts, the first two of equal
// size, and mix them up.
func (g *generator) splitVectors() {
	t, good := g.t, g.good
	split := g.copy(good)
	st := g.statement(good)
	partSize := int(st.Predicate.Payload.Size/3) + 1
	g.resplit(split, partSize)
	g.bundle(bv{name: "ok-split", dir: split, comment: fmt.Sprintf("the payload in three parts of %d bytes (the last shorter)", partSize)})
	g.bundle(bv{name: "ok-file-split", form: "file", dir: split, comment: "the single-file form of a split bundle: the parts in order"})
	other := g.build(buildSpec{})
	otherSplit := g.copy(other)
	g.resplit(otherSplit, partSize)

	d := g.copy(split)
	g.remove(d, bundle.PartName(2))
	g.bundle(bv{name: "parts-missing", expect: "parts", dir: d, file: bundle.PartName(2), message: "missing",
		comment: "the second of three parts is missing"})
	d = g.copy(split)
	if err := os.Truncate(filepath.Join(d, bundle.PartName(3)), int64(int(st.Predicate.Payload.Size)-2*partSize-1)); err != nil {
		t.Fatal(err)
	}
	g.bundle(bv{name: "parts-truncated", expect: "parts", dir: d, file: bundle.PartName(3), message: "truncated",
		comment: "the last part is one byte short"})
	d = g.copy(split)
	one, two := filepath.Join(d, bundle.PartName(1)), filepath.Join(d, bundle.PartName(2))
	g.copyFile(one, one+".x")
	g.copyFile(two, one)
	g.copyFile(one+".x", two)
	g.remove(d, bundle.PartName(1)+".x")
	g.bundle(bv{name: "parts-reordered", expect: "parts", dir: d, file: bundle.PartName(1), message: "reordered",
		comment: "parts 1 and 2 swapped"})
	g.bundle(bv{name: "parts-file-reordered", expect: "parts", form: "file", files: swapContent(g.files(split, false), bundle.PartName(1), bundle.PartName(2)),
		file: bundle.PartName(1), message: "reordered", comment: "single-file form with the contents of parts 1 and 2 swapped"})
	d = g.copy(split)
	g.copyFile(filepath.Join(otherSplit, bundle.PartName(3)), filepath.Join(d, bundle.PartName(4)))
	g.bundle(bv{name: "parts-extra", expect: "parts", dir: d, file: bundle.PartName(4), message: "not listed",
		comment: "a fourth part, from another bundle, that the statement does not list"})
	d = g.copy(split)
	g.copyFile(filepath.Join(otherSplit, bundle.PartName(2)), filepath.Join(d, bundle.PartName(2)))
	g.bundle(bv{name: "parts-from-another-bundle", expect: "parts", dir: d, file: bundle.PartName(2), message: "another bundle",
		comment: "part 2 replaced by the same-sized part 2 of another build"})
	d = g.copy(split)
	g.copyFile(filepath.Join(other, bundle.PayloadFile), filepath.Join(d, bundle.PayloadFile))
	g.bundle(bv{name: "parts-stray-unsplit", expect: "parts", dir: d, file: bundle.PayloadFile, message: "not listed",
		comment: "an unsplit payload.age beside the listed parts"})
	files := g.files(good, false)
	for i := range files {
		if files[i].name == bundle.PayloadFile {
			files[i].data = bytes.Clone(files[i].data)
			files[i].data[len(files[i].data)/2] ^= 0xff
		}
	}
	g.bundle(bv{name: "parts-byte-flipped", expect: "parts", form: "file", files: files, file: bundle.PayloadFile, message: "sha256",
		comment: "one byte of the payload changed in the single-file form"})
	d = g.copy(good)
	g.copyFile(filepath.Join(other, bundle.StatementFile), filepath.Join(d, bundle.StatementFile))
	g.bundle(bv{name: "parts-statement-of-another-build", expect: "parts", dir: d, file: bundle.PayloadFile,
		comment: "the statement of another build of the same release: same manifest, other payload"})
}

func (g *generator) envelopeVectors() {
	t, good := g.t, g.good
	d := g.copy(good)
	bundletest.FlipByte(t, filepath.Join(d, bundle.StatementFile), 0)
	g.bundle(bv{name: "envelope-not-json", expect: "envelope", dir: d, file: bundle.StatementFile, inspect: "error",
		comment: "the first byte of the envelope changed: not JSON"})
	d = g.copy(good)
	g.remove(d, bundle.StatementFile)
	g.bundle(bv{name: "envelope-missing", expect: "envelope", dir: d, file: bundle.StatementFile, inspect: "error",
		comment: "a folder without statement.dsse.json"})
	d = g.copy(good)
	g.editEnvelope(d, func(env *dsse.Envelope) []byte {
		env.Signatures = []dsse.Signature{}
		return g.marshalEnvelope(env)
	})
	g.bundle(bv{name: "envelope-no-signatures", expect: "envelope", form: "file", dir: d, file: bundle.StatementFile, inspect: "error",
		comment: "an envelope with an empty signature list"})
	d = g.copy(good)
	g.editEnvelope(d, func(env *dsse.Envelope) []byte {
		for len(env.Signatures) <= dsse.MaxSignatures {
			env.Signatures = append(env.Signatures, env.Signatures[0])
		}
		return g.marshalEnvelope(env)
	})
	g.bundle(bv{name: "envelope-too-many-signatures", expect: "envelope", dir: d, file: bundle.StatementFile, inspect: "error",
		comment: fmt.Sprintf("%d signatures, one more than allowed", dsse.MaxSignatures+1)})
	d = g.copy(good)
	g.editEnvelope(d, func(env *dsse.Envelope) []byte {
		b := g.marshalEnvelope(env)
		return bytes.Replace(b, []byte("{\n"), []byte("{\n  \"payloadType\": \"application/vnd.in-toto+json\",\n"), 1)
	})
	g.bundle(bv{name: "envelope-duplicate-key", expect: "envelope", dir: d, file: bundle.StatementFile, inspect: "error",
		comment: "payloadType given twice in the envelope JSON"})
}

func (g *generator) signatureVectors() {
	t, good := g.t, g.good
	d := g.copy(good)
	g.resign(d, func(*bundle.Statement) {}, "other")
	g.bundle(bv{name: "signature-untrusted-key", expect: "signature", form: "file", dir: d, file: bundle.StatementFile,
		message: "no signature from a trusted key", comment: "signed only by a key the zone does not trust"})
	d = g.copy(good)
	g.editEnvelope(d, func(env *dsse.Envelope) []byte {
		payload, err := base64.StdEncoding.DecodeString(env.Payload)
		if err != nil {
			t.Fatal(err)
		}
		env.Payload = base64.StdEncoding.EncodeToString(bytes.Replace(payload, []byte(`"CHG-7"`), []byte(`"CHG-8"`), 1))
		return g.marshalEnvelope(env)
	})
	g.bundle(bv{name: "signature-payload-altered", expect: "signature", dir: d, file: bundle.StatementFile,
		comment: "the change ticket in the signed statement edited after signing"})
	g.bundle(bv{name: "signature-approval-missing", expect: "signature", dir: good, roles: "release=1:release approve=1:approve",
		message: "role approve has 0 of 1", comment: "the zone requires an approval the bundle lacks"})
	d = g.copy(good)
	g.editEnvelope(d, func(env *dsse.Envelope) []byte {
		sig := env.Signatures[0]
		sig.KeyID = "another-hint"
		env.Signatures = append(env.Signatures, sig)
		return g.marshalEnvelope(env)
	})
	g.bundle(bv{name: "signature-same-key-twice", expect: "signature", dir: d, roles: "release=2:release,other",
		message: "1 of 2", comment: "one key's signature twice (another keyid hint) does not meet a threshold of 2"})
}

// statementVectors are validly signed statements that are not a bundle
// statement of this format.
func (g *generator) statementVectors() {
	t, good := g.t, g.good
	d := g.copy(good)
	payload, err := json.Marshal(g.statement(good))
	if err != nil {
		t.Fatal(err)
	}
	g.f.WriteEnvelope(d, "application/json", payload, g.k.signers["release"])
	g.sums(d)
	g.bundle(bv{name: "payload-type-json", expect: "payload-type", dir: d, file: bundle.StatementFile,
		comment: "a validly signed envelope of payload type application/json"})
	d = g.copy(good)
	g.resign(d, func(st *bundle.Statement) { st.PredicateType = receipt.PredicateType })
	g.bundle(bv{name: "predicate-type-receipt", expect: "predicate-type", form: "file", dir: d, file: bundle.StatementFile,
		comment: "a signed statement whose predicate type is that of a receipt"})
	d = g.copy(good)
	g.resign(d, func(st *bundle.Statement) { st.Type = "https://in-toto.io/Statement/v0.1" })
	g.bundle(bv{name: "predicate-type-statement-v0.1", expect: "predicate-type", dir: d, file: bundle.StatementFile, inspect: "error",
		comment: "an in-toto Statement v0.1, not v1"})
	d = g.copy(good)
	g.resign(d, func(st *bundle.Statement) { st.Predicate.FormatVersion = futureFormat })
	g.bundle(bv{name: "format-version-future", expect: "format-version", dir: d, file: bundle.StatementFile,
		message: fmt.Sprintf("format version %d", futureFormat), comment: "a format version no airlock reads"})
	d = g.copy(good)
	g.resign(d, func(st *bundle.Statement) { st.Subject = st.Subject[:1] })
	g.bundle(bv{name: "format-version-subject-mismatch", expect: "format-version", form: "file", dir: d, file: bundle.StatementFile,
		message: "subject", comment: "the subject omits the payload the predicate lists"})
	d = g.copy(good)
	g.resign(d, func(st *bundle.Statement) { st.Predicate.Sequence = 0 })
	g.bundle(bv{name: "format-version-sequence-zero", expect: "format-version", dir: d, file: bundle.StatementFile,
		message: "sequence", comment: "a predicate with sequence 0"})
}

// zoneVectors are good bundles that this zone, at this time, refuses.
func (g *generator) zoneVectors() {
	good := g.good
	g.bundle(bv{name: "expiry-expired", expect: "expiry", dir: good, now: vectorIssued.Add(25 * time.Hour), message: "expired",
		comment: "the zone clock an hour after the bundle expired"})
	g.bundle(bv{name: "expiry-issued-in-future", expect: "expiry", form: "file", dir: good, now: vectorIssued.Add(-11 * time.Minute),
		message: "zone clock", comment: "issued 11 minutes ahead of the zone clock (10 allowed)"})
	g.bundle(bv{name: "target-other-zone", expect: "target", dir: good, zone: "pci-other", message: "not zone:pci-other",
		comment: "the bundle targets zone:pci-test; this zone is pci-other"})
	g.bundle(bv{name: "target-other-host", expect: "target", dir: g.hosted, message: `not this host "app-01"`,
		comment: "the bundle targets host:app-02 only; this host is app-01"})

	g.bundle(bv{name: "sequence-rollback", expect: "sequence", dir: good, applied: applied(5, "0.9.0", otherBundleID), message: "lower",
		comment: "sequence 1 after sequence 5 was applied on the channel"})
	g.bundle(bv{name: "sequence-reused", expect: "sequence", form: "file", dir: good, applied: applied(1, "0.9.0", otherBundleID),
		message: "already used", comment: "sequence 1 was applied, by another bundle"})
}

func (g *generator) manifestVectors() {
	t, good := g.t, g.good
	d := g.copy(good)
	bundletest.FlipByte(t, filepath.Join(d, bundle.ManifestFile), 10)
	g.sums(d)
	g.bundle(bv{name: "manifest-byte-flipped", expect: "manifest", dir: d, file: bundle.ManifestFile, message: "sha256",
		comment: "one byte of manifest.json changed"})
	d = g.copy(good)
	g.remove(d, bundle.ManifestFile)
	g.bundle(bv{name: "manifest-missing", expect: "manifest", dir: d, file: bundle.ManifestFile, message: "missing",
		comment: "a folder without manifest.json"})
	newer := g.build(buildSpec{version: "1.0.1", seq: 2})
	d = g.copy(good)
	g.copyFile(filepath.Join(newer, bundle.StatementFile), filepath.Join(d, bundle.StatementFile))
	g.bundle(bv{name: "manifest-statement-of-another-release", expect: "manifest", form: "file", dir: d, file: bundle.ManifestFile,
		comment: "the statement of release 1.0.1 with the files of 1.0.0"})
	d = g.copy(good)
	g.malicious(d, nil, func(m *bundle.Manifest) { m.Files[len(m.Files)-1].Path = "scripts/../../../x" }, nil)
	g.bundle(bv{name: "manifest-traversal", expect: "manifest", dir: d, file: bundle.ManifestFile,
		comment: "a trusted signer's manifest with a path that climbs out of the root"})
	d = g.copy(good)
	g.malicious(d, nil, func(m *bundle.Manifest) {
		f := *manifestFile(t, m, "packages/web/index.html")
		f.Path = "packages/web/INDEX.html"
		m.Files = append(m.Files, f)
		sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	}, nil)
	g.bundle(bv{name: "manifest-case-collision", expect: "manifest", dir: d, file: bundle.ManifestFile,
		comment: "a trusted signer's manifest listing index.html and INDEX.html"})
	d = g.copy(good)
	g.resign(d, func(st *bundle.Statement) { st.Predicate.Payload.Entries++ })
	g.bundle(bv{name: "manifest-entry-count", expect: "manifest", dir: d, file: bundle.ManifestFile, message: "entries",
		comment: "the statement counts one entry more than the manifest lists"})
}

// payloadVectors are verified bundles whose payload the zone cannot
// decrypt, or that disagrees with the signed manifest (a malicious
// signer), or whose variables do not resolve in the zone.
func (g *generator) payloadVectors() {
	t, good := g.t, g.good
	elsewhere := g.build(buildSpec{identity: "other-zone"})
	g.bundle(bv{name: "decrypt-other-zone", expect: "decrypt", form: "file", dir: elsewhere,
		comment: "validly signed, but encrypted to another zone's identity"})

	// extract: a trusted signer whose payload disagrees with its manifest.
	index := "packages/web/index.html"
	extract := []struct {
		name, file, comment string
		ents                func([]vfile) []vfile
		man                 func(*bundle.Manifest)
		pred                func(*bundle.Predicate)
	}{
		{"extract-extra-entry", "packages/web/zzz", "an entry after the last one the manifest lists",
			func(e []vfile) []vfile {
				return insertAfter(e, len(e)-1, vfile{name: "packages/web/zzz", data: []byte("x"), hdr: regHeader(1, 0o644)})
			}, nil, nil},
		{"extract-symlink", index, "a symbolic link where the manifest lists a regular file",
			replaceHeader(index, &tar.Header{Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd", Mode: 0o777}), nil, nil},
		{"extract-hardlink", index, "a hard link where the manifest lists a regular file",
			replaceHeader(index, &tar.Header{Typeflag: tar.TypeLink, Linkname: "scripts/migrate.sh", Mode: 0o644}), nil, nil},
		{"extract-size-lie", index, "the manifest lists index.html one byte longer than it is",
			nil, func(m *bundle.Manifest) { manifestFile(t, m, index).Size++ }, nil},
		{"extract-digest-lie", index, "the manifest gives index.html another digest",
			nil, func(m *bundle.Manifest) { manifestFile(t, m, index).SHA256 = zeroDigest }, nil},
		{"extract-case-variant", "packages/web/INDEX.html", "INDEX.html after index.html in the payload (one file on Windows and macOS)",
			func(e []vfile) []vfile {
				i := entryIndex(t, e, index)
				return insertAfter(e, i, vfile{name: "packages/web/INDEX.html", data: e[i].data, hdr: regHeader(int64(len(e[i].data)), 0o644)})
			}, nil, nil},
		{"extract-missing-entry", "scripts/migrate.sh", "the payload ends before the last file the manifest lists",
			func(e []vfile) []vfile { return e[:len(e)-1] }, nil, nil},
		{"extract-plaintext-bomb", "", "a signed plaintext size smaller than the payload: decompression stops at the cap",
			nil, nil, func(p *bundle.Predicate) { p.Payload.PlaintextSize = 1024 }},
	}
	for _, x := range extract {
		d := g.copy(good)
		g.malicious(d, x.ents, x.man, x.pred)
		g.bundle(bv{name: x.name, expect: "extract", dir: d, file: x.file, comment: "malicious signer: " + x.comment})
	}
	d := g.copy(good)
	ct, err := os.ReadFile(filepath.Join(d, bundle.PayloadFile))
	if err != nil {
		t.Fatal(err)
	}
	ct[len(ct)-20] ^= 0xff
	g.setPayload(d, ct, nil)
	g.bundle(bv{name: "extract-corrupt-ciphertext", expect: "extract", form: "file", dir: d,
		comment: "malicious signer: a ciphertext changed after the age header, with its digest signed (age's authentication fails while reading)"})

	g.bundle(bv{name: "variables-undeclared-zone-value", expect: "variables", dir: good, zoneVars: ptr(vectorVars + " Region=east"),
		comment: "the zone sets a variable the bundle does not declare"})
	d = g.copy(good)
	g.malicious(d, func(e []vfile) []vfile {
		var doc bundle.VariablesDoc
		if err := json.Unmarshal(e[0].data, &doc); err != nil {
			t.Fatal(err)
		}
		delete(doc.Values, "Greeting")
		data, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		e[0].data, e[0].hdr.Size = data, int64(len(data))
		return e
	}, nil, nil)
	g.bundle(bv{name: "variables-missing-value", expect: "variables", form: "file", dir: d,
		comment: "malicious signer: variables.json lacks the value of a declared variable"})
}

// unreadableVectors are single files that bundle.Open refuses: no check runs.
func (g *generator) unreadableVectors() {
	base := g.files(g.good, false)
	unreadable := []struct {
		name, comment string
		files         []vfile
	}{
		{"unreadable-statement-not-first", "the manifest before the statement", []vfile{base[1], base[0], base[2], base[3]}},
		{"unreadable-duplicate-entry", "manifest.json twice", []vfile{base[0], base[1], base[1], base[2], base[3]}},
		{"unreadable-symlink-entry", "a symbolic link entry named like a part",
			[]vfile{base[0], base[1], base[2], {name: bundle.PartName(1), hdr: &tar.Header{Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}}, base[3]}},
		{"unreadable-unknown-entry", "an entry that is not a bundle file", []vfile{base[0], base[1], base[2], base[3], {name: "notes.txt", data: []byte("hi\n")}}},
	}
	for _, u := range unreadable {
		g.bundle(bv{name: u.name, expect: expectUnreadable, form: "file", files: u.files, inspect: "error",
			comment: "single-file form with " + u.comment})
	}
	v := g.bundle(bv{name: "unreadable-truncated", expect: expectUnreadable, form: "file", files: base, inspect: "error",
		comment: "the single-file form cut short inside the payload"})
	// Cut in the middle of the payload's content: headers are 512 bytes,
	// content padded to 512.
	padded := func(n int) int { return (n + 511) / 512 * 512 }
	v.body = v.body[:512+padded(len(base[0].data))+512+padded(len(base[1].data))+512+len(base[2].data)/2]
}

// Zone values of the format 2 vectors: the deploy root and the check
// server's address in trust.yaml, two values in the var-file.
const (
	vectorVars2    = "Root=" + rootVariable + " Addr=" + addrVariable
	vectorVarFile2 = "Banner=zone-banner Service:Port=9090"
	// vectorSources2 is where each value of the format 2 release comes
	// from on a host with role web, in that zone.
	vectorSources2 = "Addr=trust Banner=var-file Greeting=bundle-host/" + vectorHost + " Logging:Level=bundle-zone/" + vectorZoneName +
		" Root=trust Secret=bundle Service:Port=var-file Tier=bundle-role/web"
)

// format2Vectors are bundles of what format 2 added (vectorRelease2): good
// ones, applied and their deployed files frozen, and those a zone or a
// malicious signer's rules refuse.
func (g *generator) format2Vectors() {
	t := g.t
	g.format2 = g.build2(build2Spec{version: "2.0.0", seq: 4})
	ok := bv{dir: g.format2, hostRoles: "web", zoneVars: ptr(vectorVars2), varFile: vectorVarFile2, sources: vectorSources2,
		deployed: true, checkSteps: vectorChecksOK, stdout: vectorMigrated, releases: "->releases/2.0.0 ->releases/2.0.0"}
	ok.name, ok.comment = "ok-format2", "format 2: archive packages (zip, tar.gz), a script substituted, a deploy with structured replacement and "+
		"files rules, http and tcp checks, change evidence, a role: target, values byZone, byRole and byHost, and a var-file"
	g.bundle(ok)
	ok.name, ok.form, ok.comment = "ok-format2-file", "file", "ok-format2 in the single-file form"
	g.bundle(ok)
	fails := g.build2(build2Spec{version: "2.2.0", seq: 6, health: "/down", timeout: "1s"})
	g.bundle(bv{name: "ok-format2-check-fails", dir: fails, hostRoles: "web", zoneVars: ptr(vectorVars2), varFile: vectorVarFile2,
		outcome: string(receipt.RolledBack), reason: string(receipt.ReasonStepFailed),
		checkSteps: "http-health=failed:503 tcp-health=skipped:0", stdout: vectorMigrated, releases: "->- ->-",
		comment: "format 2: the http check answers 503 until its timeout of 1s: rolled back, both deploys undone"})

	g.bundle(bv{name: "target-role-not-held", expect: "target", dir: g.format2, hostRoles: "db", zoneVars: ptr(vectorVars2),
		message: "role:web", comment: "the bundle targets role:web; this host holds role db only"})
	g.bundle(bv{name: "variables-roles-disagree", expect: "variables", dir: g.format2, hostRoles: "db web", zoneVars: ptr(vectorVars2),
		comment: "the host holds roles db and web, for which the bundle gives Tier different values, and neither the host nor the zone chooses"})

	// A trusted but malicious signer, against the rules format 2 added.
	step := func(m *bundle.Manifest, name string) *bundle.Step {
		for i := range m.Steps {
			if m.Steps[i].Name == name {
				return &m.Steps[i]
			}
		}
		t.Fatalf("no step %s", name)
		return nil
	}
	man := []struct {
		name, message, comment string
		edit                   func(*bundle.Manifest)
	}{
		{"manifest-files-setuid", "set-user-ID", "a files rule giving bin/* mode 4755 (set-user-ID)",
			func(m *bundle.Manifest) { step(m, "install-web").Files[1].Mode = 0o4755 }},
		{"manifest-structured-escape", `".." element`, "a structured glob that climbs out of the package",
			func(m *bundle.Manifest) { step(m, "install-web").Structured = []string{"../../../etc/*.json"} }},
		{"manifest-check-retries", "no retries", "a check step with retries (a check polls until its own timeout)",
			func(m *bundle.Manifest) { step(m, "http-health").Retries = 3 }},
		{"manifest-archive-absolute", "archive", "a package's archive named by an absolute path",
			func(m *bundle.Manifest) { m.Packages[0].Archive.Name = "/srv/dist/web.zip" }},
	}
	for _, x := range man {
		d := g.copy(g.format2)
		g.malicious(d, nil, x.edit, nil)
		g.bundle(bv{name: x.name, expect: "manifest", dir: d, file: bundle.ManifestFile, message: x.message, hostRoles: "web",
			zoneVars: ptr(vectorVars2), comment: "malicious signer: " + x.comment})
	}
	d := g.copy(g.format2)
	g.resign(d, func(st *bundle.Statement) { st.Predicate.Change.TestEvidence[0].SHA256 = zeroDigest })
	g.bundle(bv{name: "manifest-test-evidence-digest", expect: "manifest", dir: d, file: bundle.ManifestFile, message: "test evidence",
		hostRoles: "web", zoneVars: ptr(vectorVars2), comment: "malicious signer: the statement's test evidence digest is not the file's in the manifest"})
	d = g.copy(g.format2)
	g.resign(d, func(st *bundle.Statement) { st.Predicate.Targets = append(st.Predicate.Targets, "role:Web Tier") })
	g.bundle(bv{name: "format-version-role-target", expect: "format-version", form: "file", dir: d, file: bundle.StatementFile, message: "role:",
		hostRoles: "web", zoneVars: ptr(vectorVars2), comment: "malicious signer: a role: target whose name is not a name"})
}

// freezeDeployed applies each bundle vector that has a deployed header as
// the harness does, in a fresh zone, and writes down the files the deploy
// root then holds. The vectors' bodies are made before: applying consumes
// randomness.
func (g *generator) freezeDeployed() {
	t := g.t
	for _, v := range g.vectors {
		if _, ok := v.h["deployed"]; !ok || v.kind != bundleKind {
			continue
		}
		z := v.bundleZone(t)
		res, err := Apply(context.Background(), Options{Bundle: v.materialize(t, g.dir()), Trust: z.trust, VarFile: z.varFile,
			Now: func() time.Time { return v.now(t) }, Version: "vectors", Stdout: io.Discard, Stderr: io.Discard})
		if err != nil || res.Outcome != receipt.OutcomeResult(v.h["outcome"]) {
			t.Fatalf("%s: apply: %+v, %v", v.name, res, err)
		}
		files, err := deployRootFiles(z.root)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, path := range slices.Sorted(maps.Keys(files)) {
			f := files[path]
			out = append(out, path+"="+f.mode+":"+f.sha256)
			data, err := os.ReadFile(filepath.Join(z.root, path))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %s %s:\n%s", v.name, f.mode, path, data)
		}
		v.h["deployed"] = strings.Join(out, " ")
	}
}

// bundleSeeds are the fuzz seeds taken from bundle vectors.
func (g *generator) bundleSeeds() {
	for _, name := range []string{"ok-folder", "ok-approved", "payload-type-json", "predicate-type-receipt",
		"format-version-future", "format-version-subject-mismatch", "envelope-duplicate-key", "signature-same-key-twice",
		"ok-format2", "format-version-role-target", "manifest-test-evidence-digest"} {
		g.seed("bundle/testdata/seed/statement-"+seedTag()+"-"+name+".dsse.json", filepath.Join(g.folders[name], bundle.StatementFile))
	}
	for _, name := range []string{"ok-folder", "manifest-traversal", "manifest-case-collision",
		"ok-format2", "manifest-files-setuid", "manifest-structured-escape", "manifest-check-retries", "manifest-archive-absolute"} {
		g.seed("bundle/testdata/seed/manifest-"+seedTag()+"-"+name+".json", filepath.Join(g.folders[name], bundle.ManifestFile))
	}
	for _, name := range []string{"ok-folder", "extract-extra-entry", "extract-symlink", "extract-hardlink", "extract-case-variant",
		"extract-missing-entry", "variables-missing-value", "ok-format2"} {
		g.seeds["apply/stage/testdata/fuzz/FuzzExtract/"+seedTag()+"-"+name] = fuzzCorpusFile(g.writeTar(g.plaintext(g.folders[name])))
	}
}

// applied is the applied: header of a zone that applied sequence seq of
// the vector release's channel: version as bundle id.
func applied(seq int, version, id string) string {
	return fmt.Sprintf("name=shop channel=stable version=%s sequence=%d bundle=%s", version, seq, id)
}

func regHeader(size int64, mode int64) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeReg, Mode: mode, Size: size, ModTime: vectorMTime}
}

func entryIndex(t *testing.T, ents []vfile, name string) int {
	t.Helper()
	for i, e := range ents {
		if e.name == name {
			return i
		}
	}
	t.Fatalf("no entry %s", name)
	return -1
}

func insertAfter(ents []vfile, i int, e vfile) []vfile {
	out := append([]vfile(nil), ents[:i+1]...)
	out = append(out, e)
	return append(out, ents[i+1:]...)
}

// replaceHeader replaces the payload entry name by an entry of hdr without
// content.
func replaceHeader(name string, hdr *tar.Header) func([]vfile) []vfile {
	return func(ents []vfile) []vfile {
		for i := range ents {
			if ents[i].name == name {
				h := *hdr
				h.ModTime = vectorMTime
				ents[i].hdr, ents[i].data = &h, nil
				return ents
			}
		}
		panic("no entry " + name)
	}
}

func manifestFile(t *testing.T, m *bundle.Manifest, path string) *bundle.File {
	t.Helper()
	for i := range m.Files {
		if m.Files[i].Path == path {
			return &m.Files[i]
		}
	}
	t.Fatalf("manifest lists no %s", path)
	return nil
}

// swapContent swaps the content of two files of a bundle.
func swapContent(files []vfile, a, b string) []vfile {
	out := append([]vfile(nil), files...)
	var ia, ib int
	for i, f := range out {
		switch f.name {
		case a:
			ia = i
		case b:
			ib = i
		}
	}
	out[ia].data, out[ib].data = out[ib].data, out[ia].data
	return out
}

// fuzzCorpusFile encodes one []byte input in the format of the go
// command's fuzz corpus (testdata/fuzz/FuzzX/<name>).
func fuzzCorpusFile(b []byte) []byte {
	return []byte("go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n")
}

// seed records a fuzz seed copied from a file.
func (g *generator) seed(rel, src string) {
	g.t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		g.t.Fatal(err)
	}
	g.seeds[rel] = data
}

// rv is a receipt vector to write.
type rv struct {
	name, comment, expect, signer string
	body                          []byte
	zone, seq, outcome, reason    string
	prev, bundle                  string
	// Format 2: see the headers in vectors_test.go.
	event, changes, operator                        string
	sources, deployed, checkSteps, releases, pruned string
	stdout, clock, storage                          string
}

func (g *generator) receipt(r rv) {
	g.t.Helper()
	v := &vector{kind: receiptKind, name: r.name, h: map[string]string{}, body: r.body}
	v.set("expect", r.expect)
	v.set("signer", r.signer)
	for _, kv := range [][2]string{{"zone", r.zone}, {"seq", r.seq}, {"outcome", r.outcome}, {"reason", r.reason}, {"prev", r.prev}, {"bundle", r.bundle},
		{"event", r.event}, {"changes", r.changes}, {"operator", r.operator}, {"sources", r.sources}, {"deployed", r.deployed},
		{"check-steps", r.checkSteps}, {"releases", r.releases}, {"pruned", r.pruned}, {"stdout", r.stdout}, {"clock", r.clock}, {"storage", r.storage}} {
		v.setNonEmpty(kv[0], kv[1])
	}
	v.set("comment", r.comment)
	if err := v.validate(); err != nil {
		g.t.Fatalf("vector %s: %v", r.name, err)
	}
	g.vectors = append(g.vectors, v)
	g.seeds["audit/testdata/fuzz/FuzzAudit/"+seedTag()+"-"+r.name] = fuzzCorpusFile(r.body)
}

// Format 2 receipts of the vector zone.
const (
	// vectorStorage is how a zone keeps its receipts: a 0700 folder of
	// 0640 files.
	vectorStorage = "0700/0640"
	// vectorSourcesChain is where each value of vectorRelease2 comes from
	// in the receipt chain's zone once it holds role web: trust.yaml gives
	// Root, Addr and Secret (from a file), the var-file Service:Port and
	// Banner (from a file).
	vectorSourcesChain = "Addr=trust Banner=var-file+fromFile Greeting=bundle-host/" + vectorHost + " Logging:Level=bundle-zone/" + vectorZoneName +
		" Root=trust Secret=trust+fromFile Service:Port=var-file Tier=bundle-role/web"
	vectorChecksOK = "http-health=succeeded:200 tcp-health=succeeded:0"
)

// vectorMigrated is the stdout header of an apply of vectorRelease2 on a
// web host: the migrate script's output once #{Tier} is substituted.
var vectorMigrated = "migrate=" + sha256Hex([]byte("migrating the web tier\n"))

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// chainZone is the zone whose receipt chain the receipt vectors are: its
// trust.yaml as written, and the folder of it.
type chainZone struct {
	g     *generator
	dir   string
	root  string // the deploy root (Root)
	doc   *zone.Document
	trust *zone.Trust
	last  string // the name of the chain's newest receipt vector
	seq   int
	// bodies are the chain's receipts by vector name.
	bodies map[string][]byte
}

// write writes and loads trust.yaml as doc says.
func (z *chainZone) write() { z.trust = writeVectorZone(z.g.t, z.dir, z.doc) }

// add writes the next receipt of the chain as an ok receipt vector, with
// the facts of the run that made it: time.clock, and the deployed files
// (paths under the deploy root) when r.deployed is "-".
func (z *chainZone) add(r rv) {
	z.seq++
	_, st := z.g.openReceipt(r.body)
	p := &st.Predicate
	r.expect, r.signer, r.zone, r.seq, r.prev, r.storage = "ok", "receipt", vectorZoneName, strconv.Itoa(z.seq), z.last, vectorStorage
	if c := p.Time.Clock; c != nil {
		r.clock = clockUnsynchronised
		if c.Synchronised {
			r.clock = clockSynchronised
		}
	}
	if r.deployed == "-" {
		var files []string
		for _, f := range p.Files {
			rel, ok := strings.CutPrefix(f.Path, filepath.ToSlash(z.root)+"/")
			if !ok {
				z.g.t.Fatalf("%s: file %s is not under %s", r.name, f.Path, z.root)
			}
			sum := f.SHA256
			if sum == "" {
				// Format 3 records a file holding a sensitive value by a
				// keyed digest only: the header names the sha256 of the
				// file deployed, which the harness compares with it.
				data, err := os.ReadFile(filepath.FromSlash(f.Path))
				if err != nil {
					z.g.t.Fatalf("%s: %v", r.name, err)
				}
				sum = fmt.Sprintf("%x", sha256.Sum256(data))
			}
			s := rel + "=" + f.Mode + ":" + sum
			if f.Owner != "" || f.Group != "" {
				s += ":" + f.Owner + ":" + f.Group
			}
			files = append(files, s)
		}
		r.deployed = strings.Join(files, " ")
	}
	z.g.receipt(r)
	z.last = r.name
	z.bodies[r.name] = r.body
}

// receiptVectors apply bundle vectors in a zone, one after the other, and
// keep the receipts the applier signs: one hash chain from the zone's
// genesis record, through one apply of every outcome, to the policy
// commits, refusals, co-signatures, modes, sources, checks and pruned
// releases of format 2. Then receipts that fail verification are made
// from them.
func (g *generator) receiptVectors() {
	t := g.t
	bundles := map[string]*vector{}
	for _, v := range g.vectors {
		bundles[v.name] = v
	}
	apply, commit := g.applyReceipt, g.commitPolicy
	bundle := func(name string) string { return bundles[name].materialize(t, g.dir()) }

	z := &chainZone{g: g, dir: g.dir(), bodies: map[string][]byte{}}
	z.root = filepath.Join(z.dir, "srv")
	z.doc = vectorZoneDocument(t, vectorZoneName, vectorHost, vectorRoles, map[string]string{"Root": z.root})
	z.write()
	recorded, ok := string(receipt.Recorded), string(receipt.ReasonOK)
	z.add(rv{name: "genesis", body: commit(z.trust, "a new zone", nil), event: string(receipt.EventGenesis), outcome: recorded, reason: ok,
		comment: "the zone's genesis record: its first policy"})
	classic := []struct {
		name, bundle string
		outcome      receipt.OutcomeResult
		reason       receipt.Reason
		about        bool // the receipt names the verified bundle
		comment      string
	}{
		{"applied", "ok-folder", receipt.Applied, receipt.ReasonOK, true, "the first apply in the zone"},
		{"already-applied", "ok-folder", receipt.AlreadyApplied, receipt.ReasonAlreadyApplied, true, "the same bundle again: nothing ran"},
		{"refused", "signature-untrusted-key", receipt.Refused, receipt.Reason(receipt.CheckSignature), false,
			"a bundle signed by an untrusted key: refused, and what it claimed recorded as unverified"},
		{"rolled-back", "ok-step-fails", receipt.RolledBack, receipt.ReasonStepFailed, true, "release 1.1.0 whose check step fails: rolled back to 1.0.0"},
		{"failed", "ok-undo-fails", receipt.Failed, receipt.ReasonStepFailed, true, "release 1.2.0 whose check and failure steps fail"},
	}
	for _, c := range classic {
		r := rv{name: c.name, body: apply(Options{Bundle: bundle(c.bundle), Trust: z.trust}, c.outcome, c.reason),
			outcome: string(c.outcome), reason: string(c.reason), comment: c.comment}
		if c.about {
			r.bundle = c.bundle
		}
		z.add(r)
	}

	// Format 2: the host takes role web, an operator is named, and the
	// zone gives values, one of them from a file kept in the zone.
	addr := startCheckServer(t)
	writeGenFile(t, filepath.Join(z.dir, "secrets", "shop-secret"), []byte("zone-s3cret\n"))
	if err := os.Chmod(filepath.Join(z.dir, "secrets", "shop-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	z.doc.HostRoles = []string{"web"}
	z.doc.Operators = []zone.KeyRef{{Path: absVectorKey(t, "operator.pub"), Name: "Olga Operator"}}
	z.doc.Variables = map[string]zone.Value{"Root": {Literal: z.root}, "Addr": {Literal: addr}, "Secret": {FromFile: "secrets/shop-secret"}}
	z.write()
	z.add(rv{name: "policy-commit", body: commit(z.trust, "the web tier, its operator and values", nil), event: string(receipt.EventPolicy),
		changes: "host-role-added operator-first", outcome: recorded, reason: ok,
		comment: "a policy commit that weakens the policy: the host takes role web and an operator key is added (the zone's values change too)"})
	committed := *z.doc
	z.doc.Variables = maps.Clone(committed.Variables)
	z.doc.Variables["Banner"] = zone.Value{Literal: "uncommitted"}
	z.write()
	z.add(rv{name: "refused-policy-uncommitted", body: apply(Options{Bundle: bundle("ok-format2"), Trust: z.trust}, receipt.Refused, receipt.ReasonPolicyUncommitted),
		outcome: string(receipt.Refused), reason: string(receipt.ReasonPolicyUncommitted),
		comment: "trust.yaml changed and not committed: refused before the bundle is read"})
	*z.doc = committed
	z.write()
	z.add(rv{name: "refused-operator-unknown", body: apply(Options{Bundle: bundle("ok-format2"), Trust: z.trust, OperatorKey: g.k.signers["other"]},
		receipt.Refused, receipt.ReasonOperatorUnknown), outcome: string(receipt.Refused), reason: string(receipt.ReasonOperatorUnknown),
		comment: "an --operator-key that is not one of the policy's operators: refused, and not co-signed"})

	varFile := filepath.Join(z.dir, "vars.yaml")
	writeGenFile(t, varFile, []byte("Banner: {fromFile: banner.txt}\n\"Service:Port\": \"9090\"\n"))
	writeGenFile(t, filepath.Join(z.dir, "banner.txt"), []byte("zone banner\n"))
	operator := g.k.signers["operator"]
	apply2 := func(path string, want receipt.OutcomeResult, reason receipt.Reason) []byte {
		return apply(Options{Bundle: path, Trust: z.trust, VarFile: varFile, OperatorKey: operator}, want, reason)
	}
	z.add(rv{name: "applied-format2", body: apply2(bundle("ok-format2"), receipt.Applied, receipt.ReasonOK), bundle: "ok-format2",
		outcome: string(receipt.Applied), reason: ok, operator: "operator", sources: vectorSourcesChain, deployed: "-",
		checkSteps: vectorChecksOK, stdout: vectorMigrated, releases: "->releases/2.0.0 ->releases/2.0.0",
		comment: "release 2.0.0 of format 2, co-signed by the operator, with a var-file: variable sources, file modes, check steps, two deploy switches"})
	z.doc.RequireOperatorSignature = true
	z.write()
	z.add(rv{name: "policy-commit-cosigned", body: commit(z.trust, "co-signatures required", operator), event: string(receipt.EventPolicy),
		changes: "operator-signature-required", outcome: recorded, reason: ok, operator: "operator",
		comment: "a policy commit, co-signed by the operator, that requires co-signatures from now on"})
	z.add(rv{name: "refused-operator-unsigned", body: apply(Options{Bundle: bundle("ok-format2"), Trust: z.trust}, receipt.Refused, receipt.ReasonOperatorUnsigned),
		outcome: string(receipt.Refused), reason: string(receipt.ReasonOperatorUnsigned),
		comment: "an apply without the co-signature the policy requires: refused"})
	// The owner and group a files rule sets: the generating user's own, the
	// one owner a file can be given without root on every Unix.
	owned := g.build2(build2Spec{version: "2.1.0", seq: 5,
		extraRules: fmt.Sprintf("\n      - { match: index.html, owner: %q, group: %q }", strconv.Itoa(os.Getuid()), strconv.Itoa(os.Getgid()))})
	z.add(rv{name: "applied-owner", body: apply2(owned, receipt.Applied, receipt.ReasonOK),
		outcome: string(receipt.Applied), reason: ok, operator: "operator", sources: vectorSourcesChain, deployed: "-",
		checkSteps: vectorChecksOK, stdout: vectorMigrated, releases: "releases/2.0.0>releases/2.1.0 releases/2.0.0>releases/2.1.0",
		comment: "release 2.1.0, whose files rule gives index.html an owner and a group (the generating user's ids)"})
	z.add(rv{name: "rolled-back-check", body: apply2(bundle("ok-format2-check-fails"), receipt.RolledBack, receipt.ReasonStepFailed),
		bundle: "ok-format2-check-fails", outcome: string(receipt.RolledBack), reason: string(receipt.ReasonStepFailed), operator: "operator",
		sources: vectorSourcesChain, checkSteps: "http-health=failed:503 tcp-health=skipped:0", stdout: vectorMigrated,
		releases: "releases/2.1.0>releases/2.1.0 releases/2.1.0>releases/2.1.0",
		comment:  "release 2.2.0, whose http check answers 503: both deploys switched back to 2.1.0"})
	pruned := g.build2(build2Spec{version: "2.3.0", seq: 7})
	z.add(rv{name: "applied-pruned", body: apply2(pruned, receipt.Applied, receipt.ReasonOK),
		outcome: string(receipt.Applied), reason: ok, operator: "operator", sources: vectorSourcesChain, deployed: "-",
		checkSteps: vectorChecksOK, stdout: vectorMigrated, releases: "releases/2.1.0>releases/2.3.0 releases/2.1.0>releases/2.3.0", pruned: "web/releases/2.0.0",
		comment: "release 2.3.0: the web deploy keeps 1 release besides the one before, so 2.0.0 is removed"})

	g.unknownKeyReceipt(bundle("ok-folder"))
	g.brokenReceipts(z.bodies)
}

// applyReceipt applies as o says, at the vectors' time, and returns the
// receipt, which must say want and reason.
func (g *generator) applyReceipt(o Options, want receipt.OutcomeResult, reason receipt.Reason) []byte {
	g.t.Helper()
	o.Now, o.Version, o.Stdout, o.Stderr = func() time.Time { return vectorNow }, "vectors", io.Discard, io.Discard
	res, err := Apply(context.Background(), o)
	if res == nil || res.Outcome != want || res.Reason != reason {
		g.t.Fatalf("apply %s: %+v, %v (want %s %s)", o.Bundle, res, err, want, reason)
	}
	return g.read(res.Receipt)
}

// commitPolicy records trust's policy in its chain, co-signed by key when
// given, and returns the record.
func (g *generator) commitPolicy(trust *zone.Trust, note string, key *keys.Signer) []byte {
	g.t.Helper()
	operator := "Vector Operator"
	if key != nil {
		operator = "" // the key's name, as trust.yaml gives it
	}
	res, err := CommitPolicy(context.Background(), CommitOptions{Trust: trust, Operator: operator, Note: note, OperatorKey: key,
		Now: func() time.Time { return vectorNow }, Version: "vectors", Stderr: io.Discard})
	if err != nil || res.Unchanged {
		g.t.Fatalf("commit %s: %+v, %v", note, res, err)
	}
	return g.read(res.Receipt)
}

func (g *generator) read(path string) []byte {
	g.t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		g.t.Fatal(err)
	}
	return data
}

// unknownKeyReceipt is a valid receipt of a zone whose receipt key is not
// the one trusted: an apply of the bundle at path after its genesis.
func (g *generator) unknownKeyReceipt(path string) {
	t := g.t
	dir := g.dir()
	doc := vectorZoneDocument(t, vectorZoneName, vectorHost, vectorRoles, map[string]string{"Root": filepath.Join(dir, "srv")})
	doc.Receipts = zone.Receipts{Key: absVectorKey(t, "other-receipt.key"), PublicKey: absVectorKey(t, "other-receipt.pub")}
	trust := writeVectorZone(t, dir, doc)
	g.commitPolicy(trust, "another zone", nil)
	g.receipt(rv{name: "unknown-key", expect: "unknown-key", signer: "other-receipt", body: g.applyReceipt(Options{Bundle: path, Trust: trust}, receipt.Applied, receipt.ReasonOK),
		comment: "a valid receipt of a zone whose receipt key is not the one trusted"})
}

// brokenReceipts are receipts of the chain (bodies, by vector name) edited
// after signing (tampered-*), edited and signed again with the receipt key
// (invalid-*: a broken or malicious writer, against the rules of the
// format), or cut short (unparseable-truncated).
func (g *generator) brokenReceipts(bodies map[string][]byte) {
	t := g.t
	applied := bodies["applied"]
	env, st := g.openReceipt(applied)
	st.Predicate.Outcome.Message += " (edited)"
	env.Payload = base64.StdEncoding.EncodeToString(mustJSON(t, st))
	g.receipt(rv{name: "tampered-message", expect: "tampered", signer: "receipt", body: g.marshalEnvelope(env),
		comment: "the outcome message of the applied receipt edited after signing"})
	env, _ = g.openReceipt(applied)
	g.flipSignature(env, 0)
	g.receipt(rv{name: "tampered-signature", expect: "tampered", signer: "receipt", body: g.marshalEnvelope(env),
		comment: "one bit of the applied receipt's signature changed"})
	env, st = g.openReceipt(bodies["policy-commit"])
	st.Predicate.PolicyChange.Weakens = false
	for i := range st.Predicate.PolicyChange.Changes {
		st.Predicate.PolicyChange.Changes[i].Weakens = false
	}
	env.Payload = base64.StdEncoding.EncodeToString(mustJSON(t, st))
	g.receipt(rv{name: "tampered-policy-weakens", expect: "tampered", signer: "receipt", body: g.marshalEnvelope(env),
		comment: "the policy commit edited after signing to say it weakens nothing"})

	invalid := []struct {
		name, from, comment string
		edit                func(st *receipt.Statement)
	}{
		{"invalid-seq-zero", "applied", "seq 0", func(st *receipt.Statement) { st.Predicate.Seq, st.Predicate.PrevSHA256 = 0, "" }},
		{"invalid-format-version", "applied", "a format version no airlock reads", func(st *receipt.Statement) { st.Predicate.FormatVersion = futureFormat }},
		{"invalid-predicate-type", "applied", "the predicate type of a bundle", func(st *receipt.Statement) { st.PredicateType = bundle.PredicateType }},
		{"invalid-outcome", "applied", "an unknown outcome result", func(st *receipt.Statement) { st.Predicate.Outcome.Result = "exploded" }},
		{"invalid-event", "applied", "an unknown event", func(st *receipt.Statement) { st.Predicate.Event = "rollout" }},
		{"invalid-apply-recorded", "applied", "an apply whose outcome is that of a control record",
			func(st *receipt.Statement) { st.Predicate.Outcome.Result = receipt.Recorded }},
		{"invalid-genesis-seq-two", "genesis", "a genesis record at seq 2",
			func(st *receipt.Statement) { st.Predicate.Seq, st.Predicate.PrevSHA256 = 2, zeroDigest }},
		{"invalid-genesis-outcome", "genesis", "a genesis record whose outcome is applied",
			func(st *receipt.Statement) { st.Predicate.Outcome.Result = receipt.Applied }},
		{"invalid-policy-without-change", "policy-commit", "a policy commit that does not say what changed",
			func(st *receipt.Statement) { st.Predicate.PolicyChange = nil }},
		{"invalid-policy-without-policy", "policy-commit", "a policy commit that records no policy",
			func(st *receipt.Statement) { st.Predicate.Policy = nil }},
		{"invalid-variable-origin", "applied-format2", "a variable source of an unknown origin (co-signed by the operator too)",
			func(st *receipt.Statement) { st.Predicate.VariableSources[0].Origin = "dns" }},
	}
	for _, x := range invalid {
		_, st := g.openReceipt(bodies[x.from])
		x.edit(st)
		signers := []*keys.Signer{g.k.signers["receipt"]}
		if st.Predicate.Operator.Key != nil {
			signers = append(signers, g.k.signers["operator"])
		}
		env, err := dsse.Sign(dsse.InTotoPayloadType, mustJSON(t, st), signers...)
		if err != nil {
			t.Fatal(err)
		}
		g.receipt(rv{name: x.name, expect: "invalid", signer: "receipt", body: g.marshalEnvelope(env),
			comment: "signed by the zone's receipt key, but with " + x.comment})
	}
	env, _ = g.openReceipt(bodies["applied-format2"])
	if len(env.Signatures) != 2 {
		t.Fatalf("applied-format2: %d signatures, want the receipt key's and the operator's", len(env.Signatures))
	}
	env.Signatures = env.Signatures[:1]
	g.receipt(rv{name: "invalid-operator-signature-removed", expect: "invalid", signer: "receipt", body: g.marshalEnvelope(env),
		comment: "applied-format2 without the operator's co-signature that its statement names"})
	env, _ = g.openReceipt(bodies["applied-format2"])
	g.flipSignature(env, 1)
	g.receipt(rv{name: "invalid-operator-signature-altered", expect: "invalid", signer: "receipt", body: g.marshalEnvelope(env),
		comment: "applied-format2 with one bit of the operator's co-signature changed (the receipt key's signature still verifies)"})
	g.receipt(rv{name: "unparseable-truncated", expect: "unparseable", signer: "none", body: applied[:len(applied)/2],
		comment: "the first half of the applied receipt"})
}

// flipSignature changes one bit of signature i of env.
func (g *generator) flipSignature(env *dsse.Envelope, i int) {
	g.t.Helper()
	sig, err := base64.StdEncoding.DecodeString(env.Signatures[i].Sig)
	if err != nil {
		g.t.Fatal(err)
	}
	sig[len(sig)/2] ^= 0x01
	env.Signatures[i].Sig = base64.StdEncoding.EncodeToString(sig)
}
func absVectorKey(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(vectorKeys, name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// openReceipt decodes a receipt's envelope and statement without verifying.
func (g *generator) openReceipt(data []byte) (*dsse.Envelope, *receipt.Statement) {
	g.t.Helper()
	env, err := dsse.Read(bytes.NewReader(data), receipt.MaxSize)
	if err != nil {
		g.t.Fatal(err)
	}
	payload, err := dsse.PayloadOf(env)
	if err != nil {
		g.t.Fatal(err)
	}
	var st receipt.Statement
	if err := json.Unmarshal(payload, &st); err != nil {
		g.t.Fatal(err)
	}
	return env, &st
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// write writes the vectors of the format version this code writes, and
// replaces the fuzz seeds made from them. Other versions' folders are left
// alone.
func (g *generator) write() {
	t := g.t
	for _, pattern := range []string{"bundle/testdata/seed/*-" + seedTag() + "-*", "apply/stage/testdata/fuzz/FuzzExtract/" + seedTag() + "-*",
		"audit/testdata/fuzz/FuzzAudit/" + seedTag() + "-*"} {
		old, err := filepath.Glob(filepath.Join("..", pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range old {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	seen := map[string]bool{}
	for _, v := range g.vectors {
		path := filepath.Join(vectorVersionDir(), v.kind, v.name)
		if seen[path] {
			t.Fatalf("two vectors named %s", path)
		}
		seen[path] = true
		data := v.marshal()
		if _, err := parseVector(v.kind, v.name, data); err != nil {
			t.Fatalf("%s does not read back: %v", path, err)
		}
		writeGenFile(t, path, data)
	}
	for rel, data := range g.seeds {
		writeGenFile(t, filepath.Join("..", filepath.FromSlash(rel)), data)
	}
	t.Logf("wrote %d vectors and %d fuzz seeds", len(g.vectors), len(g.seeds))
}
