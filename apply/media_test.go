//go:build unix

package apply

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"airlock.dev/airlock/receipt"
)

// TestMediaPulledMidApply: the media holding --receipt-out is pulled out
// while a step runs — the folder's path then names nothing, or a new
// folder on the disk beneath the mount point. The apply ends with its
// receipt in the state directory, says the copy was not made, writes
// nothing where the folder was, and keeps the copy pending: once the
// media is back, apply --resume (or the next apply) copies it.
func TestMediaPulledMidApply(t *testing.T) {
	for _, tt := range []struct {
		name     string
		recreate bool // something makes a folder of the same path (another folder)
		resume   bool // finish with apply --resume, else with the next apply
	}{
		{"gone, resumed", false, true},
		{"replaced, next apply", true, false},
		{"gone, next apply", false, false},
		{"replaced, resumed", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			z := newZone(t)
			pulled := z.media() + ".pulled"
			pull := func(state string) {
				if state != jStepEnd {
					return
				}
				if _, err := os.Stat(pulled); err == nil {
					return // pulled once already
				}
				if err := os.Rename(z.media(), pulled); err != nil {
					t.Error(err)
				}
				if tt.recreate {
					if err := os.Mkdir(z.media(), 0o755); err != nil {
						t.Error(err)
					}
				}
			}
			res, err := z.apply(z.build("1.0.0", "true", 1), func(o *Options) { o.afterJournal = pull })
			if err != nil || res.Outcome != receipt.Applied {
				t.Fatalf("%+v %v", res, err)
			}
			if res.ReceiptCopy != "" || !strings.Contains(z.out.String(), "receipt NOT copied") || !strings.Contains(z.out.String(), "nothing was written there") {
				t.Fatalf("copy %q; the operator was not told:\n%s", res.ReceiptCopy, z.out.String())
			}
			ents, err := os.ReadDir(z.media())
			switch {
			case tt.recreate && (err != nil || len(ents) != 0):
				t.Fatalf("the folder in the media's place: %v %v", ents, err)
			case !tt.recreate && !os.IsNotExist(err):
				t.Fatalf("the media's folder was made again beneath the mount point: %v %v", ents, err)
			}
			if _, err := os.Stat(filepath.Join(z.trust.StateDir, "journal.json")); err != nil {
				t.Fatalf("the copy is not kept pending: %v", err)
			}
			// The media comes back.
			os.RemoveAll(z.media())
			if err := os.Rename(pulled, z.media()); err != nil {
				t.Fatal(err)
			}
			want := 2 // the genesis record and the apply
			if tt.resume {
				if res, err := z.resume(); err != nil || res == nil || res.ReceiptCopy == "" {
					t.Fatalf("resume: %+v %v", res, err)
				}
			} else {
				if res, err := z.apply(z.build("2.0.0", "true", 2)); err != nil || res.Outcome != receipt.Applied {
					t.Fatalf("next apply: %+v %v", res, err)
				}
				want = 3
			}
			z.checkMedia(want)
			if _, err := os.Stat(filepath.Join(z.trust.StateDir, "journal.json")); !os.IsNotExist(err) {
				t.Fatal("journal left after the copy")
			}
		})
	}
}
