package bundle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/keys"
)

// AddSignature adds signer's signature to the bundle at path, in place. A
// single file is rewritten whole, atomically. In a folder,
// statement.dsse.json and SHA256SUMS are replaced one after the other, in
// steps that each leave the folder consistent (see folderSignSteps), so a
// kill at any moment leaves no SHA256SUMS line that disagrees with its
// file. It returns the (unverified) statement that was signed; callers
// should have verified or inspected the bundle. ctx canceled (a signal)
// stops it before the bundle is changed, and its temporary files are
// removed; those of a signature that was killed are removed by the next.
func AddSignature(ctx context.Context, path string, signer *keys.Signer) (*Statement, error) {
	b, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	dir, name := filepath.Split(filepath.Clean(path))
	sweepOutput(dir, name)
	if !b.SingleFile() {
		atomicfile.Sweep(b.Path(), atomicfile.TempTag, false)
	}
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
	sums, err := b.ReadFile(SumsFile, 1<<20)
	if err != nil || b.SingleFile() {
		sums = nil // SHA256SUMS is a convenience; a bundle without one stays without
	}
	if err := dsse.AddSignature(env, signer); err != nil {
		// Signed already, perhaps by a sign that was interrupted before it
		// put the statement's line back into SHA256SUMS: finish that.
		if fixed := setSum(sums, StatementFile, raw); sums != nil && !bytes.Equal(fixed, sums) {
			if werr := atomicfile.WriteFile(filepath.Join(b.Path(), SumsFile), fixed, 0o644); werr != nil {
				return nil, errors.Join(err, werr)
			}
		}
		return nil, err
	}
	out, err := dsse.Marshal(env)
	if err != nil {
		return nil, err
	}
	if err := checkBuilt(st, out, 0); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if b.SingleFile() {
		return st, rewriteSingleFile(ctx, b, out)
	}
	for _, step := range folderSignSteps(b.Path(), sums, out) {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// signTag names the work directory of a single-file signature.
const signTag = ".sign-"

// folderSignSteps are the atomic replacements that put envelope into the
// folder bundle dir whose SHA256SUMS holds sums (nil: none). Two files
// cannot be replaced at once, so SHA256SUMS first loses the statement's
// line, then the statement is replaced, then SHA256SUMS gets the new line:
// after each step every line of SHA256SUMS matches its file (sha256sum -c
// passes), and a sign run again completes an interrupted one.
func folderSignSteps(dir string, sums, envelope []byte) []func() error {
	write := func(name string, data []byte) func() error {
		return func() error { return atomicfile.WriteFile(filepath.Join(dir, name), data, 0o644) }
	}
	if sums == nil {
		return []func() error{write(StatementFile, envelope)}
	}
	return []func() error{
		write(SumsFile, setSum(sums, StatementFile, nil)),
		write(StatementFile, envelope),
		write(SumsFile, setSum(sums, StatementFile, envelope)),
	}
}

// setSum returns a SHA256SUMS file with the line of name set to the digest
// of content — first, where build puts the statement's, if it had none —
// or, for nil content, removed.
func setSum(sums []byte, name string, content []byte) []byte {
	var line string
	if content != nil {
		sum := sha256.Sum256(content)
		line = hex.EncodeToString(sum[:]) + "  " + name + "\n"
	}
	var out []string
	done := false
	for _, l := range strings.SplitAfter(string(sums), "\n") {
		if l == "" {
			continue
		}
		if strings.HasSuffix(strings.TrimRight(l, "\n"), "  "+name) {
			if !done {
				out = append(out, line)
			}
			done = true
			continue
		}
		out = append(out, l)
	}
	if !done {
		out = append([]string{line}, out...)
	}
	return []byte(strings.Join(out, ""))
}

// rewriteSingleFile copies the bundle into a new tar with the new envelope.
func rewriteSingleFile(ctx context.Context, b *Bundle, envelope []byte) error {
	dir, name := filepath.Split(filepath.Clean(b.Path()))
	work, err := atomicfile.MkdirTemp(filepath.Join(dir, "."), "."+name+signTag)
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
			err = copyOut(ctx, b, name, filepath.Join(work, name))
		}
		if err != nil {
			return err
		}
	}
	if sums, err := os.ReadFile(filepath.Join(work, SumsFile)); err == nil {
		if err := os.WriteFile(filepath.Join(work, SumsFile), setSum(sums, StatementFile, envelope), 0o644); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.Close() // Windows cannot rename over an open file
	return writeSingleFile(work, b.Path(), names)
}

func copyOut(ctx context.Context, b *Bundle, name, dst string) error {
	rc, err := b.OpenFile(name)
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := f.ReadFrom(ctxReader{ctx, rc}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ctxReader stops reading when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
