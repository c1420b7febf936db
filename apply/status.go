package apply

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/names"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

// What is deployed in a zone, and what happened there, read from its state
// directory without changing it (no lock is taken: every state file is
// written atomically). Each receipt is size-capped before it is read and
// verified with the zone's receipt key; the chain between consecutive
// receipts is checked. A receipt that does not verify is reported, never
// used.

// ZoneStatus is what is deployed in a zone.
type ZoneStatus struct {
	Zone     string `json:"zone"`
	Host     string `json:"host"`
	StateDir string `json:"stateDir"`
	Receipts int    `json:"receipts"` // receipts in the state directory
	// Interrupted: a journal shows an apply in progress, or one that was
	// interrupted (the next apply, or apply --resume, finishes it).
	Interrupted bool            `json:"interrupted,omitempty"`
	Targets     []TargetStatus  `json:"targets"`
	Channels    []ChannelStatus `json:"channels"`
	// Applications group the targets and channels by application, by
	// name: those trust.yaml lists (with their roots) and those deployed.
	Applications []ApplicationStatus `json:"applications"`
	// Images are the images pushed to the zone's registry, by name: the
	// newest push of each that did not fail (format 3 receipts).
	Images   []receipt.Image `json:"images,omitempty"`
	Problems []string        `json:"problems,omitempty"`
}

// ApplicationStatus is one application of the zone: the roots trust.yaml
// gives it, and its deploy targets and channels (as Targets and Channels
// of the status name them).
type ApplicationStatus struct {
	Name     string   `json:"name"`
	Roots    []string `json:"roots,omitempty"`
	Targets  []string `json:"targets"`
	Channels []string `json:"channels"` // release channels, by name
}

// TargetStatus is what an apply put in one deploy target, by the newest
// applied receipt that names it.
type TargetStatus struct {
	Target   string `json:"target"`
	Current  string `json:"current"`            // current's link target, as the receipt recorded it
	Previous string `json:"previous,omitempty"` // the one before
	// Link is where current points now; a difference from Current means
	// something other than airlock changed it.
	Link      string           `json:"link"`
	Bundle    StatusBundle     `json:"bundle"`
	Receipt   StatusReceipt    `json:"receipt"`
	AppliedAt time.Time        `json:"appliedAt"`
	Operator  receipt.Operator `json:"operator"`
	// ChannelSequence is the highest sequence applied on the bundle's
	// release name and channel.
	ChannelSequence uint64 `json:"channelSequence"`
	// Application is the application the target belongs to: its owner in
	// the state directory, else the bundle's release name.
	Application string `json:"application"`
	// SecretFiles says whether the files of the current release that hold
	// a secret — recorded by their keyed digest — still match (nil: the
	// receipt records none).
	SecretFiles *SecretFiles `json:"secretFiles,omitempty"`
}

// SecretFiles is the host's check of the deployed files that hold a
// secret: each is hashed with the file digest key its receipt names and
// compared with the keyed digest recorded.
type SecretFiles struct {
	Files     int      `json:"files"`               // files holding a secret in the current release
	Changed   []string `json:"changed,omitempty"`   // no longer as deployed
	Missing   []string `json:"missing,omitempty"`   // gone, or not a regular file
	Unchecked []string `json:"unchecked,omitempty"` // recorded with a key this host no longer holds
}

// StatusBundle names a bundle: receipt.BundleRef's members (it converts
// from one), each always present in status and history output, as their
// schemas promise.
type StatusBundle struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Version  string `json:"version"`
	Channel  string `json:"channel"`
	Sequence uint64 `json:"sequence"`
}

// StatusReceipt names a receipt of the zone.
type StatusReceipt struct {
	Seq    uint64 `json:"seq"`
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
}

// ChannelStatus is the highest sequence applied on a release channel, as
// the state directory records it.
type ChannelStatus channelRecord

// HistoryEntry is one receipt of the zone.
type HistoryEntry struct {
	Receipt  StatusReceipt         `json:"receipt"`
	Verified bool                  `json:"verified"`
	Problem  string                `json:"problem,omitempty"` // why it is not verified, or where the chain breaks
	Started  time.Time             `json:"started,omitzero"`
	Finished time.Time             `json:"finished,omitzero"`
	Event    receipt.Event         `json:"event,omitempty"` // apply, or a control record (genesis, policy)
	Outcome  receipt.OutcomeResult `json:"outcome,omitempty"`
	Reason   receipt.Reason        `json:"reason,omitempty"`
	Message  string                `json:"message,omitempty"`
	Bundle   StatusBundle          `json:"bundle"`
	Operator receipt.Operator      `json:"operator"`
	Release  *receipt.Release      `json:"release,omitempty"`
	Releases []receipt.Release     `json:"releases,omitempty"` // every deploy switch, in step order (format 2)
	Resumed  bool                  `json:"resumed,omitempty"`
	// Application is the application of an apply: the release name of
	// its bundle ("" for a control record, or a bundle never read).
	Application string `json:"application,omitempty"`
	// Images are the images the apply's push steps pushed (format 3).
	Images []receipt.Image `json:"images,omitempty"`

	prevSHA256 string          // the receipt's link in the chain
	files      []receipt.File  // deployed files it lists
	filesList  string          // the full list beside it, and its digest
	filesSHA   string          //
	filesTotal int             //
	policy     *receipt.Policy // the policy it records
}

// ReadStatus reads what is deployed in the zone of t. When a receipt does
// not verify it returns the status with the problems listed and a
// *receipt.VerifyError.
func ReadStatus(t *zone.Trust) (*ZoneStatus, error) {
	zr, err := openZoneReceipts(t)
	if err != nil {
		return nil, err
	}
	st := &ZoneStatus{Zone: zr.zone, Host: t.Policy.Host, StateDir: t.StateDir, Receipts: len(zr.seqs),
		Targets: []TargetStatus{}, Channels: []ChannelStatus{}}
	if _, err := os.Lstat(filepath.Join(t.StateDir, "journal.json")); err == nil {
		st.Interrupted = true
	}
	if st.Channels, err = readChannels(t.StateDir); err != nil {
		return nil, err
	}
	owners := map[string]string{}
	if recs, err := (&state{dir: t.StateDir}).targets(); err != nil {
		st.Problems = append(st.Problems, err.Error())
	} else {
		for _, r := range recs {
			owners[r.To] = r.Application
		}
	}
	keys := fileKeys(t.StateDir)
	targets := map[string]bool{}
	entries := zr.read(0)
	if d := drift(t, entries); d != "" {
		st.Problems = append(st.Problems, d)
	}
	for _, e := range entries {
		if e.Problem != "" {
			st.Problems = append(st.Problems, fmt.Sprintf("receipt %d: %s", e.Receipt.Seq, e.Problem))
		}
		if e.Verified {
			st.Images = pushedImages(st.Images, e.Images)
		}
		if !e.Verified || e.Outcome != receipt.Applied {
			continue
		}
		for _, r := range e.switches() {
			if targets[r.Target] {
				continue // a newer receipt put something else there
			}
			targets[r.Target] = true
			ts := TargetStatus{Target: r.Target, Current: r.Current, Previous: r.Previous,
				Bundle: e.Bundle, Receipt: e.Receipt, AppliedAt: e.Finished, Operator: e.Operator,
				Application: cmp.Or(owners[r.Target], r.Application, e.Bundle.Name)}
			ts.Link = currentNow(r.Target)
			files, ferr := zr.deployedFiles(e)
			if ferr != nil {
				st.Problems = append(st.Problems, fmt.Sprintf("receipt %d: %v", e.Receipt.Seq, ferr))
			}
			ts.SecretFiles = checkSecretFiles(files, filepath.Join(r.Target, filepath.FromSlash(r.Current)), keys)
			for _, c := range st.Channels {
				if c.Name == e.Bundle.Name && c.Channel == e.Bundle.Channel {
					ts.ChannelSequence = c.Sequence
				}
			}
			st.Targets = append(st.Targets, ts)
		}
	}
	slices.Reverse(st.Problems) // oldest first
	sort.Slice(st.Targets, func(i, j int) bool {
		return cmp.Or(cmp.Compare(st.Targets[i].Application, st.Targets[j].Application), cmp.Compare(st.Targets[i].Target, st.Targets[j].Target)) < 0
	})
	st.Applications = groupApplications(t, st.Targets, st.Channels)
	return st, problemsError(st.Problems)
}

// groupApplications lists the applications trust.yaml names and those
// with a deploy target or a channel, by name, each with what it has.
func groupApplications(t *zone.Trust, targets []TargetStatus, channels []ChannelStatus) []ApplicationStatus {
	byName := map[string]*ApplicationStatus{}
	get := func(name string) *ApplicationStatus {
		if byName[name] == nil {
			byName[name] = &ApplicationStatus{Name: name, Targets: []string{}, Channels: []string{}}
		}
		return byName[name]
	}
	for name, app := range t.Applications {
		get(name).Roots = app.Roots
	}
	for _, ts := range targets {
		a := get(ts.Application)
		a.Targets = append(a.Targets, ts.Target)
	}
	for _, c := range channels {
		a := get(c.Name)
		a.Channels = append(a.Channels, c.Channel)
	}
	out := []ApplicationStatus{}
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		out = append(out, *byName[name])
	}
	return out
}

// deployedFiles are the files an applied receipt records: the full list
// beside it when it names one (checked against the digest it records),
// else those it lists itself.
func (zr *zoneReceipts) deployedFiles(e HistoryEntry) ([]receipt.File, error) {
	if e.filesList == "" || e.filesTotal <= len(e.files) {
		return e.files, nil
	}
	data, err := capped.ReadFile(filepath.Join(zr.dir, filepath.Base(e.filesList)), maxFilesList)
	if err != nil {
		return e.files, fmt.Errorf("its file list: %w", err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != e.filesSHA {
		return e.files, fmt.Errorf("its file list %s is not the one it records (sha256 %x)", e.filesList, sum[:6])
	}
	files, err := receipt.ParseFilesList(data)
	if err != nil {
		return e.files, fmt.Errorf("its file list %s: %w", e.filesList, err)
	}
	return files, nil
}

// maxFilesList caps a deployed file list read by status.
const maxFilesList = 1 << 30

// checkSecretFiles checks the files recorded under release directory dir
// that hold a secret against their keyed digests (nil: there are none).
func checkSecretFiles(files []receipt.File, dir string, keys map[string]*fileKey) *SecretFiles {
	var sf SecretFiles
	prefix := filepath.ToSlash(dir) + "/"
	for _, f := range files {
		if !f.Keyed() || !strings.HasPrefix(f.Path, prefix) {
			continue
		}
		sf.Files++
		k := keys[f.HMACKey]
		if k == nil {
			sf.Unchecked = append(sf.Unchecked, f.Path)
			continue
		}
		// Not a link, a pipe or a device someone put there: such a file
		// is not the one deployed, and reading it could block.
		p := filepath.FromSlash(f.Path)
		var data []byte
		fi, err := os.Lstat(p)
		if err == nil && !fi.Mode().IsRegular() {
			err = fmt.Errorf("%s is not a regular file", p)
		}
		if err == nil {
			data, err = capped.ReadFile(p, bundle.MaxSubstituteSize)
		}
		switch {
		case err != nil:
			sf.Missing = append(sf.Missing, f.Path)
		case k.sum(data) != f.HMACSHA256:
			sf.Changed = append(sf.Changed, f.Path)
		}
	}
	if sf.Files == 0 {
		return nil
	}
	return &sf
}

// ReadHistory returns the zone's receipts, newest first: the newest n, or
// all when n is 0. When a receipt does not verify it returns the history
// with the entry marked and a *receipt.VerifyError.
func ReadHistory(t *zone.Trust, n int) ([]HistoryEntry, error) {
	zr, err := openZoneReceipts(t)
	if err != nil {
		return nil, err
	}
	entries := zr.read(n)
	var problems []string
	if d := drift(t, entries); d != "" {
		problems = append(problems, d)
	}
	for _, e := range entries {
		if e.Problem != "" {
			problems = append(problems, fmt.Sprintf("receipt %d: %s", e.Receipt.Seq, e.Problem))
		}
	}
	return entries, problemsError(problems)
}

// drift says how trust.yaml differs from the policy the newest verified
// entry records ("" when it is that policy, or when none records one):
// status and history change nothing, so they report it; plan, zone check
// and apply record it.
func drift(t *zone.Trust, newestFirst []HistoryEntry) string {
	for _, e := range newestFirst {
		if !e.Verified {
			continue
		}
		if e.policy == nil || t.Record().Same(e.policy) {
			return ""
		}
		return fmt.Sprintf("%s (sha256 %s) is not the policy receipt %d records (%s): commit it with 'airlock zone commit-policy', or restore it",
			t.File, t.SHA256, e.Receipt.Seq, zone.DescribeChange(zone.Diff(e.policy, t.Record())))
	}
	return ""
}

func problemsError(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return &receipt.VerifyError{Reason: fmt.Sprintf("%d problems in the state directory", len(problems))}
}

// zoneReceipts are the receipts of a zone's state directory.
type zoneReceipts struct {
	zone string
	dir  string
	key  *keys.PublicKey
	seqs []uint64 // ascending
	// files are the receipt file names by seq (two for one seq is a
	// problem of both).
	files map[uint64][]string
}

func openZoneReceipts(t *zone.Trust) (*zoneReceipts, error) {
	if t == nil || t.Policy == nil {
		return nil, errors.New("no trust policy")
	}
	key, err := receiptKey(t)
	if err != nil {
		return nil, err
	}
	zr := &zoneReceipts{zone: t.Policy.Zone, dir: filepath.Join(t.StateDir, "receipts"), key: key, files: map[uint64][]string{}}
	files, err := receipt.ChainFiles(zr.dir, zr.zone)
	if err != nil && !errors.Is(err, fs.ErrNotExist) { // none yet: nothing applied
		return nil, fmt.Errorf("state directory %s: %w", t.StateDir, err)
	}
	for _, f := range files { // by seq
		if len(zr.files[f.Seq]) == 0 {
			zr.seqs = append(zr.seqs, f.Seq)
		}
		zr.files[f.Seq] = append(zr.files[f.Seq], f.Name)
	}
	return zr, nil
}

// receiptKey is the zone's receipt public key: receipts.publicKey, or the
// public half of receipts.key.
func receiptKey(t *zone.Trust) (*keys.PublicKey, error) {
	if t.ReceiptPub != "" {
		k, err := keys.LoadPublic(t.ReceiptPub)
		if err != nil {
			return nil, fmt.Errorf("receipt public key: %w", err)
		}
		return k, nil
	}
	s, err := keys.LoadPrivate(t.ReceiptKey, nil)
	if err != nil {
		return nil, fmt.Errorf("receipt key: %w", err)
	}
	return s.Public(), nil
}

// read verifies the newest n receipts (all when n is 0) and returns them
// newest first, each with its problem, if any: it does not verify, its
// sequence is not the one its file name says, or it does not name the
// receipt before it.
func (zr *zoneReceipts) read(n int) []HistoryEntry {
	seqs := zr.seqs
	if n > 0 && len(seqs) > n {
		seqs = seqs[len(seqs)-n:]
	}
	out := make([]HistoryEntry, 0, len(seqs))
	prev := map[uint64]string{} // seq → sha256 of verified receipts
	for _, seq := range seqs {
		e, sum := zr.entry(seq)
		if e.Verified {
			prev[seq] = sum
		}
		out = append(out, e)
	}
	for i := range out {
		e := &out[i]
		seq := e.Receipt.Seq
		before, known := prev[seq-1]
		switch {
		case !e.Verified || seq == 1:
		case i == 0 && len(seqs) == len(zr.seqs):
			e.Problem = fmt.Sprintf("receipts 1 to %d are missing", seq-1)
		case i > 0 && out[i-1].Receipt.Seq != seq-1:
			e.Problem = fmt.Sprintf("receipt %d is missing", seq-1)
		case known && e.prevSHA256 != before:
			e.Problem = fmt.Sprintf("does not name receipt %d as the one before it (the chain is broken)", seq-1)
		}
	}
	slices.Reverse(out)
	return out
}

// entry reads and verifies one receipt; it returns the entry and the
// receipt's sha256.
func (zr *zoneReceipts) entry(seq uint64) (HistoryEntry, string) {
	names := zr.files[seq]
	name := names[0]
	e := HistoryEntry{Receipt: StatusReceipt{Seq: seq, File: name}}
	if len(names) > 1 {
		e.Problem = fmt.Sprintf("%d receipts claim seq %d: %s", len(names), seq, strings.Join(names, ", "))
		return e, ""
	}
	data, err := capped.ReadFile(filepath.Join(zr.dir, name), receipt.MaxSize)
	if err != nil {
		e.Problem = err.Error()
		return e, ""
	}
	r, err := receipt.Verify(data, []*keys.PublicKey{zr.key})
	if err != nil {
		e.Problem = err.Error()
		return e, ""
	}
	p := r.Predicate()
	e.Receipt.SHA256 = r.SHA256
	if host, _, _ := receipt.ParseFileName(zr.zone, name); p.Seq != seq || p.Zone != zr.zone || (host != "" && host != p.Host.Name) {
		e.Problem = fmt.Sprintf("holds receipt %d of zone %s, host %s, not what its name says", p.Seq, p.Zone, p.Host.Name)
		return e, ""
	}
	e.Verified, e.prevSHA256 = true, p.PrevSHA256
	e.Started, e.Finished = p.Time.Started, p.Time.Finished
	e.Event = p.EventOf()
	e.Outcome, e.Reason, e.Message = p.Outcome.Result, p.Outcome.Reason, p.Outcome.Message
	e.Bundle = StatusBundle(p.Bundle.BundleRef)
	e.Operator, e.Release, e.Resumed = p.Operator, p.Release, p.Resumed
	e.files, e.Releases, e.policy, e.Images = p.Files, p.Releases, p.Policy, p.Images
	e.filesList, e.filesSHA, e.filesTotal = p.FilesList, p.FilesSHA256, p.FilesTotal
	if !e.Event.IsControl() {
		e.Application = p.Bundle.Name
	}
	return e, r.SHA256
}

// switches are the deploy switches a receipt records, newest first: its
// releases (format 2), or its one release, whose target a format 1
// receipt does not name: it is the directory under which its deployed
// files lie, in <target>/<current>/.
func (e HistoryEntry) switches() []receipt.Release {
	if len(e.Releases) > 0 {
		out := slices.Clone(e.Releases)
		slices.Reverse(out)
		return out
	}
	r := e.Release
	if r == nil || r.Current == "" {
		return nil
	}
	if r.Target != "" {
		return []receipt.Release{*r}
	}
	mark := "/" + filepath.ToSlash(r.Current) + "/"
	for _, f := range e.files {
		if i := strings.Index(f.Path, mark); i > 0 {
			v1 := *r
			v1.Target = filepath.FromSlash(f.Path[:i])
			return []receipt.Release{v1}
		}
	}
	return nil
}

// readChannels reads every channel record of the state directory.
func readChannels(stateDir string) ([]ChannelStatus, error) {
	s := &state{dir: stateDir}
	out := []ChannelStatus{}
	releases, err := os.ReadDir(filepath.Join(stateDir, "channels"))
	if os.IsNotExist(err) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, rel := range releases {
		if !rel.IsDir() || !names.Valid(rel.Name()) {
			continue
		}
		chans, err := os.ReadDir(filepath.Join(stateDir, "channels", rel.Name()))
		if err != nil {
			return nil, err
		}
		for _, ch := range chans {
			channel, ok := strings.CutSuffix(ch.Name(), ".json")
			if !ok || !names.Valid(channel) {
				continue
			}
			rec, err := s.channel(rel.Name(), channel)
			if err != nil {
				return nil, err
			}
			if rec == nil || rec.Name != rel.Name() || rec.Channel != channel {
				return nil, fmt.Errorf("channel state %s: names another channel", s.channelPath(rel.Name(), channel))
			}
			out = append(out, ChannelStatus(*rec))
		}
	}
	return out, nil
}
