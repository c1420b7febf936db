package stage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"

	"airlock.dev/airlock/bundle"
)

// copyBufferSize is the chunk in which the stream is read after the
// archive's end.
const copyBufferSize = 64 << 10

// extraction is one run of Extract: the streams, innermost first, and the
// staging root.
type extraction struct {
	ctx    context.Context
	o      *Options
	root   *os.Root
	parts  *partReader
	age    *tap       // age plaintext (= zstd input)
	cipher *readahead // parts and age, in a goroutine
	zstd   *tap       // zstd output (= tar input, before plain)
	plain  *plainReader
	ahead  *readahead   // zstd and plain, in a goroutine
	in     *countReader // what the tar reader has consumed
	w      *writer
	// fileHash hashes each file's content.
	fileHash hash.Hash
	buf      []byte
}

func newExtraction(ctx context.Context, o *Options, root *os.Root) *extraction {
	return &extraction{
		ctx:      ctx,
		o:        o,
		root:     root,
		parts:    newPartReader(ctx, o.Bundle, o.Predicate.Payload.Parts, o.Progress),
		w:        newWriter(root),
		fileHash: sha256.New(),
		buf:      make([]byte, copyBufferSize),
	}
}

// close stops the goroutines; nothing is written in the staging directory
// after it returns.
func (x *extraction) close() {
	x.stopAhead()
	x.w.close()
	x.parts.close()
}

// run streams the payload and extracts it, in the order of the package
// documentation.
func (x *extraction) run() (*bundle.VariablesDoc, error) {
	ar, err := age.Decrypt(x.parts, x.o.Identities...)
	if err != nil {
		return nil, x.decryptError(err)
	}
	x.age = &tap{r: ar}
	// Four goroutines share the work, each ahead of the next by a few
	// buffers: reading and re-hashing the parts and decrypting them;
	// decompressing the plaintext; (this one) reading the archive, hashing
	// and writing the files; and hashing the plaintext this one has read.
	// The fields the others set (parts, age, zstd and plaintext state) are
	// read only after stopAhead.
	x.cipher = newReadahead(x.age, 4, 256<<10, nil)
	defer x.stopAhead()
	zr, err := zstd.NewReader(x.cipher, decoderOptions()...)
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	defer func() {
		x.stopAhead() // before the decoder it reads from is closed
		zr.Close()
	}()
	x.zstd = &tap{r: zr}
	x.plain = &plainReader{r: x.zstd, max: x.o.Predicate.Payload.PlaintextSize}
	x.ahead = newReadahead(x.plain, 6, 256<<10, sha256.New())
	x.in = &countReader{r: x.ahead}
	tr := tar.NewReader(x.in)

	vars, err := x.variables(tr)
	if err != nil {
		return nil, err
	}
	for i := range x.o.Manifest.Files {
		if err := x.entry(tr, &x.o.Manifest.Files[i]); err != nil {
			return nil, x.first(err)
		}
	}
	if err := x.w.close(); err != nil {
		return nil, err
	}
	if err := x.end(tr); err != nil {
		return nil, err
	}
	if err := x.w.check(); err != nil {
		return nil, err
	}
	return vars, nil
}

func (x *extraction) decryptError(err error) error {
	if perr := x.parts.err; perr != nil {
		return perr
	}
	var nomatch *age.NoIdentityMatchError
	if errors.As(err, &nomatch) {
		return fmt.Errorf("%w: %w", ErrNoIdentity, err)
	}
	return &Error{Entry: entryCiphertext, Msg: "age: " + err.Error(), Err: err}
}

// end checks what follows the last listed file: the end-of-archive marker
// (two zero blocks) and nothing after it, so that no second archive or
// other data can hide inside the signed plaintext; the whole plaintext's
// size and digest; a clean end of the age stream (the zstd decoder reports
// EOF only after age has); and the parts.
func (x *extraction) end(tr *tar.Reader) error {
	last := x.in.n // the end of the last entry's content
	hdr, err := next(tr)
	if err == nil {
		return &Error{Entry: display(hdr.Name), Msg: "not in the manifest (an extra entry after the last listed file)"}
	}
	if err != io.EOF {
		return x.streamError(entryPlaintext, "reading the end of the archive", err)
	}
	// archive/tar also reports io.EOF for an archive cut short before or
	// inside its end-of-archive marker: count what it read.
	if marker := (last+blockSize-1)/blockSize*blockSize + 2*blockSize; x.in.n != marker {
		if err := x.streamFailure(); err != nil {
			return err
		}
		return &Error{Entry: entryPlaintext, Msg: fmt.Sprintf("the archive ends at byte %d without its end-of-archive marker (two zero blocks, ending at byte %d)", x.in.n, marker)}
	}
	if err := x.afterEnd(); err != nil {
		return err
	}
	x.stopAhead()
	pl := &x.o.Predicate.Payload
	if x.plain.n != pl.PlaintextSize {
		return &Error{Entry: entryPlaintext, Msg: fmt.Sprintf("%d bytes, signed plaintext size %d", x.plain.n, pl.PlaintextSize)}
	}
	if got := hex.EncodeToString(x.ahead.h.Sum(nil)); got != pl.PlaintextSHA256 {
		return &Error{Entry: entryPlaintext, Msg: fmt.Sprintf("sha256 %s, signed %s", got, pl.PlaintextSHA256)}
	}
	return x.parts.finish()
}

// blockSize is the tar block size.
const blockSize = 512

// afterEnd refuses anything after the end-of-archive marker, saying what
// it is: another archive (and its first entry), zero padding, or other
// bytes. All of it is read (it is capped by the signed plaintext size), so
// that a stream failure further in is reported as such.
func (x *extraction) afterEnd() error {
	first := make([]byte, blockSize)
	n, err := io.ReadFull(x.in, first)
	if n == 0 && err == io.EOF {
		return nil
	}
	if err != nil && err != io.ErrUnexpectedEOF {
		return x.streamError(entryPlaintext, "reading after the end of the archive", err)
	}
	total := int64(n)
	zero := !bytes.ContainsFunc(first[:n], func(r rune) bool { return r != 0 })
	for err == nil {
		if err = x.ctx.Err(); err != nil {
			return err
		}
		var k int
		k, err = x.in.Read(x.buf)
		total += int64(k)
		zero = zero && !bytes.ContainsFunc(x.buf[:k], func(r rune) bool { return r != 0 })
	}
	if err != io.EOF {
		if ferr := x.streamFailure(); ferr != nil {
			return ferr
		}
	}
	what := fmt.Sprintf("%d bytes of data", total)
	if hdr, herr := tar.NewReader(bytes.NewReader(first[:n])).Next(); n == blockSize && hdr != nil && (herr == nil || errors.Is(herr, tar.ErrInsecurePath) || herr == io.ErrUnexpectedEOF) {
		what = fmt.Sprintf("a second tar archive (%d bytes, first entry %s)", total, display(hdr.Name))
	} else if zero {
		what = fmt.Sprintf("%d zero bytes", total)
	}
	return &Error{Entry: entryPlaintext, Msg: what + " after the end-of-archive marker, inside the signed size; the archive must end there"}
}

// first returns the writer's failure, which concerns an earlier entry,
// in place of err, if there is one: failures are reported in archive order.
func (x *extraction) first(err error) error {
	if x.ctx.Err() != nil {
		return err
	}
	if werr := x.w.sync(); werr != nil {
		return werr
	}
	return err
}

// streamError turns an error from reading the tar stream into the failure
// that caused it, looking from the innermost stream out: a part (changed,
// unreadable, or cancelled), age, zstd, the plaintext cap, and finally the
// tar format itself, which is blamed on entry.
func (x *extraction) streamError(entry, doing string, err error) error {
	if ferr := x.streamFailure(); ferr != nil {
		return ferr
	}
	return &Error{Entry: entry, Msg: doing + ": " + err.Error(), Err: err}
}

// streamFailure stops the goroutines and returns the failure of the
// innermost stream that failed, or the context's error, or nil.
func (x *extraction) streamFailure() error {
	x.stopAhead()
	if cerr := x.ctx.Err(); cerr != nil {
		return cerr
	}
	switch {
	case x.parts.err != nil:
		return x.parts.err
	case x.age != nil && x.age.err != nil:
		return &Error{Entry: entryCiphertext, Msg: "age: " + x.age.err.Error(), Err: x.age.err}
	case x.zstd != nil && x.zstd.err != nil:
		return &Error{Entry: entryCompressed, Msg: "zstd: " + x.zstd.err.Error(), Err: x.zstd.err}
	case x.plain != nil && x.plain.err != nil:
		return x.plain.err
	}
	return nil
}

// stopAhead ends the goroutines, the outer one first (it may be reading
// from the inner one), and waits for them.
func (x *extraction) stopAhead() {
	if x.ahead != nil {
		x.ahead.stop()
	}
	if x.cipher != nil {
		x.cipher.stop()
	}
}

// explain replaces a failure by its likely cause when a payload part has
// changed since verification: then the part is what to report, not the
// decryption, decompression or archive error it led to. Only refusals are
// explained; for ErrNoIdentity only the current part (holding the age
// header) is checked, to spare a full read of the media.
func (x *extraction) explain(err error) error {
	var refusal *Error
	switch {
	case x.ctx.Err() != nil:
		return err
	case errors.Is(err, ErrNoIdentity):
		if perr := x.parts.drain(false); isRefusal(perr) {
			return perr
		}
	case errors.As(err, &refusal):
		if perr := x.parts.drain(true); isRefusal(perr) {
			return perr
		}
	}
	return err
}

func isRefusal(err error) bool {
	var e *Error
	return errors.As(err, &e)
}
