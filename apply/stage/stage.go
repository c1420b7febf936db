// Package stage decrypts and extracts a verified bundle's payload into a
// fresh, confined staging directory, driven by the signed manifest rather
// than by what the archive says (doc/design.md, "Verification: the order of checks").
//
// # Contract
//
// Extract is called only after package verify has accepted the bundle: the
// statement's signatures, the manifest's digest and structure, and every
// payload part's size and SHA-256. It trusts those signed values and nothing
// read from the payload. It streams age(zstd(tar)) from the parts, in
// predicate order, and stops at the first check that fails:
//
//  1. The staging directory is created with mode 0700; it must not exist.
//  2. Each part is read up to its signed size and hashed again while it is
//     read (the media may have changed since verification); at the part's
//     end its size and SHA-256 must match the predicate.
//  3. age decrypts with the zone's identities (none matching: ErrNoIdentity).
//  4. zstd decompresses with a capped window; the plaintext may not exceed
//     the signed plaintext size, so a decompression bomb stops at the cap.
//  5. The first tar entry is variables.json: a regular file with the
//     manifest's size and SHA-256, decoded strictly and kept in memory only.
//  6. Then exactly the manifest's files, in order: for each, the manifest
//     path is checked again, and the tar header must have the same name, a
//     regular-file or directory type as listed (no links, devices, FIFOs or
//     sparse files), no link target, the listed size and exactly the listed
//     mode (no setuid, setgid or sticky bits). Directories are created, and
//     files created with O_EXCL and mode 0600, inside the staging directory
//     through an os.Root: a directory is opened through it once, and the
//     entries listed after it are created in it by name, never following a
//     link (internal/rootdir); at the end every directory made must still be
//     where it was made. File content is hashed as it is written and must
//     match the manifest before the file gets its listed mode (set on the
//     descriptor, never by name). The kernel is asked to start writing each
//     file to the disk as it is written, so that the sync before the
//     release switch has little left to do.
//  7. The archive must end after the last listed file, with its
//     end-of-archive marker (two zero blocks) ending exactly at the signed
//     plaintext size: nothing may follow it (a second archive, padding or
//     other bytes, which other tar readers might extract or ignore). The
//     whole plaintext must have the signed SHA-256; the age stream must end
//     cleanly; and every part must have matched its signed size and digest.
//
// Ownership, times, extended attributes and any other metadata in the
// archive are ignored: files get the manifest's mode and nothing else.
//
// A payload that does not match what was signed is refused with an *Error.
// If a part turns out to have changed since verification, that is reported
// in place of whatever failure it caused downstream: on a refusal the rest
// of the parts (for ErrNoIdentity, of the current part) is read and checked
// before Extract returns. On any error the staging
// directory is removed, so nothing partial is left, and nothing is ever
// written outside it. Memory does not grow with the payload: everything is
// streamed except variables.json, which is capped by bundle.MaxVariablesSize.
// Variable values are never written to disk or included in errors.
package stage

import (
	"context"
	"errors"
	"fmt"
	"os"

	"filippo.io/age"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/progress"
)

// ErrNoIdentity means none of the zone's identities can decrypt the payload.
// The error returned with it also wraps the *age.NoIdentityMatchError.
var ErrNoIdentity = errors.New("no zone identity can decrypt the payload")

// Error is a refusal: the payload does not match the signed manifest or
// predicate. Entry names the tar entry, payload part or stream concerned;
// Msg says what was found and what was expected. Any other error from
// Extract is a problem reading the bundle or writing the staging directory.
type Error struct {
	Entry string
	Msg   string
	Err   error // what was found on the way (an age or zstd error), if anything
}

func (e *Error) Error() string { return "payload: " + e.Entry + ": " + e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// Options says what to extract and where. Everything here has already been
// verified by package verify.
type Options struct {
	Bundle     *bundle.Bundle
	Predicate  *bundle.Predicate
	Manifest   *bundle.Manifest
	Identities []age.Identity
	// Dir is the staging directory. It must not exist; its parent must.
	// It is created with mode 0700.
	Dir string
	// Progress, if set, follows the extraction: one stage, "decrypt", of
	// the payload's bytes as they are read.
	Progress progress.Reporter
}

// Staged is an extracted payload.
type Staged struct {
	Root      string               // the staging directory, Options.Dir
	Variables *bundle.VariablesDoc // decoded variables.json; never on disk
}

// Extract decrypts the payload of o.Bundle and extracts the files listed in
// o.Manifest into the new directory o.Dir, checking everything against the
// signed manifest and predicate (see the package documentation). On error
// o.Dir does not exist afterwards, unless it existed before, in which case
// it is left untouched.
func Extract(ctx context.Context, o Options) (*Staged, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	root, err := createRoot(o.Dir)
	if err != nil {
		return nil, err
	}
	progress.Stage(o.Progress, "decrypt", o.Predicate.Payload.Size)
	x := newExtraction(ctx, &o, root)
	vars, err := x.run()
	if err != nil {
		err = x.explain(err)
	}
	x.close()
	if cerr := root.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close staging directory: %w", cerr)
	}
	if err != nil {
		if rerr := os.RemoveAll(o.Dir); rerr != nil {
			err = fmt.Errorf("%w (and removing the staging directory %s failed: %v)", err, o.Dir, rerr)
		}
		return nil, err
	}
	return &Staged{Root: o.Dir, Variables: vars}, nil
}

func (o *Options) check() error {
	switch {
	case o.Bundle == nil || o.Predicate == nil || o.Manifest == nil:
		return errors.New("stage: bundle, predicate and manifest are required")
	case len(o.Identities) == 0:
		return errors.New("stage: no age identity")
	case o.Dir == "":
		return errors.New("stage: no staging directory")
	case len(o.Predicate.Payload.Parts) == 0:
		return errors.New("stage: the predicate lists no payload parts")
	case o.Predicate.Payload.PlaintextSize < 0:
		return errors.New("stage: negative plaintext size")
	}
	parts := o.Predicate.Payload.Parts
	for i, part := range parts {
		if part.Name != bundle.PartName(i+1) && !(len(parts) == 1 && part.Name == bundle.PayloadFile) {
			return fmt.Errorf("stage: payload part %d is named %q", i+1, part.Name)
		}
	}
	return nil
}

// createRoot makes dir (mode 0700, which must not exist) and opens it as an
// os.Root. It checks that the directory opened is the one created, not
// something swapped in between the two calls.
func createRoot(dir string) (*os.Root, error) {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create staging directory: %w", err)
	}
	root, err := openRoot(dir)
	if err != nil {
		os.Remove(dir)
		return nil, err
	}
	return root, nil
}

func openRoot(dir string) (*os.Root, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open staging directory: %w", err)
	}
	err = func() error {
		lst, err := os.Lstat(dir)
		if err != nil {
			return err
		}
		d, err := root.Open(".")
		if err != nil {
			return err
		}
		defer d.Close()
		st, err := d.Stat()
		if err != nil {
			return err
		}
		if !os.SameFile(lst, st) {
			return errors.New("replaced while it was being opened")
		}
		return d.Chmod(0o700) // exactly 0700 whatever the umask; on the descriptor, not by name
	}()
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("staging directory %s: %w", dir, err)
	}
	return root, nil
}
