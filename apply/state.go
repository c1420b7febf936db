package apply

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/internal/jsonx"
	"airlock.dev/airlock/receipt"
)

// The state directory of a zone:
//
//	lock                              held (flock) by the apply in progress
//	journal.json                      the apply in progress; absent when idle
//	channels/<name>/<channel>.json    highest sequence applied per release channel
//	receipts/receipt-<zone>-<seq>.dsse.json   the receipt chain (seq: 10 digits)
//	staging/<bundle id>/              the payload of the apply in progress
//
// The receipt chain head is not stored: it is the receipt with the highest
// sequence number, so it cannot disagree with the receipts themselves.
type state struct {
	dir  string
	lock *os.File
	now  func() time.Time
	// afterSave, when set (by tests), is called after each journal state
	// is recorded.
	afterSave func(state string)
}

// ErrBusy means another apply holds the zone's lock.
var ErrBusy = errors.New("another apply is in progress in this zone")

// ErrStateUnusable means the state directory cannot be written: airlock
// refuses to run anything it could not record.
var ErrStateUnusable = errors.New("state directory is not usable")

func openState(dir string, now func() time.Time) (*state, error) {
	for _, d := range []string{dir, filepath.Join(dir, "channels"), filepath.Join(dir, "receipts"), filepath.Join(dir, "staging")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrStateUnusable, err)
		}
	}
	// Probe: a read-only or full file system fails here, before anything runs.
	probe := filepath.Join(dir, ".probe")
	if err := atomicfile.WriteFile(probe, make([]byte, 4096), 0o600); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrStateUnusable, dir, err)
	}
	os.Remove(probe)
	return &state{dir: dir, now: now}, nil
}

// lockInfo is written into the lock file for the next operator to read.
type lockInfo struct {
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	Bundle  string    `json:"bundle"`
}

// acquire takes the zone lock, waiting up to wait for it.
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
	return nil
}

func readLockInfo(path string) string {
	var li lockInfo
	f, err := os.Open(path)
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
		s.lock.Truncate(0)
		unlock(s.lock)
		s.lock.Close()
		s.lock = nil
	}
}

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
	f, err := os.Open(s.channelPath(name, channel))
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
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(p, append(b, '\n'), 0o600)
}

// head returns the sequence and SHA-256 of the latest receipt (0, "" if none).
func (s *state) head(zone string) (uint64, string, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "receipts"))
	if err != nil {
		return 0, "", err
	}
	var seqs []uint64
	for _, e := range ents {
		if seq, ok := receipt.SeqOf(zone, e.Name()); ok {
			seqs = append(seqs, seq)
		}
	}
	if len(seqs) == 0 {
		return 0, "", nil
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	last := seqs[len(seqs)-1]
	b, err := os.ReadFile(filepath.Join(s.dir, "receipts", receipt.FileName(zone, last)))
	if err != nil {
		return 0, "", err
	}
	sum := sha256.Sum256(b)
	return last, hex.EncodeToString(sum[:]), nil
}

func (s *state) receiptPath(zone string, seq uint64) string {
	return filepath.Join(s.dir, "receipts", receipt.FileName(zone, seq))
}

// writeReceipt stores a receipt; an existing one with the same sequence is
// never replaced.
func (s *state) writeReceipt(zone string, seq uint64, data []byte) (string, error) {
	p := s.receiptPath(zone, seq)
	if _, err := os.Lstat(p); err == nil {
		return "", fmt.Errorf("receipt %s already exists", p)
	}
	return p, atomicfile.WriteFile(p, data, 0o644)
}

// Journal states, in the order an apply passes through them. Tests kill the
// applier right after the journal records each of them.
const (
	jVerified       = "verified"
	jStaged         = "staged"
	jStepStart      = "step-start"
	jSwitchIntent   = "switch-intent"
	jSwitched       = "switched"
	jStepEnd        = "step-end"
	jReverted       = "reverted"
	jSucceeded      = "succeeded"
	jChannelUpdated = "channel-updated"
	jReceiptWritten = "receipt-written"
)

// JournalStates lists every journal state (for tests that kill the applier
// in each of them).
var JournalStates = []string{jVerified, jStaged, jStepStart, jSwitchIntent, jSwitched, jStepEnd, jReverted, jSucceeded, jChannelUpdated, jReceiptWritten}

// journal is the apply in progress, rewritten atomically at every change.
type journal struct {
	State    string            `json:"state"`
	Step     int               `json:"step"`
	Bundle   string            `json:"bundle"`
	Receipt  receipt.Predicate `json:"receipt"`
	Switches []switchRecord    `json:"switches"`
	Channel  *channelRecord    `json:"channel,omitempty"`
	Receipts []string          `json:"receiptsWritten,omitempty"`
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

func (s *state) loadJournal() (*journal, error) {
	f, err := os.Open(s.journalPath())
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var j journal
	if _, err := jsonx.Read(f, 64<<20, &j); err != nil {
		return nil, fmt.Errorf("journal %s: %w", f.Name(), err)
	}
	return &j, nil
}

// save records the journal durably.
func (s *state) save(j *journal, st string) error {
	j.State = st
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(s.journalPath(), b, 0o600); err != nil {
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
