package receipt

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/internal/hostinfo"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/uuid"
)

// Chain is one host's receipt chain: the receipts folder of its state
// directory. It is the one writer of chain entries — applies, refusals,
// the genesis record, policy commits — and the one reader of the head
// they continue from:
//
//   - [Chain.Head] reads the newest entry, capped and verified with the
//     zone's receipt key;
//   - [Chain.Next] makes the header of the entry after it: sequence,
//     previous link, zone, host, policy, clock, operator, applier;
//   - [Chain.Stage] and [Chain.Commit] (or [Chain.Append], both at once)
//     write a signed entry whole beside the chain, then rename it into
//     the chain without ever replacing a file;
//   - [Chain.CopyOut] copies the chain to the media carried out.
//
// A Chain holds no lock: the caller (the applier, which holds the state
// directory's lock) makes sure that one writer at a time appends.
type Chain struct {
	dir  string
	zone string
	host string
	key  *keys.PublicKey
	// write runs each write to the folder; see SetWriter.
	write func(write func() error) error
}

// OpenChain returns the chain of zone's host in dir, whose entries are
// signed with the public key key. An empty host names receipts as
// version 1 did (receipt-<zone>-<seq>.dsse.json).
func OpenChain(dir, zone, host string, key *keys.PublicKey) *Chain {
	return &Chain{dir: dir, zone: zone, host: host, key: key, write: func(w func() error) error { return w() }}
}

// SetWriter makes every write to the chain's folder go through w: the
// applier uses it to free the space it holds in reserve and try again when
// the file system is full.
func (c *Chain) SetWriter(w func(write func() error) error) { c.write = w }

// Dir is the chain's folder.
func (c *Chain) Dir() string { return c.dir }

// Zone is the zone the chain belongs to.
func (c *Chain) Zone() string { return c.zone }

// Name is the file name of entry seq of this host's chain.
func (c *Chain) Name(seq uint64) string { return FileName(c.zone, c.host, seq) }

// Path is the path of entry seq in the chain, under this host's name.
func (c *Chain) Path(seq uint64) string { return filepath.Join(c.dir, c.Name(seq)) }

// SidePath is the path of a file beside entry seq: name is FilesListName
// or LogName of the entry's file name.
func (c *Chain) SidePath(name string) string { return filepath.Join(c.dir, name) }

// Find returns the path of entry seq whatever host its name gives (a
// chain may go on from version 1 names, or from a host name a committed
// policy changed), and whether there is exactly one.
func (c *Chain) Find(seq uint64) (string, bool) {
	files, _ := ChainFiles(c.dir, c.zone)
	var found []string
	for _, f := range files {
		if f.Seq == seq {
			found = append(found, f.Name)
		}
	}
	if len(found) != 1 {
		return "", false
	}
	return filepath.Join(c.dir, found[0]), true
}

// Head is the newest entry of a chain.
type Head struct {
	Seq  uint64
	File string // its path
	// Link is the digest the next entry names as prevSha256.
	Link string
	// Receipt is the entry, verified with the chain's key — or, when
	// Rotated, only decoded.
	Receipt *Receipt
	// Rotated is true when the head was signed with a receipt key that
	// the policy it records names, not the chain's key now: the receipt
	// key was rotated in trust.yaml after it, and the rotation is not
	// committed yet (applies are refused until it is). Its signature is
	// the old key's, which the audit checks with every key.
	Rotated bool
}

// Policy is the policy the head records; nil for a chain from before
// policies were recorded.
func (h *Head) Policy() *Policy {
	if h == nil {
		return nil
	}
	return h.Receipt.Predicate().Policy
}

// Finished is when the head entry finished; zero for an empty chain.
func (h *Head) Finished() time.Time {
	if h == nil {
		return time.Time{}
	}
	return h.Receipt.Predicate().Time.Finished
}

// Head reads the newest entry of the chain (nil when there is none), at
// most MaxSize bytes of it before parsing, and verifies it with the
// chain's key: a chain is continued only from an entry this host signed,
// whose sequence number, zone and host are the ones its name says. The
// one exception is a head signed before a receipt key rotation (see
// Head.Rotated). Two files claiming the newest sequence number are an
// error: the chain cannot go on from either.
func (c *Chain) Head() (*Head, error) {
	f, err := HeadFile(c.dir, c.zone)
	if err != nil || f == nil {
		return nil, err
	}
	path := filepath.Join(c.dir, f.Name)
	h := &Head{Seq: f.Seq, File: path}
	r, data, err := c.Read(path)
	var ve *VerifyError
	if errors.As(err, &ve) && data != nil {
		if old, perr := Parse(data); perr == nil && rotatedFrom(old, c.key) {
			r, err, h.Rotated = old, nil, true
		}
	}
	if err != nil {
		return nil, fmt.Errorf("the newest receipt %s: %w (a zone's chain is only continued from a receipt it signed: restore it from the copies carried out)", path, err)
	}
	if p := r.Predicate(); p.Zone != c.zone || p.Seq != f.Seq || (f.Host != "" && p.Host.Name != f.Host) {
		return nil, &VerifyError{Reason: fmt.Sprintf("%s is receipt %d of zone %q, host %q, not what its name says", path, p.Seq, p.Zone, p.Host.Name)}
	}
	h.Receipt, h.Link = r, r.SHA256
	return h, nil
}

// rotatedFrom reports whether r records a policy whose receipt key is not
// key: it was signed under a receipt key trust.yaml no longer names.
func rotatedFrom(r *Receipt, key *keys.PublicKey) bool {
	p := r.Predicate().Policy
	return p != nil && p.ReceiptKey != "" && p.ReceiptKey != key.ID()
}

// Read reads the receipt at path, at most MaxSize bytes, and verifies it
// with the chain's key; the bytes are returned whenever they were read.
func (c *Chain) Read(path string) (*Receipt, []byte, error) {
	data, err := capped.ReadFile(path, MaxSize)
	var tl *capped.TooLargeError
	if errors.As(err, &tl) {
		return nil, nil, &VerifyError{Reason: tl.Error(), Err: err}
	}
	if err != nil {
		return nil, nil, err
	}
	r, err := Verify(data, []*keys.PublicKey{c.key})
	return r, data, err
}

// Header says who makes a chain entry, and when.
type Header struct {
	Event    Event
	Operator Operator
	Version  string    // the airlock version that writes it
	Now      time.Time // the zone clock: the entry's start
	// Policy is the policy in force: the one trust.yaml holds, which the
	// caller has checked against the head's (or, for a policy commit, the
	// new one).
	Policy *Policy
	// ClockOverride makes an entry although the zone clock is earlier than
	// the head's finish; the entry records the override.
	ClockOverride bool
}

// ClockError is a zone clock earlier than the finish of the chain's newest
// entry: an entry made now would break the chain's order in time.
type ClockError struct {
	Now      time.Time
	Seq      uint64
	Finished time.Time
}

func (e *ClockError) Error() string {
	return fmt.Sprintf("the zone clock (%s) is earlier than receipt %d (finished %s)",
		e.Now.Format(time.RFC3339Nano), e.Seq, e.Finished.UTC().Format(time.RFC3339Nano))
}

// Next returns the predicate of the entry after h (nil: the first entry),
// with its header filled in: receipt id, zone, sequence and previous link,
// event, operator, host, applier, start time and clock state, policy and
// storage. The caller adds what the entry is about and its outcome, signs
// it and appends it. A zone clock earlier than h's finish is a
// *ClockError, unless hd.ClockOverride, which the entry records; the same
// instant is not earlier.
func (c *Chain) Next(h *Head, hd Header) (*Predicate, error) {
	now := hd.Now.UTC()
	var overrides []Override
	if fin := h.Finished(); !fin.IsZero() && now.Before(fin) {
		ce := &ClockError{Now: now, Seq: h.Seq, Finished: fin}
		if !hd.ClockOverride {
			return nil, ce
		}
		overrides = append(overrides, Override{Name: "clock-override", Detail: ce.Error()})
	}
	p := &Predicate{
		ReceiptID: uuid.NewV7(now),
		Event:     hd.Event,
		Zone:      c.zone,
		Seq:       1,
		Operator:  hd.Operator,
		Host:      Host{Name: c.host, OS: runtime.GOOS, Arch: runtime.GOARCH},
		Applier:   Applier{Version: hd.Version, SHA256: hostinfo.ExecutableSHA256()},
		Time:      Times{Started: now, Source: "system clock", Clock: CurrentClock()},
		Checks:    []Check{},
		Steps:     []Step{},
		Policy:    hd.Policy,
		Storage:   StorageOf(c.dir),
		Override:  overrides,
	}
	if h != nil {
		p.Seq, p.PrevSHA256 = h.Seq+1, h.Link
	}
	return p, nil
}

// pendingSuffix marks a signed entry not yet committed to the chain.
const pendingSuffix = ".pending"

// PendingPath is where entry seq waits, signed and whole, to be committed.
func (c *Chain) PendingPath(seq uint64) string {
	return filepath.Join(c.dir, "."+c.Name(seq)+pendingSuffix)
}

// Stage writes the signed entry seq whole beside the chain (complete or
// not at all); Commit then moves it into the chain. An entry already under
// its name is an error: an entry is never replaced.
func (c *Chain) Stage(seq uint64, data []byte) error {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	if _, err := os.Lstat(c.Path(seq)); err == nil {
		return fmt.Errorf("receipt %s already exists: refusing to replace it", c.Path(seq))
	}
	return c.write(func() error { return atomicfile.WriteFile(c.PendingPath(seq), data, FileMode) })
}

// ReadPending reads and verifies the staged entry seq; ok is false when
// there is none that verifies and is entry seq of this chain's zone.
func (c *Chain) ReadPending(seq uint64) (ok bool) {
	r, _, err := c.Read(c.PendingPath(seq))
	return err == nil && r.Predicate().Seq == seq && r.Predicate().Zone == c.zone
}

// Commit moves the staged entry seq into the chain, never over another
// file. An entry already there with the same bytes (committed before an
// interruption) is kept; one with other bytes is an error.
func (c *Chain) Commit(seq uint64) error {
	final, pending := c.Path(seq), c.PendingPath(seq)
	err := atomicfile.RenameNoReplace(pending, final)
	if errors.Is(err, atomicfile.ErrExists) {
		if same, _ := sameContent(pending, final); same {
			os.Remove(pending)
			return nil
		}
		return fmt.Errorf("%w: it holds another receipt", err)
	}
	return err
}

// Drop removes a staged entry that will not be committed.
func (c *Chain) Drop(seq uint64) { os.Remove(c.PendingPath(seq)) }

// Append stages and commits the signed entry seq, and returns its path.
// An entry killed before the rename leaves no record (and the next sweep
// removes the staged file); one killed after it is complete.
func (c *Chain) Append(seq uint64, data []byte) (string, error) {
	if err := c.Stage(seq, data); err != nil {
		return "", err
	}
	if err := c.Commit(seq); err != nil {
		return "", err
	}
	return c.Path(seq), nil
}

// WriteSide writes a file beside an entry (its deployed file list, its
// step log), replacing an earlier version: it is not in the chain until
// the entry that names it with its digest is.
func (c *Chain) WriteSide(name string, data []byte) error {
	return c.write(func() error { return atomicfile.WriteFile(c.SidePath(name), data, FileMode) })
}

// Sweep removes what interrupted writers left in the folder: temporary
// files of atomic writes and entries staged but never committed.
func (c *Chain) Sweep() error {
	_, err := atomicfile.Sweep(c.dir, atomicfile.TempTag, true)
	pending, _ := filepath.Glob(filepath.Join(c.dir, ".*"+pendingSuffix))
	errs := []error{err}
	for _, p := range pending {
		errs = append(errs, os.RemoveAll(p))
	}
	return errors.Join(errs...)
}

// CopyOut copies into the folder out every entry of the chain, with the
// files beside it, that the folder does not hold yet — the genesis record,
// policy commits, receipts whose copy failed before — so that the media
// always carries the chain from its start. The folder is shared by the
// hosts of a zone (their receipts have names of their own): a copy never
// replaces a file. A file of the same name with the same bytes is this
// one, copied before; with other bytes it is another receipt, and the copy
// is an error that names it. current (an entry's path) and its side files
// are compared whole; entries copied before only by size, so that the
// chain is not read again at every apply. It returns the path of the copy
// of current.
func (c *Chain) CopyOut(current, out string) (string, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	// What a copy killed earlier left in the folder.
	atomicfile.Sweep(out, atomicfile.TempTag, false)
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return "", err
	}
	have, err := os.ReadDir(out)
	if err != nil {
		return "", err
	}
	present := make(map[string]bool, len(have))
	for _, e := range have {
		present[e.Name()] = true
	}
	cur := filepath.Base(current)
	var names []string
	for _, e := range ents {
		if InChain(c.zone, e.Name()) && e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	var errs []error
	for _, n := range names {
		src, dst := filepath.Join(c.dir, n), filepath.Join(out, n)
		var err error
		switch {
		case !present[n] || n == cur || n == FilesListName(cur) || n == LogName(cur) || n == InventoryName(cur):
			err = copyNoReplace(src, dst)
		default:
			err = sameSize(src, dst)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
		}
	}
	return filepath.Join(out, cur), errors.Join(errs...)
}

// ErrOtherFile is a file of the media folder that has a receipt's name but
// other content.
var ErrOtherFile = errors.New("it holds another file (a receipt of another host or zone with the same name?)")

// sameSize checks that dst, copied before, has src's size.
func sameSize(src, dst string) error {
	a, err := os.Stat(src)
	if err != nil {
		return err
	}
	b, err := os.Lstat(dst)
	if err != nil {
		return err
	}
	if !b.Mode().IsRegular() || a.Size() != b.Size() {
		return fmt.Errorf("%s already exists and %w", dst, ErrOtherFile)
	}
	return nil
}

// maxSideSize caps what a copy reads of a receipt or a file beside it:
// file lists are larger than receipts.
const maxSideSize = MaxSize << 4

// copyNoReplace copies the file src to dst unless dst holds it already;
// a dst with other content is an error, and stays as it is.
func copyNoReplace(src, dst string) error {
	if same, err := sameContent(src, dst); err == nil && same {
		return nil
	}
	data, err := capped.ReadFile(src, maxSideSize)
	if err != nil {
		return err
	}
	err = atomicfile.WriteNoReplace(dst, data, FileMode)
	if errors.Is(err, atomicfile.ErrExists) {
		if same, _ := sameContent(src, dst); same {
			return nil // another copy of this one got there first
		}
		return fmt.Errorf("%w: %w", err, ErrOtherFile)
	}
	return err
}

// sameContent reports whether files a and b hold the same bytes.
func sameContent(a, b string) (bool, error) {
	da, err := capped.ReadFile(a, maxSideSize)
	if err != nil {
		return false, err
	}
	db, err := capped.ReadFile(b, maxSideSize)
	if err != nil {
		return false, err
	}
	return bytes.Equal(da, db), nil
}
