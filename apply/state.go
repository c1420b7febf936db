package apply

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"airlock.dev/airlock/apply/steprun"
	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/internal/jsonx"
	"airlock.dev/airlock/receipt"
)

// The state directory of a zone:
//
//	lock                              held (flock) by the apply in progress
//	reserve                           space held by the apply in progress (see reserveSpace)
//	journal.json                      the apply in progress; absent when idle
//	channels/<name>/<channel>.json    highest sequence applied per release channel
//	targets/<sha256 of the target>.json   the releases airlock installed in a deploy target
//	receipts/receipt-<zone>-<host>-<seq>.dsse.json   the host's receipt chain (seq: 10 digits)
//	staging/<bundle id>/              the payload of the apply in progress
//	staging/outputs-<pid>-…/          its steps' output files
//
// The receipt chain head is not stored: it is the receipt with the highest
// sequence number, so it cannot disagree with the receipts themselves. The
// receipts folder is receipt.Chain's.
type state struct {
	dir  string
	lock *os.File
	now  func() time.Time
	// trouble is the first failure to write the state directory during an
	// apply, even one that succeeded once the reserve was freed: the apply
	// then rolls back like after a failed step.
	trouble error
	// afterSave, when set (by tests), is called after each journal state
	// is recorded.
	afterSave func(state string)
}

// ErrBusy means another apply holds the zone's lock.
var ErrBusy = errors.New("another apply is in progress in this zone")

// ErrStateUnusable means the state directory cannot be written: airlock
// refuses to run anything it could not record.
var ErrStateUnusable = errors.New("state directory is not usable")

// ReserveSize is the space an apply holds in the state directory while it
// runs, freed to record its end (journal and receipt) if the file system
// fills up. A state directory without this much free space refuses to start.
const ReserveSize = 1 << 20

func openState(dir string, now func() time.Time) (*state, error) {
	for _, d := range []string{dir, filepath.Join(dir, "channels"), filepath.Join(dir, "receipts"), filepath.Join(dir, "staging"), filepath.Join(dir, "targets")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrStateUnusable, err)
		}
	}
	// Probe: a read-only or full file system fails here, before anything runs.
	if err := probeWritable(dir); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrStateUnusable, dir, err)
	}
	return &state{dir: dir, now: now}, nil
}

// probePrefix starts the name of a probe file: ".probe-<pid>-<random>".
// The name is the prober's own, and not an atomic write's temporary name,
// so that an apply holding the lock, which sweeps those, never removes
// the probe of an apply or plan that is starting (it would fail with
// "no such file" instead of waiting for the lock, or reporting it busy).
const probePrefix = ".probe-"

// probeWritable writes and syncs a 4 KiB file of a name of its own in dir,
// then removes it.
func probeWritable(dir string) error {
	f, err := os.CreateTemp(dir, probePrefix+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return err
	}
	_, err = f.Write(make([]byte, 4096))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := os.Remove(f.Name()); err == nil {
		err = rerr
	}
	return err
}

func (s *state) reservePath() string { return filepath.Join(s.dir, "reserve") }

// reserveSpace writes ReserveSize bytes, durably, that freeReserve gives
// back when the file system is full: the journal and the receipt of an
// apply that filled it still fit.
func (s *state) reserveSpace() error {
	f, err := os.OpenFile(s.reservePath(), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err == nil {
		if _, err = f.Write(make([]byte, ReserveSize)); err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		os.Remove(s.reservePath())
		return fmt.Errorf("%w: %s: cannot hold %d bytes for the journal and the receipt: %v", ErrStateUnusable, s.dir, ReserveSize, err)
	}
	return nil
}

func (s *state) freeReserve() { os.Remove(s.reservePath()) }

// writing runs write; if it fails, it frees the reserve and tries once
// more. Any failure is remembered in s.trouble.
func (s *state) writing(write func() error) error {
	err := write()
	if err == nil {
		return nil
	}
	if s.trouble == nil {
		s.trouble = err
	}
	if _, rerr := os.Stat(s.reservePath()); rerr != nil {
		return err
	}
	s.freeReserve()
	return write()
}

// lockInfo is written into the lock file for the next operator to read.
type lockInfo struct {
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	Bundle  string    `json:"bundle"`
}

// acquire takes the zone lock, waiting up to wait for it, then holds the
// reserve.
func (s *state) acquire(wait time.Duration, bundlePath string) error {
	f, err := os.OpenFile(filepath.Join(s.dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStateUnusable, err)
	}
	deadline := time.Now().Add(wait) // real time: the wait is the operator's, not the zone clock's
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			holder := readLockInfo(f.Name())
			f.Close()
			return fmt.Errorf("%w (%s); wait for it, or retry with --wait", ErrBusy, holder)
		}
		time.Sleep(200 * time.Millisecond)
	}
	info, _ := json.Marshal(lockInfo{PID: os.Getpid(), Started: s.now().UTC(), Bundle: bundlePath})
	f.Truncate(0)
	f.WriteAt(info, 0)
	s.lock = f
	if err := s.reserveSpace(); err != nil {
		s.release()
		return err
	}
	return nil
}

func readLockInfo(path string) string {
	var li lockInfo
	f, _, err := capped.Open(path)
	if err != nil {
		return "holder unknown"
	}
	defer f.Close()
	if _, err := jsonx.Read(f, 4<<10, &li); err != nil {
		return "holder unknown"
	}
	return fmt.Sprintf("pid %d, since %s, applying %s", li.PID, li.Started.Format(time.RFC3339), li.Bundle)
}

func (s *state) release() {
	if s.lock != nil {
		s.freeReserve()
		s.lock.Truncate(0)
		unlock(s.lock)
		s.lock.Close()
		s.lock = nil
	}
}

// sweep removes what interrupted applies and plans left in the state
// directory outside the receipt chain (whose leftovers receipt.Chain
// sweeps): temporary files of atomic writes, staged payloads and step
// output folders (which may hold secrets), and the step output folders of
// older versions. The caller holds the lock and has
// finished any interrupted apply; only a plan that still runs keeps its
// staging folder.
func (s *state) sweep() error {
	var errs []error
	add := func(_ []string, err error) { errs = append(errs, err) }
	for _, d := range []string{s.dir, filepath.Join(s.dir, "targets")} {
		add(atomicfile.Sweep(d, atomicfile.TempTag, true))
	}
	add(atomicfile.Sweep(s.dir, probePrefix, false))
	chans, _ := os.ReadDir(filepath.Join(s.dir, "channels"))
	for _, c := range chans {
		add(atomicfile.Sweep(filepath.Join(s.dir, "channels", c.Name()), atomicfile.TempTag, true))
	}
	legacy, _ := filepath.Glob(filepath.Join(s.dir, "step-output-*"))
	for _, p := range legacy {
		errs = append(errs, os.RemoveAll(p))
	}
	add(atomicfile.Sweep(filepath.Join(s.dir, "staging"), planPrefix, false))
	staged, _ := os.ReadDir(filepath.Join(s.dir, "staging"))
	for _, e := range staged {
		if !strings.HasPrefix(e.Name(), planPrefix) {
			errs = append(errs, os.RemoveAll(filepath.Join(s.dir, "staging", e.Name())))
		}
	}
	return errors.Join(errs...)
}

// planPrefix starts the name of a plan's staging folder.
const planPrefix = "plan-"

// channelRecord is the highest sequence applied on a release channel.
type channelRecord struct {
	Name      string    `json:"name"`
	Channel   string    `json:"channel"`
	Sequence  uint64    `json:"sequence"`
	BundleID  string    `json:"bundleId"`
	Version   string    `json:"version"`
	AppliedAt time.Time `json:"appliedAt"`
	Receipt   uint64    `json:"receiptSeq"`
}

func (s *state) channelPath(name, channel string) string {
	return filepath.Join(s.dir, "channels", name, channel+".json")
}

func (s *state) channel(name, channel string) (*channelRecord, error) {
	f, _, err := capped.Open(s.channelPath(name, channel))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rec channelRecord
	if _, err := jsonx.Read(f, 64<<10, &rec); err != nil {
		return nil, fmt.Errorf("channel state %s: %w", f.Name(), err)
	}
	return &rec, nil
}

func (s *state) setChannel(rec *channelRecord) error {
	p := s.channelPath(rec.Name, rec.Channel)
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return s.writing(func() error {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		return atomicfile.WriteFile(p, append(b, '\n'), 0o600)
	})
}

// Journal states, in the order an apply passes through them. Tests kill the
// applier right after the journal records each of them.
const (
	jStarted        = "started"
	jVerified       = "verified"
	jStaged         = "staged"
	jStepStart      = "step-start"
	jStepRunning    = "step-running"
	jInstallIntent  = "install-intent"
	jSwitchIntent   = "switch-intent"
	jSwitched       = "switched"
	jStepEnd        = "step-end"
	jReverted       = "reverted"
	jSucceeded      = "succeeded"
	jChannelUpdated = "channel-updated"
	jReceiptSigned  = "receipt-signed"
	jReceiptWritten = "receipt-written"
)

// JournalStates lists every journal state (for tests that kill the applier
// in each of them).
var JournalStates = []string{jStarted, jVerified, jStaged, jStepStart, jStepRunning, jInstallIntent, jSwitchIntent,
	jSwitched, jStepEnd, jReverted, jSucceeded, jChannelUpdated, jReceiptSigned, jReceiptWritten}

// journal is the apply in progress, rewritten atomically at every change.
type journal struct {
	State string `json:"state"`
	// Interrupted is the state the apply was in when it was interrupted,
	// set by the first recovery: a recovery interrupted in turn records
	// states of its own, and the receipt must name the apply's.
	Interrupted string `json:"interrupted,omitempty"`
	Step        int    `json:"step"`
	Bundle      string `json:"bundle"`
	ReceiptOut  string `json:"receiptOut,omitempty"` // --receipt-out: recovery copies the receipt there too
	// ReceiptOutMade: the apply found or made ReceiptOut when it started;
	// recovery copies there only if it is still there (see copyTo).
	ReceiptOutMade bool              `json:"receiptOutMade,omitempty"`
	Receipt        receipt.Predicate `json:"receipt"`
	Switches       []switchRecord    `json:"switches"`
	// Install is the release being installed, recorded before it is
	// written and cleared once its switch is recorded.
	Install *installRecord `json:"install,omitempty"`
	// Running is the process group of the running step: recovery stops it.
	Running  *steprun.Group `json:"running,omitempty"`
	Channel  *channelRecord `json:"channel,omitempty"`
	Receipts []string       `json:"receiptsWritten,omitempty"` // unused; read for journals of earlier versions

	// VarFile is the apply's --var-file, and Backout counts the bundle's
	// when: failure and when: always steps: recovery opens the bundle
	// again to run them only if there are any.
	VarFile string `json:"varFile,omitempty"`
	Backout int    `json:"backout,omitempty"`
}

// switchRecord is one release switch, recorded before it happens.
type switchRecord struct {
	To       string `json:"to"`       // deploy target directory
	Previous string `json:"previous"` // link target of current before ("" if none)
	Next     string `json:"next"`     // link target of current after
	Dir      string `json:"dir"`      // the new release directory
	Keep     int    `json:"keep"`     // releases to keep in To
	Reverted bool   `json:"reverted,omitempty"`
}

func (s *state) journalPath() string { return filepath.Join(s.dir, "journal.json") }

// maxJournalSize caps the journal: a receipt predicate and a few records.
const maxJournalSize = 2*receipt.MaxSize + 1<<20

func (s *state) loadJournal() (*journal, error) {
	f, _, err := capped.Open(s.journalPath())
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var j journal
	if _, err := jsonx.Read(f, maxJournalSize, &j); err != nil {
		return nil, fmt.Errorf("journal %s: %w", f.Name(), err)
	}
	return &j, nil
}

// save records the journal durably. A full file system frees the reserve
// and tries again; s.trouble remembers it either way.
func (s *state) save(j *journal, st string) error {
	j.State = st
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := s.writing(func() error { return atomicfile.WriteFile(s.journalPath(), b, 0o600) }); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	if s.afterSave != nil {
		s.afterSave(st)
	}
	return nil
}

func (s *state) clearJournal() error {
	if err := os.Remove(s.journalPath()); err != nil && !os.IsNotExist(err) {
		return err
	}
	return atomicfile.SyncDir(s.dir)
}

func (s *state) stagingDir(bundleID string) string {
	return filepath.Join(s.dir, "staging", bundleID)
}

// targetRecord lists the releases airlock installed in one deploy target,
// oldest first: pruning and rollback remove only these, never a directory
// someone else put in <to>/releases. The target belongs to Application:
// the release name of the bundle whose apply first succeeded there
// (recorded when that apply commits). A record written before owners
// were recorded has none, and the next application to deploy there
// takes it (see claim).
type targetRecord struct {
	To          string          `json:"to"`
	Application string          `json:"application,omitempty"`
	Releases    []releaseRecord `json:"releases"`
}

// releaseRecord is one release directory airlock installed.
type releaseRecord struct {
	Name     string `json:"name"` // directory name under <to>/releases
	BundleID string `json:"bundleId"`
	Receipt  uint64 `json:"receiptSeq"` // the apply that installed it
	// Application is the release name of the bundle that installed it
	// ("" when it was recorded before applications were, and could not
	// be told from its receipt): pruning removes only an application's
	// own releases.
	Application string `json:"application,omitempty"`
}

func (s *state) targetPath(to string) string {
	sum := sha256.Sum256([]byte(to))
	return filepath.Join(s.dir, "targets", hex.EncodeToString(sum[:16])+".json")
}

// target reads the record of deploy target to (empty if there is none).
func (s *state) target(to string) (*targetRecord, error) {
	rec := &targetRecord{To: to, Releases: []releaseRecord{}}
	data, err := capped.ReadFile(s.targetPath(to), 16<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return rec, nil
	}
	if err == nil {
		err = jsonx.Unmarshal(data, rec)
	}
	if err == nil && rec.To != to {
		err = fmt.Errorf("records target %q", rec.To)
	}
	if err != nil {
		return nil, fmt.Errorf("deploy target record %s: %w", s.targetPath(to), err)
	}
	return rec, nil
}

func (s *state) setTarget(rec *targetRecord) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	return s.writing(func() error { return atomicfile.WriteFile(s.targetPath(rec.To), b, 0o600) })
}

// targets reads the record of every deploy target of the zone.
func (s *state) targets() ([]*targetRecord, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "targets"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []*targetRecord
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(s.dir, "targets", e.Name())
		data, err := capped.ReadFile(p, 16<<20)
		if err != nil {
			return nil, fmt.Errorf("deploy target record %s: %w", p, err)
		}
		rec := &targetRecord{}
		if err := jsonx.Unmarshal(data, rec); err != nil {
			return nil, fmt.Errorf("deploy target record %s: %w", p, err)
		}
		if s.targetPath(rec.To) != p {
			return nil, fmt.Errorf("deploy target record %s: records target %q, whose record is another file", p, rec.To)
		}
		out = append(out, rec)
	}
	return out, nil
}

// addRelease records that airlock installed release name in to.
func (s *state) addRelease(to string, r releaseRecord) error {
	rec, err := s.target(to)
	if err != nil {
		return err
	}
	rec.Releases = append(rec.Releases, r)
	return s.setTarget(rec)
}

// dropRelease forgets release name of to (after removing it).
func (s *state) dropRelease(to, name string) error {
	rec, err := s.target(to)
	if err != nil {
		return err
	}
	kept := rec.Releases[:0]
	for _, r := range rec.Releases {
		if r.Name != name {
			kept = append(kept, r)
		}
	}
	if len(kept) == len(rec.Releases) {
		return nil
	}
	rec.Releases = kept
	return s.setTarget(rec)
}
