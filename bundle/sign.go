package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/keys"
)

// AddSignature adds signer's signature to the bundle at path, in place and
// atomically: in a folder, statement.dsse.json and SHA256SUMS are replaced;
// a single file is rewritten whole. It returns the (unverified) statement
// that was signed; callers should have verified or inspected the bundle.
func AddSignature(path string, signer *keys.Signer) (*Statement, error) {
	b, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	raw, err := b.ReadFile(StatementFile, MaxStatementSize)
	if err != nil {
		return nil, err
	}
	env, err := dsse.Read(bytes.NewReader(raw), MaxStatementSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", StatementFile, err)
	}
	payload, err := dsse.PayloadOf(env)
	if err != nil {
		return nil, err
	}
	st, err := ParseStatement(payload)
	if err != nil {
		return nil, err
	}
	if st.PredicateType != PredicateType {
		return nil, fmt.Errorf("%s: predicate type %q is not an airlock bundle", StatementFile, st.PredicateType)
	}
	if err := dsse.AddSignature(env, signer); err != nil {
		return nil, err
	}
	out, err := dsse.Marshal(env)
	if err != nil {
		return nil, err
	}
	if b.SingleFile() {
		return st, rewriteSingleFile(b, out)
	}
	return st, rewriteFolder(b, out)
}

func rewriteFolder(b *Bundle, envelope []byte) error {
	dir := b.Path()
	if err := atomicfile.WriteFile(filepath.Join(dir, StatementFile), envelope, 0o644); err != nil {
		return err
	}
	sums, err := b.ReadFile(SumsFile, 1<<20)
	if err != nil {
		return nil // SHA256SUMS is a convenience; a bundle without one stays without
	}
	return atomicfile.WriteFile(filepath.Join(dir, SumsFile), replaceSum(sums, StatementFile, envelope), 0o644)
}

// replaceSum rewrites the line of name in a SHA256SUMS file.
func replaceSum(sums []byte, name string, content []byte) []byte {
	sum := sha256.Sum256(content)
	lines := strings.SplitAfter(string(sums), "\n")
	for i, l := range lines {
		if strings.HasSuffix(strings.TrimRight(l, "\n"), "  "+name) {
			lines[i] = hex.EncodeToString(sum[:]) + "  " + name + "\n"
		}
	}
	return []byte(strings.Join(lines, ""))
}

// rewriteSingleFile copies the bundle into a new tar with the new envelope.
func rewriteSingleFile(b *Bundle, envelope []byte) error {
	work, err := os.MkdirTemp(filepath.Dir(b.Path()), ".airlock-sign-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	names := b.Names()
	for _, name := range names {
		var err error
		if name == StatementFile {
			err = os.WriteFile(filepath.Join(work, name), envelope, 0o644)
		} else {
			err = copyOut(b, name, filepath.Join(work, name))
		}
		if err != nil {
			return err
		}
	}
	if sums, err := os.ReadFile(filepath.Join(work, SumsFile)); err == nil {
		if err := os.WriteFile(filepath.Join(work, SumsFile), replaceSum(sums, StatementFile, envelope), 0o644); err != nil {
			return err
		}
	}
	b.Close() // Windows cannot rename over an open file
	return writeSingleFile(work, b.Path(), names)
}

func copyOut(b *Bundle, name, dst string) error {
	rc, err := b.OpenFile(name)
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := f.ReadFrom(rc); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
