package sigbundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"airlock.dev/airlock/internal/blobsig"
	"airlock.dev/airlock/internal/keys"
)

func newKey(t *testing.T) *keys.Signer {
	t.Helper()
	priv, _, err := keys.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := keys.ParsePrivate(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewVerify(t *testing.T) {
	k, other := newKey(t), newKey(t)
	data := []byte("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  airlock-linux-amd64\n")
	sig, err := blobsig.Sign(k, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(k.Public(), data, sig)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(k.Public(), data, bytes.NewReader(b)); err != nil {
		t.Fatalf("a good bundle: %v\n%s", err, b)
	}
	if !bytes.Contains(b, []byte(`"mediaType": "`+MediaType+`"`)) {
		t.Errorf("bundle:\n%s", b)
	}

	changed := bytes.Replace(data, []byte("9f"), []byte("8f"), 1)
	if err := Verify(k.Public(), changed, bytes.NewReader(b)); !errors.Is(err, ErrMismatch) {
		t.Errorf("other data: %v", err)
	}
	if err := Verify(other.Public(), data, bytes.NewReader(b)); !errors.Is(err, ErrMismatch) {
		t.Errorf("another key: %v", err)
	}
	// A signature of another key, under this key's hint: the signature decides.
	otherSig, _ := blobsig.Sign(other, bytes.NewReader(data))
	forged := bytes.Replace(b, sig, otherSig, 1)
	if err := Verify(k.Public(), data, bytes.NewReader(forged)); !errors.Is(err, blobsig.ErrInvalid) {
		t.Errorf("a signature by another key: %v", err)
	}
	// New refuses a signature that does not verify.
	if _, err := New(k.Public(), data, otherSig); !errors.Is(err, blobsig.ErrInvalid) {
		t.Errorf("New with another key's signature: %v", err)
	}
	// Strict: an unknown member, a transparency log entry it cannot check.
	withTlog := bytes.Replace(b, []byte(`"publicKey"`), []byte(`"tlogEntries": [], "publicKey"`), 1)
	if err := Verify(k.Public(), data, bytes.NewReader(withTlog)); err == nil || !strings.Contains(err.Error(), "tlogEntries") {
		t.Errorf("a bundle with tlogEntries: %v", err)
	}
	wrongType := bytes.Replace(b, []byte("v0.3"), []byte("v0.1"), 1)
	if err := Verify(k.Public(), data, bytes.NewReader(wrongType)); err == nil {
		t.Error("a v0.1 bundle verified")
	}
}

// TestCosignBundle: a bundle written by cosign sign-blob --key --bundle
// (v3.1.4, no transparency log) verifies, and its hint is the one Hint
// computes.
func TestCosignBundle(t *testing.T) {
	pub, err := keys.LoadPublic("testdata/cosign.pub")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("testdata/hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("testdata/hello.txt.sigstore.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Verify(pub, data, f); err != nil {
		t.Fatal(err)
	}
}

// FuzzVerify: no input makes Verify panic, and whatever verifies is a
// bundle of this file's digest.
func FuzzVerify(f *testing.F) {
	good, err := os.ReadFile("testdata/hello.txt.sigstore.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`))
	pub, err := keys.LoadPublic("testdata/cosign.pub")
	if err != nil {
		f.Fatal(err)
	}
	data, err := os.ReadFile("testdata/hello.txt")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if Verify(pub, data, bytes.NewReader(b)) != nil {
			return
		}
		var got Bundle
		if err := json.Unmarshal(b, &got); err != nil || got.MessageSignature.MessageDigest.Digest != "WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM=" {
			t.Errorf("verified without the file's digest (%v):\n%s", err, b)
		}
	})
}
