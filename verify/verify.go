// Package verify decides whether a bundle may be trusted, without any
// secret: it checks the DSSE signatures against a zone's trust policy, the
// statement, and the digests of every file, in a fixed order, stopping at
// the first failure. A failed check is an *Error ("verification failed");
// any other error means the bundle could not be verified (for example an
// I/O error), which callers must not confuse with a verdict.
package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/progress"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

// MaxClockSkew is how far in the future a bundle's issuedAt may be before
// the zone's clock is considered wrong.
const MaxClockSkew = 10 * time.Minute

// Error is a verification failure: the bundle was examined and is not to be
// trusted. Check names the failed check; File the bundle file, if any; Err
// the failure found on the way (a DSSE or JSON error, a payload that does
// not match its manifest), if the check failed on one.
type Error struct {
	Check receipt.CheckName
	File  string
	Msg   string
	Err   error
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	if e.File != "" {
		return fmt.Sprintf("verification failed: %s: %s: %s", e.Check, e.File, e.Msg)
	}
	return fmt.Sprintf("verification failed: %s: %s", e.Check, e.Msg)
}

// Options configures Bundle.
type Options struct {
	Policy *zone.Policy
	// Now is the time to check expiry against; zero means time.Now. Fix
	// it once per apply so a bundle that expires mid-apply still completes.
	Now time.Time
	// Sequence, if set, runs after the target check: the applier's
	// anti-rollback decision. Its error fails the "sequence" check.
	Sequence func(p *bundle.Predicate) error
	// Progress, if set, follows the hashing of the payload: one stage,
	// "verify", of the payload's bytes.
	Progress progress.Reporter
}

// Result is what verification established. On failure it holds the checks
// run so far, and Claimed holds what the statement claims, if it could be
// decoded (unauthenticated unless Verified).
type Result struct {
	Verified        bool
	Statement       *bundle.Statement // set once the signature verified
	Claimed         *bundle.Predicate // best effort, possibly unauthenticated
	StatementSHA256 string            // of the Statement (DSSE payload)
	EnvelopeSHA256  string            // of statement.dsse.json as read
	Manifest        *bundle.Manifest
	Signers         []receipt.Signer
	Checks          []receipt.Check
}

func (r *Result) pass(name receipt.CheckName, detail string) {
	r.Checks = append(r.Checks, receipt.Check{Name: name, Result: receipt.Pass, Detail: detail})
}
func (r *Result) skip(name receipt.CheckName, detail string) {
	r.Checks = append(r.Checks, receipt.Check{Name: name, Result: receipt.Skip, Detail: detail})
}

func (r *Result) fail(name receipt.CheckName, file, format string, a ...any) error {
	return r.failWith(&Error{Check: name, File: file, Msg: fmt.Sprintf(format, a...)})
}

// failErr fails check name on err, which the failure keeps as its cause.
func (r *Result) failErr(name receipt.CheckName, file string, err error) error {
	return r.failWith(&Error{Check: name, File: file, Msg: err.Error(), Err: err})
}

func (r *Result) failWith(e *Error) error {
	name, file := e.Check, e.File
	detail := e.Msg
	if file != "" {
		detail = file + ": " + e.Msg
	}
	r.Checks = append(r.Checks, receipt.Check{Name: name, Result: receipt.Fail, Detail: detail})
	return e
}

// Bundle verifies b against o.Policy. It reads the statement (size-capped
// before parsing), checks signatures, types, format version, expiry,
// target, sequence, the manifest's digest and every payload part's size and
// digest while streaming. It never decrypts.
func Bundle(ctx context.Context, b *bundle.Bundle, o Options) (*Result, error) {
	if o.Policy == nil {
		return nil, errors.New("verify: no trust policy")
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	r := &Result{}
	stmt, err := r.statement(b, o.Policy)
	if err != nil {
		return r, err
	}
	p := &stmt.Predicate
	// The parts are hashed while the next checks run (the manifest's
	// parsing above all, for a release of many files); the results are
	// looked at only in the parts check, in its turn.
	progress.Stage(o.Progress, "verify", p.Payload.Size)
	sums := hashParts(ctx, b, p.Payload.Parts, o.Progress)
	defer sums.stop()
	if err := r.timeAndPlace(p, o.Policy, now); err != nil {
		return r, err
	}
	if o.Sequence != nil {
		if err := o.Sequence(p); err != nil {
			return r, r.failErr(receipt.CheckSequence, "", err)
		}
		r.pass(receipt.CheckSequence, fmt.Sprintf("%s/%s sequence %d", p.Name, p.Channel, p.Sequence))
	}
	if err := r.manifest(b, stmt); err != nil {
		return r, err
	}
	if err := r.parts(b, &p.Payload, sums); err != nil {
		return r, err
	}
	r.Verified = true
	return r, nil
}

// statement runs the checks up to the format version.
func (r *Result) statement(b *bundle.Bundle, pol *zone.Policy) (*bundle.Statement, error) {
	size, ok := b.Size(bundle.StatementFile)
	if !ok {
		return nil, r.fail(receipt.CheckEnvelope, bundle.StatementFile, "missing (is this a bundle?)")
	}
	if size > bundle.MaxStatementSize {
		return nil, r.fail(receipt.CheckEnvelope, bundle.StatementFile, "%d bytes, more than the %d allowed", size, bundle.MaxStatementSize)
	}
	raw, err := b.ReadFile(bundle.StatementFile, bundle.MaxStatementSize)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	r.EnvelopeSHA256 = hex.EncodeToString(sum[:])
	env, err := dsse.Read(bytes.NewReader(raw), bundle.MaxStatementSize)
	if err != nil {
		return nil, r.failErr(receipt.CheckEnvelope, bundle.StatementFile, err)
	}
	r.pass(receipt.CheckEnvelope, fmt.Sprintf("%d bytes, %s", len(raw), plural(len(env.Signatures), "signature")))
	r.claim(env)
	v, err := dsse.Verify(env, pol.Keys())
	if err != nil {
		return nil, r.fail(receipt.CheckSignature, bundle.StatementFile, "no signature from a trusted key (%d signatures, keyids %s)", len(env.Signatures), keyIDs(env))
	}
	if err := r.thresholds(v.Signers, pol); err != nil {
		return nil, err
	}
	if env.PayloadType != dsse.InTotoPayloadType {
		return nil, r.fail(receipt.CheckPayloadType, bundle.StatementFile, "payload type %q, want %q", env.PayloadType, dsse.InTotoPayloadType)
	}
	r.pass(receipt.CheckPayloadType, env.PayloadType)
	sum = sha256.Sum256(v.Payload)
	r.StatementSHA256 = hex.EncodeToString(sum[:])
	stmt, err := bundle.ParseStatement(v.Payload)
	if err != nil {
		return nil, r.failErr(receipt.CheckPredicateType, bundle.StatementFile, err)
	}
	if stmt.PredicateType != bundle.PredicateType {
		return nil, r.fail(receipt.CheckPredicateType, bundle.StatementFile, "predicate type %q, want %q", stmt.PredicateType, bundle.PredicateType)
	}
	r.pass(receipt.CheckPredicateType, stmt.PredicateType)
	if !bundle.KnownFormat(stmt.Predicate.FormatVersion) {
		return nil, r.fail(receipt.CheckFormat, bundle.StatementFile, "format version %d, this airlock reads %d to %d", stmt.Predicate.FormatVersion, bundle.MinFormatVersion, bundle.FormatVersion)
	}
	if err := stmt.Predicate.Validate(); err != nil {
		return nil, r.failErr(receipt.CheckFormat, bundle.StatementFile, err)
	}
	if err := bundle.SubjectsMatch(stmt); err != nil {
		return nil, r.failErr(receipt.CheckFormat, bundle.StatementFile, err)
	}
	r.pass(receipt.CheckFormat, fmt.Sprintf("version %d", stmt.Predicate.FormatVersion))
	r.Statement = stmt
	r.Claimed = &stmt.Predicate
	return stmt, nil
}

// claim decodes the statement without trusting it, for reporting only.
func (r *Result) claim(env *dsse.Envelope) {
	payload, err := dsse.PayloadOf(env)
	if err != nil {
		return
	}
	if stmt, err := bundle.ParseStatement(payload); err == nil {
		r.Claimed = &stmt.Predicate
	}
}

// thresholds counts distinct signing keys per role.
func (r *Result) thresholds(signers []*keys.PublicKey, pol *zone.Policy) error {
	var missing []string
	for _, role := range pol.Roles {
		n := 0
		for _, s := range signers {
			if slices.ContainsFunc(role.Keys, s.Equal) {
				n++
			}
		}
		if n < role.Threshold {
			missing = append(missing, fmt.Sprintf("role %s has %d of %d required signatures", role.Name, n, role.Threshold))
		}
	}
	for _, s := range signers {
		r.Signers = append(r.Signers, receipt.Signer{KeyID: s.ID(), Role: pol.RoleOf(s), Name: pol.NameOf(s)})
	}
	if len(missing) > 0 {
		return r.fail(receipt.CheckSignature, bundle.StatementFile, "%s (a key counts once, however often it signs)", strings.Join(missing, "; "))
	}
	var desc []string
	for _, s := range r.Signers {
		desc = append(desc, s.Role+" "+s.KeyID)
	}
	r.pass(receipt.CheckSignature, strings.Join(desc, ", "))
	return nil
}

func (r *Result) timeAndPlace(p *bundle.Predicate, pol *zone.Policy, now time.Time) error {
	if now.After(p.Expires) {
		return r.fail(receipt.CheckExpiry, "", "bundle expired at %s (now %s)", p.Expires.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if p.IssuedAt.After(now.Add(MaxClockSkew)) {
		return r.fail(receipt.CheckExpiry, "", "bundle issued at %s, after this machine's time %s: check the zone clock", p.IssuedAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	r.pass(receipt.CheckExpiry, "expires "+p.Expires.UTC().Format(time.RFC3339))
	if pol.Zone == "" {
		r.skip(receipt.CheckTarget, "no zone given (verify with --trust to check the target)")
		return nil
	}
	if why := bundle.MatchTargets(p.Targets, pol.Zone, pol.Host, pol.HostRoles); why != "" {
		return r.fail(receipt.CheckTarget, "", "%s", why)
	}
	// A zone that lists its applications applies only those.
	if len(pol.Applications) > 0 && !slices.Contains(pol.Applications, p.Name) {
		return r.fail(receipt.CheckTarget, "", "release %s is not one of the applications this zone lists (%s): add it under applications: in trust.yaml, with its roots, and commit the policy",
			p.Name, strings.Join(pol.Applications, ", "))
	}
	r.pass(receipt.CheckTarget, "zone:"+pol.Zone)
	return nil
}

func (r *Result) manifest(b *bundle.Bundle, stmt *bundle.Statement) error {
	want := stmt.Predicate.Manifest
	size, ok := b.Size(bundle.ManifestFile)
	if !ok {
		return r.fail(receipt.CheckManifest, bundle.ManifestFile, "missing")
	}
	if size != want.Size {
		return r.fail(receipt.CheckManifest, bundle.ManifestFile, "%d bytes, signed size %d", size, want.Size)
	}
	data, err := b.ReadFile(bundle.ManifestFile, want.Size)
	if err != nil {
		return err
	}
	if got := sha256Hex(data); got != want.SHA256 {
		return r.fail(receipt.CheckManifest, bundle.ManifestFile, "sha256 %s, signed %s", got, want.SHA256)
	}
	m, err := bundle.ParseManifest(data)
	if err != nil {
		return r.failErr(receipt.CheckManifest, bundle.ManifestFile, err)
	}
	p := &stmt.Predicate
	if m.Name != p.Name || m.Version != p.Version || m.Channel != p.Channel {
		return r.fail(receipt.CheckManifest, bundle.ManifestFile, "describes %s %s (%s), the statement %s %s (%s)", m.Name, m.Version, m.Channel, p.Name, p.Version, p.Channel)
	}
	// A delta's payload carries what was shipped (bundle.Manifest.Shipped).
	if n := len(m.Shipped().Files) + 1; n != p.Payload.Entries {
		return r.fail(receipt.CheckManifest, bundle.ManifestFile, "lists %d entries, the statement %d", n, p.Payload.Entries)
	}
	if p.Change != nil {
		for _, e := range p.Change.TestEvidence {
			i := slices.IndexFunc(m.Files, func(f bundle.File) bool { return f.Path == e.Path })
			if i < 0 || m.Files[i].Type != bundle.TypeFile || m.Files[i].SHA256 != e.SHA256 {
				return r.fail(receipt.CheckManifest, bundle.ManifestFile, "test evidence %s (sha256 %.12s) is not a file of the manifest with that digest", e.Path, e.SHA256)
			}
		}
	}
	if !slices.Equal(p.Images, m.ImageDigests()) {
		return r.fail(receipt.CheckManifest, bundle.ManifestFile, "lists images %v, the statement %v", m.ImageDigests(), p.Images)
	}
	r.Manifest = m
	r.pass(receipt.CheckManifest, fmt.Sprintf("sha256 %s, %d files", want.SHA256[:12], len(m.Files)))
	return nil
}

// parts checks that the bundle holds exactly the signed parts, first by
// size (cheap: finds missing and truncated parts), then by their SHA-256,
// streamed by sums.
func (r *Result) parts(b *bundle.Bundle, pl *bundle.Payload, sums *partSums) error {
	signed := map[string]bundle.FileRef{}
	for _, part := range pl.Parts {
		signed[part.Name] = part
	}
	for _, name := range b.Parts() {
		if _, ok := signed[name]; !ok {
			return r.fail(receipt.CheckParts, name, "not listed in the signed statement (a part of another bundle?)")
		}
	}
	for _, part := range pl.Parts {
		size, ok := b.Size(part.Name)
		if !ok {
			return r.fail(receipt.CheckParts, part.Name, "missing (the statement lists %d parts)", len(pl.Parts))
		}
		if size != part.Size {
			return r.fail(receipt.CheckParts, part.Name, "%d bytes, signed size %d (truncated, or from another bundle)", size, part.Size)
		}
	}
	for i, part := range pl.Parts {
		got, n, err := sums.get(i)
		if err != nil {
			return err
		}
		if n != part.Size {
			return r.fail(receipt.CheckParts, part.Name, "changed size while being read (%d bytes, signed size %d)", n, part.Size)
		}
		if got != part.SHA256 {
			for _, other := range pl.Parts {
				if other.SHA256 == got {
					return r.fail(receipt.CheckParts, part.Name, "content is that of %s (parts reordered or renamed)", other.Name)
				}
			}
			return r.fail(receipt.CheckParts, part.Name, "sha256 %s, signed %s (corrupted, or from another bundle)", got, part.SHA256)
		}
	}
	r.pass(receipt.CheckParts, fmt.Sprintf("%s, %d bytes", plural(len(pl.Parts), "part"), pl.Size))
	return nil
}

// partSums hashes the parts of a bundle, several at once when there are
// several (up to GOMAXPROCS), and gives the results in part order.
type partSums struct {
	cancel  context.CancelFunc
	results []chan partSum
	wg      sync.WaitGroup
}

type partSum struct {
	sum string
	n   int64
	err error
}

func hashParts(ctx context.Context, b *bundle.Bundle, parts []bundle.FileRef, rep progress.Reporter) *partSums {
	ctx, cancel := context.WithCancel(ctx)
	s := &partSums{cancel: cancel, results: make([]chan partSum, len(parts))}
	next := make(chan int, len(parts))
	for i := range parts {
		s.results[i] = make(chan partSum, 1)
		next <- i
	}
	close(next)
	for range min(runtime.GOMAXPROCS(0), len(parts)) {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for i := range next {
				sum, n, err := hashPart(ctx, b, parts[i], rep)
				s.results[i] <- partSum{sum, n, err}
			}
		}()
	}
	return s
}

// get waits for part i's digest, the number of bytes read, and the error.
func (s *partSums) get(i int) (string, int64, error) {
	r := <-s.results[i]
	return r.sum, r.n, r.err
}

// stop ends the hashing of parts not yet needed and waits for it.
func (s *partSums) stop() {
	s.cancel()
	s.wg.Wait()
}

// hashPart streams a part through SHA-256, reading at most its signed size
// + 1, and returns the digest and the number of bytes read. A goroutine
// reads ahead in large chunks, so that reading and hashing overlap.
func hashPart(ctx context.Context, b *bundle.Bundle, part bundle.FileRef, rep progress.Reporter) (string, int64, error) {
	f, err := b.OpenFile(part.Name)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	rc := progress.Reader(f, rep)
	const buffers, size = 3, 1 << 20
	type chunk struct {
		b   []byte
		err error
	}
	free, full := make(chan []byte, buffers), make(chan chunk, buffers)
	for range buffers {
		free <- make([]byte, size)
	}
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := io.LimitReader(rc, part.Size+1)
		for {
			var buf []byte
			select {
			case buf = <-free:
			case <-quit:
				return
			}
			n, err := io.ReadFull(r, buf)
			if err == io.ErrUnexpectedEOF {
				err = io.EOF
			}
			if err == nil {
				err = ctx.Err()
			}
			full <- chunk{buf[:n], err}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		close(quit)
		<-done
	}()
	h := sha256.New()
	var n int64
	for {
		c := <-full
		h.Write(c.b)
		n += int64(len(c.b))
		free <- c.b[:cap(c.b)]
		if c.err == io.EOF {
			return hex.EncodeToString(h.Sum(nil)), n, nil
		}
		if c.err != nil {
			return "", n, fmt.Errorf("read %s: %w", part.Name, c.err)
		}
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func keyIDs(env *dsse.Envelope) string {
	var ids []string
	for _, s := range env.Signatures {
		ids = append(ids, s.KeyID)
	}
	return strings.Join(ids, ", ")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
