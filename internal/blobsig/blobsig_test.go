package blobsig

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"testing/iotest"

	"airlock.dev/airlock/internal/keys"
)

func newSigner(t testing.TB) *keys.Signer {
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

func TestSignVerify(t *testing.T) {
	s, other := newSigner(t), newSigner(t)
	data := []byte("0123abcd  airlock-linux-amd64\n")
	sig, err := Sign(s, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.ContainsAny(sig, "\n ") {
		t.Fatalf("signature text has white space: %q", sig)
	}
	if err := Verify(s.Public(), bytes.NewReader(data), append(sig, '\n')); err != nil {
		t.Fatalf("own signature rejected: %v", err)
	}
	flipped := bytes.Clone(data)
	flipped[0] ^= 1
	raw, _ := base64.StdEncoding.DecodeString(string(sig))
	tests := []struct {
		name string
		data []byte
		sig  []byte
		msg  string
	}{
		{"changed data", flipped, sig, "does not match key"},
		{"raw DER, not base64", data, raw, "not a base64 signature"},
		{"empty", data, nil, "not a base64 signature"},
		{"oversized", data, bytes.Repeat([]byte("A"), MaxSignatureSize+1), "larger than"},
		{"base64 of garbage", data, []byte(base64.StdEncoding.EncodeToString([]byte("garbage"))), "does not match key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(s.Public(), bytes.NewReader(tc.data), tc.sig)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want ErrInvalid with %q", err, tc.msg)
			}
		})
	}
	if err := Verify(other.Public(), bytes.NewReader(data), sig); !errors.Is(err, ErrInvalid) {
		t.Fatalf("another key accepted the signature: %v", err)
	}
	// A file that cannot be read is not a bad signature: it could not be checked.
	broken := iotest.TimeoutReader(iotest.OneByteReader(bytes.NewReader(data)))
	if err := Verify(s.Public(), broken, sig); err == nil || errors.Is(err, ErrInvalid) {
		t.Fatalf("read error reported as %v, want an error that is not ErrInvalid", err)
	}
}

func FuzzVerify(f *testing.F) {
	s := newSigner(f)
	sig, err := Sign(s, strings.NewReader("data"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sig)
	f.Add([]byte("MEUCIQ=="))
	f.Fuzz(func(t *testing.T, text []byte) {
		err := Verify(s.Public(), strings.NewReader("data"), text)
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("failure without ErrInvalid: %v", err)
		}
	})
}
