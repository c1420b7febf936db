//go:build unix

package apply

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/receipt"
)

// buildBig builds shop at version with web/blob.bin of big random bytes.
func (z *testZone) buildBig(version string, seq uint64, files map[string]string) string {
	z.t.Helper()
	if files == nil {
		files = webFiles()
	}
	dir, _ := z.f.Build(bundletest.Options{YAML: release(version, "true"), Files: files, Sequence: seq, Secret: secret, Big: 600 << 10})
	return dir
}

// inventory reads the inventory list beside the receipt in dir (the
// state's receipts folder or the media) and checks it against p.
func inventory(t *testing.T, dir string, p *receipt.Predicate) map[string]int64 {
	t.Helper()
	if p.Inventory == nil {
		t.Fatal("the receipt records no inventory")
	}
	f, err := os.Open(filepath.Join(dir, p.Inventory.List))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]int64{}
	if err := receipt.ReadInventory(f, p.Inventory, func(o receipt.Object) error { out[o.Hex()] = o.Size; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func sumHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// TestInventory: a successful apply stores the release's content as
// shipped and lists it, with the chunks of its large file, beside its
// receipt in the state directory and on the media; no substituted secret
// is ever stored; the store is pruned with the releases.
func TestInventory(t *testing.T) {
	z := newZone(t)
	res, err := z.apply(z.buildBig("1.0.0", 1, nil))
	if err != nil {
		t.Fatalf("%v\n%s", err, z.out.String())
	}
	p := z.receipt(res)
	inv := inventory(t, filepath.Dir(res.Receipt), p)
	if !bytes.Equal(mustRead(t, filepath.Join(filepath.Dir(res.Receipt), p.Inventory.List)), mustRead(t, filepath.Join(z.media(), p.Inventory.List))) {
		t.Error("the media's inventory differs from the state's")
	}
	if _, ok := inv[sumHex(webFiles()["web/conf/app.conf"])]; !ok {
		t.Error("the config template, as shipped, is not in the inventory")
	}
	blob := mustRead(t, filepath.Join(z.root, "current", "blob.bin"))
	if _, ok := inv[sumHex(string(blob))]; !ok {
		t.Error("the large file is not in the inventory")
	}
	if len(inv) < 3+len(blob)/(256<<10) {
		t.Errorf("%d objects: the large file's chunks are missing", len(inv))
	}
	noSecretStored(t, z)

	// Three more releases, keep 3: the first one's content is pruned.
	for i, v := range []string{"1.1.0", "1.2.0", "1.3.0"} {
		files := webFiles()
		files["web/index.html"] = "<p>shop " + v + "</p>\n"
		if _, err := z.apply(z.buildBig(v, uint64(i+2), files)); err != nil {
			t.Fatalf("%v\n%s", err, z.out.String())
		}
	}
	last := z.chain()[len(z.chain())-1]
	inv = inventory(t, filepath.Join(z.trust.StateDir, "receipts"), last)
	if _, ok := inv[sumHex(webFiles()["web/index.html"])]; ok {
		t.Error("content of a pruned release is still in the inventory")
	}
	if _, ok := inv[sumHex("<p>shop 1.1.0</p>\n")]; !ok {
		t.Error("content of a kept release is not in the inventory")
	}
	objs, _ := os.ReadDir(filepath.Join(z.trust.StateDir, "store", "objects"))
	if want := 3*2 + 1; len(objs) != want { // 3 index.html, 3 blobs, one app.conf
		t.Errorf("the store holds %d objects, want %d", len(objs), want)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// noSecretStored checks that no file of the store holds the secret.
func noSecretStored(t *testing.T, z *testZone) {
	t.Helper()
	filepath.WalkDir(filepath.Join(z.trust.StateDir, "store"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && bytes.Contains(mustRead(t, p), []byte(secret)) {
			t.Errorf("%s holds the substituted secret", p)
		}
		return nil
	})
}
