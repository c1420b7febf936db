package verify

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

// SinceOptions says which receipts a delta build may trust, and for what
// release (airlock build --since).
type SinceOptions struct {
	// Paths are receipt files, or folders holding them (the media carried
	// back): every receipt there is verified.
	Paths []string
	// Register is the zone's register: its hosts, their roles and receipt
	// keys. Without one, Key is the zone's receipt key and Zone its name.
	Register *zone.Register
	Key      *keys.PublicKey
	Zone     string
	// Release is the release's name: only receipts of its applies count
	// (the content store keeps each application's content apart).
	Release string
	// Targets are the release's targets, which say which hosts of the
	// register the bundle is for.
	Targets []string
}

// SinceHost is what the receipts say one target host holds.
type SinceHost struct {
	Host string `json:"host"`
	// Seq and Receipt (its statement digest) name the receipt whose
	// inventory was taken; 0 and "" when the host has none.
	Seq     uint64 `json:"seq,omitempty"`
	Receipt string `json:"receipt,omitempty"`
	File    string `json:"file,omitempty"`
	Objects int    `json:"objects"`
	Bytes   int64  `json:"bytes"`
	// Why says why the host contributes nothing, when it does not.
	Why string `json:"why,omitempty"`
}

// SinceResult is the base of a delta: what every target host holds.
type SinceResult struct {
	Base  *bundle.Base
	Hosts []SinceHost
	// Common is the number of objects every target host holds.
	Common int
}

// SinceError is a receipt a delta build refuses: unverifiable, of
// another zone, signed by another host's key, or one of two forks.
type SinceError struct {
	File string
	Msg  string
	Err  error
}

func (e *SinceError) Error() string { return e.File + ": " + e.Msg }
func (e *SinceError) Unwrap() error { return e.Err }

type sinceReceipt struct {
	file string
	r    *receipt.Receipt
}

// Since reads and verifies the receipts o names and returns what every
// target host provably holds of the release's application: for each
// host, the inventory of its newest apply of the release that succeeded.
// A receipt that does not verify with the zone's keys, of another zone,
// signed by a key the register gives another host, or two receipts of
// one host that fork its chain, refuse the build: a delta must never rest
// on a claim the zone did not sign.
func Since(o SinceOptions) (*SinceResult, error) {
	trusted, zoneName := []*keys.PublicKey{o.Key}, o.Zone
	if o.Register != nil {
		trusted, zoneName = o.Register.Keys(), o.Register.Zone
	}
	if zoneName == "" || (o.Register == nil && o.Key == nil) {
		return nil, errors.New("--since needs --zone-register, or --receipt-key and the zone")
	}
	files, err := receiptFiles(o.Paths)
	if err != nil {
		return nil, err
	}
	byHost := map[string]map[uint64]sinceReceipt{}
	for _, f := range files {
		data, err := capped.ReadFile(f, receipt.MaxSize)
		if err != nil {
			return nil, &SinceError{File: f, Msg: err.Error(), Err: err}
		}
		r, err := receipt.Verify(data, trusted)
		if err != nil {
			return nil, &SinceError{File: f, Msg: "does not verify with the zone's receipt keys: " + err.Error(), Err: err}
		}
		p := r.Predicate()
		if p.Zone != zoneName {
			return nil, &SinceError{File: f, Msg: fmt.Sprintf("a receipt of zone %q, not %q", p.Zone, zoneName)}
		}
		if o.Register != nil {
			if owner := o.Register.HostOfKey(r.Signer.ID()); owner != p.Host.Name {
				return nil, &SinceError{File: f, Msg: fmt.Sprintf("claims host %q but is signed by the receipt key of %q", p.Host.Name, owner)}
			}
		}
		seqs := byHost[p.Host.Name]
		if seqs == nil {
			seqs = map[uint64]sinceReceipt{}
			byHost[p.Host.Name] = seqs
		}
		if prev, ok := seqs[p.Seq]; ok && prev.r.SHA256 != r.SHA256 {
			return nil, &SinceError{File: f, Msg: fmt.Sprintf("forked: receipt %d of host %s is also %s, with other content", p.Seq, p.Host.Name, prev.file)}
		}
		seqs[p.Seq] = sinceReceipt{file: f, r: r}
	}
	for host, seqs := range byHost {
		for seq, sr := range seqs {
			if prev, ok := seqs[seq-1]; ok && sr.r.Predicate().PrevSHA256 != prev.r.SHA256 {
				return nil, &SinceError{File: sr.file, Msg: fmt.Sprintf("forked: receipt %d of host %s does not follow receipt %d (%s)", seq, host, seq-1, prev.file)}
			}
		}
	}
	return since(o, byHost)
}

// receiptFiles lists the receipt files of paths: files as given, folders
// by their receipt-*.dsse.json files.
func receiptFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if n := e.Name(); strings.HasPrefix(n, "receipt-") && strings.HasSuffix(n, ".dsse.json") && e.Type().IsRegular() {
				out = append(out, filepath.Join(p, n))
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--since names no receipt")
	}
	return out, nil
}

// since takes each target host's newest inventory and intersects them.
func since(o SinceOptions, byHost map[string]map[uint64]sinceReceipt) (*SinceResult, error) {
	var hosts []string
	if o.Register != nil {
		for _, h := range o.Register.Hosts {
			if bundle.MatchTargets(o.Targets, o.Register.Zone, h.Name, h.Roles) == "" {
				hosts = append(hosts, h.Name)
			}
		}
	} else {
		for h := range byHost {
			hosts = append(hosts, h)
		}
	}
	slices.Sort(hosts)
	res := &SinceResult{Base: &bundle.Base{}}
	count := map[[sha256.Size]byte]int{}
	complete := len(hosts) > 0
	for _, host := range hosts {
		sh := SinceHost{Host: host}
		newest := newestApply(byHost[host], o.Release)
		switch {
		case newest == nil:
			sh.Why = "no receipt of an apply of " + o.Release + " that succeeded"
		case newest.r.Predicate().Inventory == nil:
			sh.Why = fmt.Sprintf("its newest apply of %s (receipt %d) records no inventory", o.Release, newest.r.Predicate().Seq)
		}
		if sh.Why != "" {
			complete = false
			res.Hosts = append(res.Hosts, sh)
			continue
		}
		p := newest.r.Predicate()
		list := filepath.Join(filepath.Dir(newest.file), filepath.Base(p.Inventory.List))
		f, err := os.Open(list)
		if err != nil {
			return nil, &SinceError{File: newest.file, Msg: "its inventory list: " + err.Error(), Err: err}
		}
		err = receipt.ReadInventory(f, p.Inventory, func(obj receipt.Object) error {
			count[obj.SHA256]++
			return nil
		})
		f.Close()
		if err != nil {
			return nil, &SinceError{File: newest.file, Msg: err.Error(), Err: err}
		}
		sh.Seq, sh.Receipt, sh.File, sh.Objects, sh.Bytes = p.Seq, newest.r.SHA256, newest.file, p.Inventory.Objects, p.Inventory.Bytes
		res.Hosts = append(res.Hosts, sh)
		res.Base.Receipts = append(res.Base.Receipts, bundle.DeltaBase{Host: host, Seq: p.Seq, Receipt: newest.r.SHA256})
	}
	need := len(hosts)
	if !complete {
		clear(count) // a host that holds nothing known: everything is shipped
	}
	for sum, n := range count {
		if n != need {
			delete(count, sum)
		}
	}
	res.Common = len(count)
	res.Base.Holds = func(sum [sha256.Size]byte) bool { return count[sum] == need && need > 0 }
	return res, nil
}

// newestApply is the newest receipt of an apply of release that
// succeeded: what the host's content store holds for the release since.
func newestApply(seqs map[uint64]sinceReceipt, release string) *sinceReceipt {
	var best *sinceReceipt
	for _, sr := range seqs {
		p := sr.r.Predicate()
		if p.EventOf() != receipt.EventApply || p.Outcome.Result != receipt.Applied || p.Bundle.Name != release {
			continue
		}
		if best == nil || p.Seq > best.r.Predicate().Seq {
			sr := sr
			best = &sr
		}
	}
	return best
}
