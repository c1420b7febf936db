package stage

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"

	"airlock.dev/airlock/bundle"
)

// copyBufferSize is the chunk in which file content is copied; the context
// is checked before each chunk.
const copyBufferSize = 64 << 10

// extraction is one run of Extract: the streams, innermost first, and the
// staging root.
type extraction struct {
	ctx   context.Context
	o     *Options
	root  *os.Root
	parts *partReader
	age   *tap // age plaintext (= zstd input)
	zstd  *tap // zstd output (= tar input, before plain)
	ahead *readahead
	plain *plainReader
	buf   []byte
}

func newExtraction(ctx context.Context, o *Options, root *os.Root) *extraction {
	return &extraction{
		ctx:   ctx,
		o:     o,
		root:  root,
		parts: newPartReader(ctx, o.Bundle, o.Predicate.Payload.Parts),
		buf:   make([]byte, copyBufferSize),
	}
}

func (x *extraction) close() { x.parts.close() }

// run streams the payload and extracts it, in the order of the package
// documentation.
func (x *extraction) run() (*bundle.VariablesDoc, error) {
	ar, err := age.Decrypt(x.parts, x.o.Identities...)
	if err != nil {
		return nil, x.decryptError(err)
	}
	x.age = &tap{r: ar}
	zr, err := zstd.NewReader(x.age, decoderOptions()...)
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	defer zr.Close()
	x.zstd = &tap{r: zr}
	// Decryption and decompression run in their own goroutine, ahead of the
	// hashing and writing of files: two cores, two halves of the work. The
	// fields they set (parts, age, zstd errors) are read only after stop.
	x.ahead = newReadahead(x.zstd, 4, 256<<10)
	defer x.ahead.stop()
	x.plain = &plainReader{r: x.ahead, max: x.o.Predicate.Payload.PlaintextSize, h: sha256.New()}
	tr := tar.NewReader(x.plain)

	vars, err := x.variables(tr)
	if err != nil {
		return nil, err
	}
	for i := range x.o.Manifest.Files {
		if err := x.entry(tr, &x.o.Manifest.Files[i]); err != nil {
			return nil, err
		}
	}
	if err := x.end(tr); err != nil {
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
	return &Error{Entry: entryCiphertext, Msg: "age: " + err.Error()}
}

// end checks what follows the last listed file: the end of the archive, the
// whole plaintext's size and digest, a clean end of the age stream (the zstd
// decoder reports EOF only after age has), and the parts.
func (x *extraction) end(tr *tar.Reader) error {
	hdr, err := next(tr)
	if err == nil {
		return &Error{Entry: display(hdr.Name), Msg: "not in the manifest (an extra entry after the last listed file)"}
	}
	if err != io.EOF {
		return x.streamError(entryPlaintext, "reading the end of the archive", err)
	}
	for {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		_, err := x.plain.Read(x.buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return x.streamError(entryPlaintext, "reading after the end of the archive", err)
		}
	}
	x.ahead.stop()
	pl := &x.o.Predicate.Payload
	if x.plain.n != pl.PlaintextSize {
		return &Error{Entry: entryPlaintext, Msg: fmt.Sprintf("%d bytes, signed plaintext size %d", x.plain.n, pl.PlaintextSize)}
	}
	if got := hex.EncodeToString(x.plain.h.Sum(nil)); got != pl.PlaintextSHA256 {
		return &Error{Entry: entryPlaintext, Msg: fmt.Sprintf("sha256 %s, signed %s", got, pl.PlaintextSHA256)}
	}
	return x.parts.finish()
}

// streamError turns an error from reading the tar stream into the failure
// that caused it, looking from the innermost stream out: a part (changed,
// unreadable, or cancelled), age, zstd, the plaintext cap, and finally the
// tar format itself, which is blamed on entry.
func (x *extraction) streamError(entry, doing string, err error) error {
	if x.ahead != nil {
		x.ahead.stop()
	}
	if cerr := x.ctx.Err(); cerr != nil {
		return cerr
	}
	switch {
	case x.parts.err != nil:
		return x.parts.err
	case x.age != nil && x.age.err != nil:
		return &Error{Entry: entryCiphertext, Msg: "age: " + x.age.err.Error()}
	case x.zstd != nil && x.zstd.err != nil:
		return &Error{Entry: entryCompressed, Msg: "zstd: " + x.zstd.err.Error()}
	case x.plain != nil && x.plain.err != nil:
		return x.plain.err
	}
	return &Error{Entry: entry, Msg: doing + ": " + err.Error()}
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
