package apply

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"airlock.dev/airlock/apply/stage"
	"airlock.dev/airlock/apply/store"
	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/chunks"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/verify"
)

// stored is what this apply put in the content store: the digests of the
// release's files, recorded for the release when the apply succeeds.
type stored struct {
	sums [][sha256.Size]byte
}

// fillStore puts the staged payload's files — pristine, as shipped and
// checked against the signed manifest, before any step substitutes or
// moves them — in the host's content store. The store is an optimisation
// for later delta bundles: a failure is a warning, and the apply goes on
// without recording this release there.
func (a *applier) fillStore(staged *stage.Staged, m *bundle.Manifest) {
	rel, err := filepath.Rel(a.state.dir, staged.Root)
	if err == nil {
		err = a.addStaged(filepath.ToSlash(rel), m)
	}
	if err != nil {
		a.stored = nil
		fmt.Fprintf(a.o.Stderr, "airlock: warning: the content store was not filled (a later delta bundle will need this release's content shipped): %s\n", printable.String(err.Error()))
	}
}

func (a *applier) addStaged(rel string, m *bundle.Manifest) error {
	s, err := store.Open(a.state.dir)
	if err != nil {
		return err
	}
	defer s.Close()
	st := &stored{}
	var large [][sha256.Size]byte
	for _, f := range m.Files {
		// Images go to the zone's registry, and a delta never leaves
		// them out: the store keeps release files only.
		if f.Type != bundle.TypeFile || strings.HasPrefix(f.Path, bundle.ImagesRoot+"/") {
			continue
		}
		var sum [sha256.Size]byte
		if _, err := hex.Decode(sum[:], []byte(f.SHA256)); err != nil {
			return fmt.Errorf("%s: %w", f.Path, err)
		}
		if err := s.Add(rel+"/"+f.Path, sum); err != nil {
			return err
		}
		st.sums = append(st.sums, sum)
		if chunks.Large(f.Size) {
			large = append(large, sum)
		}
	}
	if err := s.Index(large); err != nil {
		return err
	}
	a.stored = st
	return nil
}

// recordInventory records the applied release in the content store,
// prunes it with the releases (the largest keep of the bundle's deploy
// steps), and writes the store's inventory for this application beside
// the receipt, which records its digest.
func (a *applier) recordInventory(vr *verify.Result) {
	if a.stored == nil {
		return
	}
	if err := a.writeInventory(vr); err != nil {
		fmt.Fprintf(a.o.Stderr, "airlock: warning: the inventory was not recorded (a later delta bundle will need this release's content shipped): %s\n", printable.String(err.Error()))
	}
}

func (a *applier) writeInventory(vr *verify.Result) error {
	s, err := store.Open(a.state.dir)
	if err != nil {
		return err
	}
	defer s.Close()
	app, p := a.application(), &vr.Statement.Predicate
	if err := s.Record(app, a.j.Receipt.Seq, p.BundleID, a.stored.sums); err != nil {
		return err
	}
	keep := 0
	for _, st := range vr.Manifest.Steps {
		if st.Kind() == bundle.KindDeploy {
			keep = max(keep, st.Keep)
		}
	}
	if keep == 0 {
		keep = bundle.DefaultKeep
	}
	if err := s.Prune(app, keep); err != nil {
		return err
	}
	objs, err := s.Inventory(app)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	name := receipt.InventoryName(a.chain.Name(a.j.Receipt.Seq))
	inv, err := receipt.WriteInventory(&b, name, objs)
	if err != nil {
		return err
	}
	if err := a.chain.WriteSide(name, b.Bytes()); err != nil {
		return err
	}
	a.j.Receipt.Inventory = inv
	return nil
}

// sweepStore removes what an interrupted or failed apply left in the
// content store: files in its tmp/, objects no release record names.
func (a *applier) sweepStore() error {
	s, err := store.Open(a.state.dir)
	if err != nil {
		return err
	}
	defer s.Close()
	return errors.Join(s.Sweep(), s.Collect())
}
