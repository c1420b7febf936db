package apply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/internal/structured"
	"airlock.dev/airlock/receipt"
)

// deployFiles is what a deploy step does to the files it writes, beyond
// putting the signed bytes in place: #{…} substitution in the files its
// substitute globs select, then structured replacement (values at the key
// paths that variables name) in those its structured globs select; and
// the mode, owner and group of each file: its files: rules, in order, a
// later rule winning, and a file into which a sensitive value went is
// readable by its owner only (0600, or 0700 when executable) unless a
// rule sets its mode. A file that needs none of this is left as staged.
type deployFiles struct {
	// ctx ends the step's work on the files (its timeout, a signal):
	// each file, each chunk copied and the structured replacement check it.
	ctx        context.Context
	substitute []string
	structured []string
	rules      []fileRule
	vars       *variables
	// key is the host's file digest key, for the files a sensitive value
	// went into (see filekey.go).
	key func() (*fileKey, error)
}

// fileDigest is what the receipt records of a file's content: its
// sha256 — or, for a file a sensitive value went into, the sha256 of the
// file as shipped and the keyed digest of the file as deployed, never its
// plain digest.
type fileDigest struct {
	sha256, template, hmac, keyID string
}

// digest is the digest to record of a file deployed with content data,
// staged as template, holding a sensitive value or not.
func (d *deployFiles) digest(template, data []byte, sensitive bool) (fileDigest, error) {
	if !sensitive {
		sum := sha256.Sum256(data)
		return fileDigest{sha256: hex.EncodeToString(sum[:])}, nil
	}
	k, err := d.key()
	if err != nil {
		return fileDigest{}, err
	}
	sum := sha256.Sum256(template)
	return fileDigest{template: hex.EncodeToString(sum[:]), hmac: k.sum(data), keyID: k.id}, nil
}

// fileRule is a files: rule with its owner and group looked up.
type fileRule struct {
	bundle.FileRule
	uid, gid int // -1: not set
}

// newDeployFiles looks up the owners and groups of step s's files: rules,
// so that an unknown one fails the step before anything is written.
func newDeployFiles(ctx context.Context, m *bundle.Manifest, s *bundle.Step, vars *variables, key func() (*fileKey, error)) (*deployFiles, error) {
	d := &deployFiles{ctx: ctx, substitute: m.SubstituteGlobs(s), structured: s.Structured, vars: vars, key: key}
	for i, r := range s.Files {
		fr, err := lookupRule(r)
		if err != nil {
			return nil, fmt.Errorf("files[%d]: %w", i, err)
		}
		d.rules = append(d.rules, fr)
	}
	return d, nil
}

// rewrites reports whether the content of package file rel changes.
func (d *deployFiles) rewrites(rel string) bool {
	return matchAny(d.substitute, rel) || matchAny(d.structured, rel)
}

// fileAttrs are the mode, owner and group of one deployed file.
type fileAttrs struct {
	mode         fs.FileMode
	uid, gid     int    // -1: as created
	owner, group string // as the rule names them
}

// attrs returns the attributes of package file rel, whose manifest mode is
// mode, holding a sensitive value or not.
func (d *deployFiles) attrs(rel string, mode fs.FileMode, sensitive bool) fileAttrs {
	a := fileAttrs{mode: mode, uid: -1, gid: -1}
	byRule := false
	for _, r := range d.rules {
		if !bundle.MatchGlob(r.Match, rel) {
			continue
		}
		if r.Mode != 0 {
			a.mode, byRule = fs.FileMode(r.Mode), true
		}
		if r.Owner != "" {
			a.owner, a.uid = r.Owner, r.uid
		}
		if r.Group != "" {
			a.group, a.gid = r.Group, r.gid
		}
	}
	if sensitive && !byRule {
		a.mode &^= 0o077
	}
	return a
}

// set gives the open file f the attributes: owner and group first, since
// a change of owner may clear mode bits.
func (a fileAttrs) set(f *os.File) error {
	if a.uid >= 0 || a.gid >= 0 {
		if err := f.Chown(a.uid, a.gid); err != nil {
			return a.chownError(err)
		}
	}
	return f.Chmod(a.mode)
}

func (a fileAttrs) chownError(err error) error {
	what := ""
	switch {
	case a.owner != "" && a.group != "":
		what = "owner " + a.owner + " and group " + a.group
	case a.owner != "":
		what = "owner " + a.owner
	default:
		what = "group " + a.group
	}
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("set %s: %w (giving a file to another user, or to a group the applying user is not in, needs root)", what, err)
	}
	return fmt.Errorf("set %s: %w", what, err)
}

// file is the receipt's record of the file deployed at path with digest
// dg. Windows has no Unix modes: none is recorded there.
func (a fileAttrs) file(path string, dg fileDigest) receipt.File {
	f := receipt.File{Path: path, SHA256: dg.sha256, Owner: a.owner, Group: a.group,
		TemplateSHA256: dg.template, HMACSHA256: dg.hmac, HMACKey: dg.keyID}
	if runtime.GOOS != "windows" {
		f.Mode = fmt.Sprintf("%04o", uint32(a.mode))
	}
	return f
}

// content returns package file rel (its content data) as deployed, and
// whether a sensitive value went into it. Errors name the file.
func (d *deployFiles) content(rel string, data []byte) ([]byte, bool, error) {
	sensitive := false
	if matchAny(d.substitute, rel) {
		out, s, err := d.vars.expandFile(data)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", rel, err)
		}
		data, sensitive = out, s
	}
	if matchAny(d.structured, rel) {
		res, err := structured.ReplaceContext(d.ctx, rel, data, d.vars.values)
		if err != nil {
			return nil, false, err // a *structured.ParseError or *ValueError names rel
		}
		for _, ap := range res.Applied {
			d.vars.used[ap.Name] = true
			sensitive = sensitive || d.vars.sensitive[ap.Name]
		}
		data = res.Data
	}
	return data, sensitive, nil
}

// readForRewrite reads a staged file whose content is to change.
func readForRewrite(p, rel string) ([]byte, error) {
	in, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	data, err := io.ReadAll(io.LimitReader(in, bundle.MaxSubstituteSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > bundle.MaxSubstituteSize {
		return nil, fmt.Errorf("%s: larger than %d bytes: too large for substitution", rel, bundle.MaxSubstituteSize)
	}
	return data, nil
}

// copy writes staged file src (package file rel, of the given mode) to
// dst, a new file, and returns its digest and attributes.
func (d *deployFiles) copy(src, dst, rel string, mode fs.FileMode) (fileDigest, fileAttrs, error) {
	var data []byte
	var dg fileDigest
	a := d.attrs(rel, mode, false)
	rewritten := d.rewrites(rel)
	if rewritten {
		in, err := readForRewrite(src, rel)
		if err != nil {
			return dg, a, err
		}
		var sensitive bool
		if data, sensitive, err = d.content(rel, in); err != nil {
			return dg, a, err
		}
		if dg, err = d.digest(in, data, sensitive); err != nil {
			return dg, a, err
		}
		a = d.attrs(rel, mode, sensitive)
	}
	// Created readable by its owner only; its attributes are set before
	// it is closed, whatever the umask.
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return dg, a, err
	}
	h := sha256.New()
	if rewritten {
		_, err = out.Write(data)
	} else {
		err = copyFrom(d.ctx, io.MultiWriter(out, h), src)
		dg.sha256 = hex.EncodeToString(h.Sum(nil))
	}
	if err == nil {
		err = a.set(out)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return dg, a, fmt.Errorf("%s: %w", rel, err)
	}
	return dg, a, nil
}

func copyFrom(ctx context.Context, w io.Writer, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	_, err = io.Copy(w, ctxReader{ctx, in})
	return err
}

// ctxReader reads from r until ctx is done, then fails with ctx's cause.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if c.ctx.Err() != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.r.Read(p)
}

// finish completes a staged file moved into the release in place: p is
// package file rel, staged with the given mode and digest sum. A file
// whose content changes is rewritten atomically; one whose attributes
// change gets them; any other is left as it is.
func (d *deployFiles) finish(p, rel string, mode fs.FileMode, sum string) (fileDigest, fileAttrs, error) {
	if d.rewrites(rel) {
		return d.rewrite(p, rel, mode)
	}
	a := d.attrs(rel, mode, false)
	dg := fileDigest{sha256: sum}
	if a.mode == mode && a.uid < 0 && a.gid < 0 {
		return dg, a, nil
	}
	f, err := os.Open(p)
	if err != nil {
		return fileDigest{}, a, err
	}
	err = a.set(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fileDigest{}, a, fmt.Errorf("%s: %w", rel, err)
	}
	return dg, a, nil
}

// rewrite replaces p, package file rel, with its content as deployed.
func (d *deployFiles) rewrite(p, rel string, mode fs.FileMode) (fileDigest, fileAttrs, error) {
	a := d.attrs(rel, mode, false)
	in, err := readForRewrite(p, rel)
	if err != nil {
		return fileDigest{}, a, err
	}
	data, sensitive, err := d.content(rel, in)
	if err != nil {
		return fileDigest{}, a, err
	}
	dg, err := d.digest(in, data, sensitive)
	if err != nil {
		return fileDigest{}, a, err
	}
	a = d.attrs(rel, mode, sensitive)
	out, err := atomicfile.Create(p, 0o600)
	if err != nil {
		return fileDigest{}, a, err
	}
	defer out.Abort()
	if _, err := out.Write(data); err != nil {
		return fileDigest{}, a, err
	}
	if err := a.set(out.File); err != nil {
		return fileDigest{}, a, fmt.Errorf("%s: %w", rel, err)
	}
	return dg, a, out.Commit()
}
