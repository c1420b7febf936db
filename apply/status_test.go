//go:build unix

package apply

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/receipt"
)

// statusZone is a zone with five receipts: its genesis record, 1.0.0
// applied to z.root, 2.0.0 rolled back there, 3.0.0 applied to another
// target, and a refusal.
func statusZone(t *testing.T) (*testZone, string) {
	t.Helper()
	z := newZone(t)
	other := filepath.Join(z.dir, "other")
	if _, err := z.apply(z.build("1.0.0", "true", 1), func(o *Options) { o.Operator = "Jane Doe" }); err != nil {
		t.Fatal(err)
	}
	if _, err := z.apply(z.build("2.0.0", "exit 3", 2)); !errors.Is(err, ErrStepFailed) {
		t.Fatalf("2.0.0: %v", err)
	}
	varFile := filepath.Join(z.dir, "vars.yaml")
	if err := os.WriteFile(varFile, []byte("Root: "+other+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	z.now = z.now.Add(1)
	if _, err := z.apply(z.build("3.0.0", "true", 3), func(o *Options) { o.VarFile = varFile }); err != nil {
		t.Fatal(err)
	}
	old, _ := z.f.Build(bundletest.Options{YAML: release("0.9.0", "true"), Files: webFiles(), Sequence: 1, Secret: secret})
	if _, err := z.apply(old); err == nil {
		t.Fatal("a lower sequence was applied")
	}
	return z, other
}

func TestReadStatus(t *testing.T) {
	z, other := statusZone(t)
	st, err := ReadStatus(z.trust)
	if err != nil {
		t.Fatal(err)
	}
	if st.Zone != "test" || st.Host != "host1" || st.Receipts != 5 || st.Interrupted || len(st.Problems) != 0 {
		t.Fatalf("status %+v", st)
	}
	if len(st.Targets) != 2 {
		t.Fatalf("targets %+v, want 2", st.Targets)
	}
	// Sorted by path: <dir>/other before <dir>/srv.
	o, s := st.Targets[0], st.Targets[1]
	if o.Target != other || o.Current != "releases/3.0.0" || o.Link != o.Current || o.Previous != "" ||
		o.Bundle.Version != "3.0.0" || o.Bundle.Sequence != 3 || o.Receipt.Seq != 4 || o.ChannelSequence != 3 {
		t.Errorf("other target %+v", o)
	}
	// The rollback of 2.0.0 left 1.0.0 current: the first receipt put it there.
	if s.Target != z.root || s.Current != "releases/1.0.0" || s.Link != s.Current || s.Bundle.Version != "1.0.0" ||
		s.Receipt.Seq != 2 || s.Operator.Name != "Jane Doe" || !s.AppliedAt.Equal(z.now.Add(-1)) || s.Receipt.SHA256 == "" {
		t.Errorf("srv target %+v", s)
	}
	if len(st.Channels) != 1 || st.Channels[0].Sequence != 3 || st.Channels[0].Version != "3.0.0" || st.Channels[0].Receipt != 4 {
		t.Errorf("channels %+v", st.Channels)
	}

	// Someone else switches the link: status shows it.
	if err := os.Remove(filepath.Join(z.root, "current")); err != nil {
		t.Fatal(err)
	}
	st, _ = ReadStatus(z.trust)
	if st.Targets[1].Link != "" || st.Targets[1].Current != "releases/1.0.0" {
		t.Errorf("after the link was removed: %+v", st.Targets[1])
	}
}

func TestReadHistory(t *testing.T) {
	z, _ := statusZone(t)
	h, err := ReadHistory(z.trust, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range h {
		got = append(got, string(e.Outcome)+" "+e.Bundle.Version)
	}
	want := "refused 0.9.0,applied 3.0.0,rolled-back 2.0.0,applied 1.0.0,recorded "
	if strings.Join(got, ",") != want {
		t.Errorf("history %s, want %s", strings.Join(got, ","), want)
	}
	if h[1].Release == nil || h[1].Release.Target == "" || h[0].Reason != receipt.Reason(receipt.CheckSequence) {
		t.Errorf("entries %+v %+v", h[0], h[1])
	}
	// The receipt of the rolled-back apply records the switch it undid.
	if r := h[2].Releases; len(r) != 1 || r[0].Target != z.root || r[0].Previous != "releases/1.0.0" || r[0].Current != "releases/1.0.0" {
		t.Errorf("rolled-back releases %+v", r)
	}
	if h, err := ReadHistory(z.trust, 2); err != nil || len(h) != 2 || h[0].Receipt.Seq != 5 || h[1].Receipt.Seq != 4 {
		t.Errorf("-n 2: %v %+v", err, h)
	}
}

// TestStatusReceiptProblems: a receipt that does not verify, and a missing
// one, are reported and never used.
func TestStatusReceiptProblems(t *testing.T) {
	z, _ := statusZone(t)
	dir := filepath.Join(z.trust.StateDir, "receipts")
	bundletest.FlipByte(t, filepath.Join(dir, receipt.FileName("test", "host1", 4)), -40)
	if err := os.Remove(filepath.Join(dir, receipt.FileName("test", "host1", 2))); err != nil {
		t.Fatal(err)
	}
	st, err := ReadStatus(z.trust)
	var ve *receipt.VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("ReadStatus: %v, want a *receipt.VerifyError", err)
	}
	// Receipt 4 (the other target) is not used; receipt 2 is gone.
	if len(st.Targets) != 0 {
		t.Errorf("targets %+v, want none from unverified or missing receipts", st.Targets)
	}
	problems := strings.Join(st.Problems, "\n")
	// Receipt 5 names receipt 4, which cannot be read: only receipt 4 is a problem.
	if len(st.Problems) != 2 {
		t.Errorf("problems %q, want 2", st.Problems)
	}
	// (The flipped byte is not UTF-8: strict JSON refuses the envelope
	// before its signature is checked.)
	for _, want := range []string{"receipt 3: receipt 2 is missing", "receipt 4: receipt verification failed: envelope"} {
		if !strings.Contains(problems, want) {
			t.Errorf("problems\n%s\nwant %q", problems, want)
		}
	}
	h, err := ReadHistory(z.trust, 0)
	if !errors.As(err, &ve) || len(h) != 4 || h[1].Verified || h[0].Problem != "" || h[2].Problem == "" {
		t.Errorf("history: %v %+v", err, h)
	}
}

// TestStatusTargetOfV1Receipt: a format 1 receipt has no release.target;
// the target is where its files were deployed.
func TestStatusTargetOfV1Receipt(t *testing.T) {
	e := HistoryEntry{Release: &receipt.Release{Current: "releases/1.0"},
		files: []receipt.File{{Path: "/srv/app/releases/1.0/conf/app.conf"}}}
	if got := e.switches(); len(got) != 1 || got[0].Target != "/srv/app" || got[0].Current != "releases/1.0" {
		t.Errorf("switches %+v, want /srv/app", got)
	}
	e.files = nil
	if got := e.switches(); len(got) != 0 {
		t.Errorf("switches %+v without files, want none", got)
	}
}

// TestStatusSecretFiles: status checks the deployed files that hold a
// secret against their keyed digests — with the key in use or a retired
// one — and says which changed, which are gone and which it cannot check.
func TestStatusSecretFiles(t *testing.T) {
	z := newZone(t)
	if _, err := z.apply(z.build("1.0.0", "true", 1)); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(z.root, "releases", "1.0.0", "conf", "app.conf")
	secretFiles := func() SecretFiles {
		t.Helper()
		st, err := ReadStatus(z.trust)
		if err != nil || len(st.Targets) != 1 || st.Targets[0].SecretFiles == nil {
			t.Fatalf("status %+v: %v", st, err)
		}
		return *st.Targets[0].SecretFiles
	}
	if sf := secretFiles(); sf.Files != 1 || len(sf.Changed)+len(sf.Missing)+len(sf.Unchecked) != 0 {
		t.Fatalf("as deployed: %+v", sf)
	}
	// A rotated key still checks what it recorded.
	os.Mkdir(filepath.Join(z.trust.StateDir, retiredKeysDir), 0o700)
	retired := filepath.Join(z.trust.StateDir, retiredKeysDir, "2026-11.key")
	if err := os.Rename(filepath.Join(z.trust.StateDir, fileKeyName), retired); err != nil {
		t.Fatal(err)
	}
	if sf := secretFiles(); sf.Files != 1 || len(sf.Changed)+len(sf.Unchecked) != 0 {
		t.Fatalf("with the key retired: %+v", sf)
	}
	data, _ := os.ReadFile(conf)
	os.WriteFile(conf, append(data, "debug=true\n"...), 0o600)
	if sf := secretFiles(); len(sf.Changed) != 1 || !strings.HasSuffix(sf.Changed[0], "/conf/app.conf") {
		t.Fatalf("changed: %+v", sf)
	}
	os.Remove(conf)
	os.Symlink("/dev/zero", conf) // not the file deployed, and never read
	if sf := secretFiles(); len(sf.Missing) != 1 {
		t.Fatalf("replaced by a link: %+v", sf)
	}
	os.Remove(retired)
	if sf := secretFiles(); len(sf.Unchecked) != 1 || len(sf.Missing) != 0 {
		t.Fatalf("without its key: %+v", sf)
	}
	// The next apply makes a new key.
	if _, err := z.apply(z.build("2.0.0", "true", 2)); err != nil {
		t.Fatal(err)
	}
	if sf := secretFiles(); sf.Files != 1 || len(sf.Changed)+len(sf.Missing)+len(sf.Unchecked) != 0 {
		t.Fatalf("after a new key: %+v", sf)
	}
}

// TestStatusByApplication: status groups targets and channels by
// application, trust.yaml's listed ones with their roots; history names
// each apply's application.
func TestStatusByApplication(t *testing.T) {
	z := newZone(t)
	blogRoot := filepath.Join(z.dir, "blog")
	z.applications("  shop: { roots: [" + z.root + "] }\n  blog: { roots: [" + blogRoot + "], variables: { Root: " + blogRoot + " } }\n  idle: { roots: [/srv/idle] }\n")
	z.mustApply(z.buildApp("shop", "1.0.0", 1, 3))
	z.mustApply(z.buildApp("blog", "0.1.0", 1, 3))
	st, err := ReadStatus(z.trust)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range st.Applications {
		got = append(got, fmt.Sprintf("%s %v %v %v", a.Name, a.Roots, a.Targets, a.Channels))
	}
	want := []string{"blog [" + blogRoot + "] [" + blogRoot + "] [stable]", "idle [/srv/idle] [] []", "shop [" + z.root + "] [" + z.root + "] [stable]"}
	if !slices.Equal(got, want) {
		t.Errorf("applications\n%q\nwant\n%q", got, want)
	}
	if len(st.Targets) != 2 || st.Targets[0].Application != "blog" || st.Targets[1].Application != "shop" {
		t.Errorf("targets %+v", st.Targets)
	}
	h, err := ReadHistory(z.trust, 0)
	if err != nil {
		t.Fatal(err)
	}
	var apps []string
	for _, e := range h {
		apps = append(apps, e.Application)
	}
	if !slices.Equal(apps, []string{"blog", "shop", "", ""}) {
		t.Errorf("history applications %q", apps)
	}
}

// TestStatusReadsTheFullFileList: beyond the files a receipt lists
// itself, status reads the list beside it, only when it is the one the
// receipt records.
func TestStatusReadsTheFullFileList(t *testing.T) {
	dir := t.TempDir()
	sum := strings.Repeat("ab", 32)
	files := []receipt.File{{Path: "/srv/a/releases/1/x", SHA256: sum}, {Path: "/srv/a/releases/1/y", TemplateSHA256: sum, HMACSHA256: sum, HMACKey: "k"}}
	list := receipt.FilesList(files)
	os.WriteFile(filepath.Join(dir, "r.files"), list, 0o640)
	d := sha256.Sum256(list)
	e := HistoryEntry{files: files[:1], filesList: "r.files", filesSHA: hex.EncodeToString(d[:]), filesTotal: 2}
	zr := &zoneReceipts{dir: dir}
	if got, err := zr.deployedFiles(e); err != nil || !slices.Equal(got, files) {
		t.Fatalf("deployedFiles = %+v, %v", got, err)
	}
	os.WriteFile(filepath.Join(dir, "r.files"), list[1:], 0o640)
	if got, err := zr.deployedFiles(e); err == nil || len(got) != 1 {
		t.Fatalf("an edited list: %+v, %v", got, err)
	}
}
