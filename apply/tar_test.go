//go:build unix

package apply

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/verify"
)

// TestMaliciousArchive: a trusted signer whose payload puts a link or a
// device where the manifest lists a regular file is refused before any step;
// nothing outside staging changes and the receipt says refused.
func TestMaliciousArchive(t *testing.T) {
	tests := []struct {
		name string
		hdr  tar.Header
	}{
		{"symlink out of the root", tar.Header{Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd", Mode: 0o777}},
		{"symlink up", tar.Header{Typeflag: tar.TypeSymlink, Linkname: "../../../../x", Mode: 0o777}},
		{"hardlink", tar.Header{Typeflag: tar.TypeLink, Linkname: "/etc/passwd", Mode: 0o644}},
		{"character device", tar.Header{Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o644}},
		{"fifo", tar.Header{Typeflag: tar.TypeFifo, Mode: 0o644}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z := newZone(t)
			dir := z.build("1.0.0", "true", 1)
			hdr := tt.hdr
			hdr.Name = "packages/web/index.html"
			z.replaceEntry(dir, &hdr)
			res, err := z.apply(dir)
			var ve *verify.Error
			if !errors.As(err, &ve) || ve.Check != "extract" || !strings.Contains(ve.Msg, "only regular files and directories") {
				t.Fatalf("err = %v, want an extract failure", err)
			}
			z.assertRefusedBeforeSteps(res, receipt.CheckExtract)
		})
	}
}

// TestHiddenSecondArchive: a trusted signer appends a second tar archive
// after the payload's end-of-archive marker, inside the signed plaintext
// (other tar readers, such as tar -i, would extract its entries). The
// apply refuses it as an extract failure naming what was found, before any
// step runs, and leaves nothing deployed or staged.
func TestHiddenSecondArchive(t *testing.T) {
	z := newZone(t)
	dir := z.build("1.0.0", "true", 1)
	var second bytes.Buffer
	tw := tar.NewWriter(&second)
	body := "#!/bin/sh\necho hidden\n"
	if err := tw.WriteHeader(&tar.Header{Name: "packages/web/hidden.sh", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(body))
	tw.Close()
	z.rewritePayload(dir, func(plain []byte) []byte { return append(plain, second.Bytes()...) })
	res, err := z.apply(dir)
	var ve *verify.Error
	if !errors.As(err, &ve) || ve.Check != "extract" || !strings.Contains(ve.Msg, "a second tar archive") || !strings.Contains(ve.Msg, "packages/web/hidden.sh") {
		t.Fatalf("err = %v, want an extract failure naming the second archive", err)
	}
	z.assertRefusedBeforeSteps(res, receipt.CheckExtract)
}

// replaceEntry rewrites a folder bundle's payload with the entry named
// hdr.Name replaced by hdr (no content), and signs the result with the
// trusted release key.
func (z *testZone) replaceEntry(dir string, hdr *tar.Header) {
	z.t.Helper()
	z.rewritePayload(dir, func(plain []byte) []byte {
		var out bytes.Buffer
		tr, tw := tar.NewReader(bytes.NewReader(plain)), tar.NewWriter(&out)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				z.t.Fatal(err)
			}
			if h.Name == hdr.Name {
				if err := tw.WriteHeader(hdr); err != nil {
					z.t.Fatal(err)
				}
				continue
			}
			if err := tw.WriteHeader(h); err != nil {
				z.t.Fatal(err)
			}
			if _, err := io.Copy(tw, tr); err != nil {
				z.t.Fatal(err)
			}
		}
		tw.Close()
		return out.Bytes()
	})
}

// rewritePayload replaces a folder bundle's payload plaintext (the tar
// stream) with edit's result, and signs the result with the trusted
// release key, with the true plaintext and part sizes and digests.
func (z *testZone) rewritePayload(dir string, edit func(plain []byte) []byte) {
	z.t.Helper()
	part := filepath.Join(dir, bundle.PayloadFile)
	ct, err := os.ReadFile(part)
	if err != nil {
		z.t.Fatal(err)
	}
	ar, err := age.Decrypt(bytes.NewReader(ct), z.f.Identity)
	if err != nil {
		z.t.Fatal(err)
	}
	zr, err := zstd.NewReader(ar)
	if err != nil {
		z.t.Fatal(err)
	}
	defer zr.Close()
	plain, err := io.ReadAll(zr)
	if err != nil {
		z.t.Fatal(err)
	}
	plain = edit(plain)
	var out bytes.Buffer
	aw, _ := age.Encrypt(&out, z.f.Identity.Recipient())
	zw, _ := zstd.NewWriter(aw)
	zw.Write(plain)
	zw.Close()
	aw.Close()
	if err := os.WriteFile(part, out.Bytes(), 0o644); err != nil {
		z.t.Fatal(err)
	}
	z.f.Resign(dir, func(st *bundle.Statement) {
		pl := &st.Predicate.Payload
		ps := sha256.Sum256(plain)
		cs := sha256.Sum256(out.Bytes())
		pl.PlaintextSize, pl.PlaintextSHA256 = int64(len(plain)), hex.EncodeToString(ps[:])
		pl.Parts[0].Size, pl.Parts[0].SHA256, pl.Size = int64(out.Len()), hex.EncodeToString(cs[:]), int64(out.Len())
		st.Subject = bundle.Subjects(&st.Predicate)
	}, z.f.Release)
}
