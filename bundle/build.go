package bundle

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"

	"airlock.dev/airlock/internal/agekeys"
	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/intoto"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/progress"
	"airlock.dev/airlock/internal/uuid"
)

// Compression levels for BuildOptions.Level.
const (
	LevelFastest = "fastest"
	LevelDefault = "default"
	LevelBetter  = "better"
	LevelBest    = "best"
)

// BuildOptions configures Build.
type BuildOptions struct {
	Release    *Release
	Signer     *keys.Signer
	Recipients []age.Recipient
	// Out is the output path: ending in ".airlock" gives the single-file
	// form, anything else a folder. It must not exist unless Force is set.
	Out   string
	Force bool
	// Targets replaces the release's targets when not empty.
	Targets []string
	// Sequence is the anti-rollback sequence; 0 means one more than the
	// highest in the ledger for the release's name and channel.
	Sequence uint64
	// SplitSize, when positive, cuts the payload into parts of at most
	// this many bytes (payload.age.001, .002, …).
	SplitSize int64
	// LedgerDir receives a copy of every signed statement. Required.
	LedgerDir string
	// Level is the zstd level: fastest, default (zstd -3), better, best.
	Level string
	// Epoch is the modification time written in the payload archive
	// (SOURCE_DATE_EPOCH); zero means 1970-01-01.
	Epoch time.Time
	// Now is the clock for issuedAt; nil means time.Now.
	Now func() time.Time
	// Getenv resolves fromEnv variables; nil means os.Getenv.
	Getenv func(string) string
	// Warn receives non-fatal warnings (may be nil).
	Warn func(format string, args ...any)
	// ToolVersion is written into the predicate's builder field.
	ToolVersion string
	// Registry says how images are pulled from registries.
	Registry RegistryOptions
	// Progress, if set, follows the build: one stage, "build", of the
	// release's file bytes as they are read.
	Progress progress.Reporter
	// Base, when set, makes a delta bundle: content every target host
	// holds is left out of the payload (see Delta).
	Base *Base

	// afterStage, when set (by this package's tests), is called after each
	// stage of the output: the kill tests stop the builder there.
	afterStage func(stage string)
}

// Build stages, in order (see Build). Tests kill the builder after each.
const (
	stageWritten   = "written"   // the bundle is complete in its work directory
	stageLedger    = "ledger"    // its statement is in the ledger
	stageCommitted = "committed" // it is visible under its final name
)

// BuildResult describes a built bundle. (The manifest is in the bundle:
// the builder does not keep its file list, which may be very long.)
type BuildResult struct {
	Out       string
	Statement *Statement
	Envelope  []byte
	Ledger    string // path of the ledger copy
}

// Build turns a release into a signed, encrypted bundle. It streams: each
// file is read once, hashed and written into a deterministic tar (and its
// entry into manifest.json), which is compressed with zstd and encrypted
// with age to every recipient while the ciphertext is hashed and cut into
// parts (see payloadWriter). Memory does not grow with the size of the
// release, and with its file count only by the list of files to read. On
// any error nothing is left at Out.
//
// The bundle is written in a work directory beside Out (named with this
// process's id), its statement is recorded in the ledger, and only then is
// it moved to Out: a bundle under its final name always has its ledger
// entry, so the next build never reuses its sequence. When ctx is canceled
// (a signal) the work directory is removed too; a build killed outright
// leaves only the work directory (or a ledger entry for a bundle that
// never appeared, which the audit reports as never applied), and the next
// build of the same output removes what it left.
func Build(ctx context.Context, o BuildOptions) (*BuildResult, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	r := o.Release
	values, err := r.ResolveValues(o.Getenv)
	if err != nil {
		return nil, err
	}
	o.warnShortSecrets(values)
	seq := o.Sequence
	if seq == 0 {
		if seq, err = NextSequence(o.LedgerDir, r.Name, r.Channel); err != nil {
			return nil, err
		}
	}
	if r.tree == nil {
		if err := r.Check(); err != nil {
			return nil, err
		}
	}
	entries, pkgs := r.tree.entries, r.tree.pkgs
	varsDoc, err := o.variablesDoc(values)
	if err != nil {
		return nil, err
	}

	outDir, outName := filepath.Split(filepath.Clean(o.Out))
	sweepOutput(outDir, outName)
	work, err := atomicfile.MkdirTemp(filepath.Join(outDir, "."), "."+outName+buildTag)
	if err != nil {
		return nil, fmt.Errorf("create work directory: %w", err)
	}
	defer os.RemoveAll(work)

	m := o.manifest(pkgs, ref(VariablesEntry, varsDoc))
	if len(r.Images) > 0 {
		// The images are staged beside the work directory (so that they
		// never become part of the bundle), each blob once.
		staging, err := atomicfile.MkdirTemp(filepath.Join(outDir, "."), "."+outName+buildTag)
		if err != nil {
			return nil, fmt.Errorf("create image staging directory: %w", err)
		}
		defer os.RemoveAll(staging)
		imgs, imgEntries, err := stageImages(ctx, r, staging, o.Registry)
		if err != nil {
			return nil, err
		}
		m.Images = imgs
		entries = mergeEntries(entries, imgEntries)
	}
	var plan *deltaPlan
	if o.Base != nil {
		if plan, err = o.planDelta(ctx, r.Dir, entries); err != nil {
			return nil, err
		}
		if m.Delta = plan.delta; len(plan.entries) == 0 {
			m.Delta = nil // nothing is held: a full bundle
		}
	}
	evidence := r.evidencePaths()
	pay, mref, err := o.writePayload(ctx, work, entries, varsDoc, m, evidence, plan)
	if err != nil {
		return nil, err
	}
	st := o.statement(seq, mref, pay, evidence)
	st.Predicate.Images = m.ImageDigests()
	payload, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encode statement: %w", err)
	}
	env, err := dsse.Sign(dsse.InTotoPayloadType, payload, o.Signer)
	if err != nil {
		return nil, err
	}
	envJSON, err := dsse.Marshal(env)
	if err != nil {
		return nil, err
	}
	if err := checkBuilt(st, envJSON, signatureRoom); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(work, StatementFile), envJSON, 0o644); err != nil {
		return nil, err
	}
	if err := writeSums(work, envJSON, mref, pay.Parts); err != nil {
		return nil, err
	}
	o.stage(stageWritten)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ledger, err := recordInLedger(o.LedgerDir, st, envJSON)
	if err != nil {
		return nil, fmt.Errorf("record in ledger (nothing written to %s): %w", o.Out, err)
	}
	o.stage(stageLedger)
	err = ctx.Err()
	if err == nil {
		err = commitOutput(work, o.Out, pay.Parts, o.Force)
	}
	if err != nil {
		os.Remove(ledger) // the bundle never appeared
		return nil, err
	}
	o.stage(stageCommitted)
	return &BuildResult{Out: o.Out, Statement: st, Envelope: envJSON, Ledger: ledger}, nil
}

// buildTag names a build's work directory: .<out>.build-<pid>-<random>.
const buildTag = ".build-"

// sweepOutput removes what builds and signatures of the output name that
// were killed left beside it: work directories and temporary files whose
// process is gone.
func sweepOutput(dir, name string) {
	for _, tag := range []string{buildTag, signTag, atomicfile.TempTag} {
		atomicfile.Sweep(filepath.Join(dir, "."), "."+name+tag, false)
	}
}

func (o *BuildOptions) stage(s string) {
	if o.afterStage != nil {
		o.afterStage(s)
	}
}

func (o *BuildOptions) check() error {
	switch {
	case o.Release == nil:
		return errors.New("build: no release")
	case o.Signer == nil:
		return errors.New("build: no signing key")
	case len(o.Recipients) == 0:
		return errors.New("build: no recipients (give --recipient or --recipients-file)")
	case o.Out == "":
		return errors.New("build: no output path")
	case o.LedgerDir == "":
		return errors.New("build: no ledger directory")
	case o.SplitSize < 0 || (o.SplitSize > 0 && o.SplitSize < 1<<20):
		return errors.New("build: split size must be at least 1 MiB")
	case o.SplitSize > 0 && IsSingleFile(o.Out):
		return fmt.Errorf("build: --split makes a folder of parts; give an output path not ending in %s", Extension)
	}
	if _, err := os.Lstat(o.Out); err == nil && !o.Force {
		return fmt.Errorf("build: %s already exists (use --force to replace it)", o.Out)
	}
	if err := agekeys.CheckMix(o.Recipients); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Warn == nil {
		o.Warn = func(string, ...any) {}
	}
	return nil
}

// IsSingleFile reports whether an output path names the single-file form.
func IsSingleFile(out string) bool { return filepath.Ext(out) == Extension }

func (o *BuildOptions) warnShortSecrets(values map[string]string) {
	for _, v := range o.Release.Variables {
		if v.Sensitive && len(values[v.Name]) < 4 {
			o.Warn("sensitive variable %s is shorter than 4 characters and will not be masked in step output", v.Name)
		}
	}
}

func (o *BuildOptions) variablesDoc(values map[string]string) ([]byte, error) {
	r := o.Release
	label := "airlock/v1 variables salt\x00" + r.Name + "\x00" + r.Version + "\x00" + r.Channel
	doc := VariablesDoc{Salt: hex.EncodeToString(o.Signer.Derive(label)), Values: values}
	for _, v := range r.Variables {
		addScoped(&doc.ByZone, v.Name, v.ByZone)
		addScoped(&doc.ByRole, v.Name, v.ByRole)
		addScoped(&doc.ByHost, v.Name, v.ByHost)
	}
	b, err := json.Marshal(doc) // map keys are sorted: deterministic
	if err != nil {
		return nil, fmt.Errorf("encode variables: %w", err)
	}
	if len(b) > MaxVariablesSize {
		return nil, fmt.Errorf("variables take %d bytes, at most %d allowed", len(b), MaxVariablesSize)
	}
	return b, nil
}

// writePayload streams tar → zstd → age → parts into dir, and writes
// manifest.json there as the files are hashed. It returns the payload's
// description and the manifest's reference. It fills in the digests of the
// files named in evidence (path → digest).
func (o *BuildOptions) writePayload(ctx context.Context, dir string, entries []source, varsDoc []byte, m *Manifest, evidence map[string]string, plan *deltaPlan) (Payload, FileRef, error) {
	mf, err := os.OpenFile(filepath.Join(dir, ManifestFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return Payload{}, FileRef{}, err
	}
	defer mf.Close()
	mh := &hashCounter{h: sha256.New()}
	mw := bufio.NewWriterSize(io.MultiWriter(mf, mh), 64<<10)
	me, err := newManifestEncoder(mw, m)
	if err != nil {
		return Payload{}, FileRef{}, err
	}

	parts := &partWriter{dir: dir, limit: o.SplitSize}
	defer parts.Close()
	aw, err := age.Encrypt(parts, o.Recipients...)
	if err != nil {
		return Payload{}, FileRef{}, fmt.Errorf("encrypt: %w", err)
	}
	pw, err := newPayloadWriter(aw, o.Level, 0)
	if err != nil {
		return Payload{}, FileRef{}, fmt.Errorf("compress: %w", err)
	}
	defer pw.Abort()
	tw := tar.NewWriter(pw)
	add := func(f *File) {
		if _, ok := evidence[f.Path]; ok {
			evidence[f.Path] = f.SHA256
		}
		me.add(f)
	}
	progress.Stage(o.Progress, "build", contentSize(entries))
	n, err := writeTar(ctx, tw, o.Release.Dir, entries, varsDoc, o.Epoch, add, o.Progress, plan)
	for _, step := range []func() error{tw.Close, pw.Close, aw.Close, parts.Close, me.finish, mw.Flush} {
		if err != nil {
			break
		}
		err = step()
	}
	if err != nil {
		return Payload{}, FileRef{}, err
	}
	size, sum := pw.Sum()
	p := Payload{
		Encryption:      EncryptionAge,
		Compression:     CompressionZstd,
		Archive:         ArchiveTar,
		Parts:           parts.refs,
		Size:            parts.total,
		PlaintextSize:   size,
		PlaintextSHA256: hex.EncodeToString(sum),
		Entries:         n + 1,
	}
	return p, FileRef{Name: ManifestFile, Size: mh.n, SHA256: hex.EncodeToString(mh.h.Sum(nil))}, nil
}

func zstdOptions(level string, workers int) []zstd.EOption {
	l := zstd.SpeedDefault
	switch level {
	case LevelFastest:
		l = zstd.SpeedFastest
	case LevelBetter:
		l = zstd.SpeedBetterCompression
	case LevelBest:
		l = zstd.SpeedBestCompression
	}
	return []zstd.EOption{
		zstd.WithEncoderLevel(l),
		// One encoder per worker, each compressing whole frames.
		zstd.WithEncoderConcurrency(workers),
		// The frame checksum lets plain `zstd -d` detect corruption too.
		zstd.WithEncoderCRC(true),
		// A whole frame (frameSize): each frame is compressed on its own.
		zstd.WithWindowSize(frameSize),
	}
}

// readBufferSize is the chunk in which release files are read, hashed and
// copied into the archive: large enough for few system calls, small
// enough to stay in a core's cache between the three.
const readBufferSize = 256 << 10

// writeTar writes variables.json, then every entry in order, hashing file
// content as it is copied, and passes each entry, with its digest, to add.
// It returns the number of entries after variables.json. Files are read
// through an os.Root of the release directory, so that a symbolic link
// swapped in during the build cannot pull in data from outside it.
func writeTar(ctx context.Context, tw *tar.Writer, dir string, entries []source, varsDoc []byte, epoch time.Time, add func(*File), rep progress.Reporter, plan *deltaPlan) (int, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return 0, err
	}
	defer root.Close()
	archives := newReleaseFS(root.FS(), archivesOf(entries))
	defer archives.Close()
	src := &sourceReader{root: root, archives: archives, buf: make([]byte, readBufferSize), h: sha256.New(), progress: rep}
	defer src.close()
	mtime := epoch.UTC().Truncate(time.Second)
	if epoch.IsZero() {
		mtime = time.Unix(0, 0).UTC()
	}
	hdr := func(name string, typ byte, mode int64, size int64) *tar.Header {
		return &tar.Header{Name: name, Typeflag: typ, Mode: mode, Size: size, ModTime: mtime}
	}
	if err := tw.WriteHeader(hdr(VariablesEntry, tar.TypeReg, 0o600, int64(len(varsDoc)))); err != nil {
		return 0, err
	}
	if _, err := tw.Write(varsDoc); err != nil {
		return 0, err
	}
	n := len(entries)
	for i := range entries {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		f := entries[i].File
		if f.Type == TypeDir {
			if err := tw.WriteHeader(hdr(f.Path+"/", tar.TypeDir, 0o755, 0)); err != nil {
				return 0, err
			}
			add(&f)
			continue
		}
		written, planned, err := plan.write(ctx, src, i, &entries[i], func(size int64) error {
			return tw.WriteHeader(hdr(f.Path, tar.TypeReg, int64(f.Mode), size))
		}, tw)
		if err != nil {
			return 0, err
		}
		if planned {
			if !written {
				n--
			}
			f.SHA256 = plan.sums[i]
			add(&f)
			continue
		}
		sum, err := src.copy(ctx, &entries[i], func() error {
			return tw.WriteHeader(hdr(f.Path, tar.TypeReg, int64(f.Mode), f.Size))
		}, tw)
		if err != nil {
			return 0, err
		}
		if plan != nil && plan.sums[i] != sum {
			return 0, fmt.Errorf("%s: changed while building", entries[i].src)
		}
		f.SHA256 = sum
		add(&f)
	}
	return n, nil
}

// contentSize is the bytes of the regular files of entries.
func contentSize(entries []source) int64 {
	var n int64
	for i := range entries {
		n += entries[i].Size
	}
	return n
}

// manifest is the release's manifest without its files, which writeTar adds
// as it hashes them.
func (o *BuildOptions) manifest(pkgs []PackageRef, varRef FileRef) *Manifest {
	r := o.Release
	m := &Manifest{
		FormatVersion: FormatVersion,
		Name:          r.Name,
		Version:       r.Version,
		Channel:       r.Channel,
		Packages:      pkgs,
		Variables:     []VariableRef{},
		VariablesFile: varRef,
	}
	if m.Packages == nil {
		m.Packages = []PackageRef{}
	}
	for _, v := range r.Variables {
		vr := VariableRef{Name: v.Name, Sensitive: v.Sensitive, Description: v.Description}
		vr.Zones, vr.Roles, vr.Hosts = sortedNames(v.ByZone), sortedNames(v.ByRole), sortedNames(v.ByHost)
		m.Variables = append(m.Variables, vr)
	}
	// Steps are recorded as decoded: a script's path in the payload is its
	// path in the release directory (see ScriptPath).
	m.Steps = append(m.Steps, r.Steps...)
	return m
}

// evidencePaths returns the payload paths of the change's test evidence,
// each with no digest yet.
func (r *Release) evidencePaths() map[string]string {
	out := map[string]string{}
	for _, e := range r.Change.TestEvidence {
		out[ScriptPath(e.Path)] = ""
	}
	return out
}

// statement is the bundle's statement; evidence holds the digests of the
// change's test evidence by payload path.
func (o *BuildOptions) statement(seq uint64, manifest FileRef, pay Payload, evidence map[string]string) *Statement {
	r := o.Release
	issued := o.Now().UTC().Truncate(time.Second)
	targets := r.Targets
	if len(o.Targets) > 0 {
		targets = o.Targets
	}
	p := Predicate{
		FormatVersion: FormatVersion,
		BundleID:      uuid.NewV7(issued),
		Name:          r.Name,
		Version:       r.Version,
		Channel:       r.Channel,
		Sequence:      seq,
		Targets:       targets,
		IssuedAt:      issued,
		Expires:       issued.Add(r.Expires),
		Manifest:      manifest,
		Payload:       pay,
		Builder:       Builder{Tool: "airlock", Version: o.ToolVersion},
	}
	if !r.Change.IsZero() {
		c := r.Change
		c.TestEvidence = nil
		for _, e := range r.Change.TestEvidence {
			p := ScriptPath(e.Path)
			// Check put every evidence file in the payload.
			c.TestEvidence = append(c.TestEvidence, Evidence{Path: p, SHA256: evidence[p]})
		}
		p.Change = &c
	}
	return &Statement{Type: StatementType, Subject: Subjects(&p), PredicateType: PredicateType, Predicate: p}
}

// Subjects lists what a bundle statement's subject must be: manifest.json
// then every payload part, each by SHA-256.
func Subjects(p *Predicate) []Subject {
	s := []Subject{intoto.SHA256(p.Manifest.Name, p.Manifest.SHA256)}
	for _, part := range p.Payload.Parts {
		s = append(s, intoto.SHA256(part.Name, part.SHA256))
	}
	return s
}

func ref(name string, data []byte) FileRef {
	sum := sha256.Sum256(data)
	return FileRef{Name: name, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
}

type hashCounter struct {
	h hash.Hash
	n int64
}

func (c *hashCounter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}
