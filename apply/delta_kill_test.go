//go:build unix

package apply

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/receipt"
)

// TestDeltaAcrossKill: a delta apply killed at any journal state is
// recovered like any other (the store's leftovers removed), and the delta
// then applies — or was applied — with the release a full bundle deploys.
func TestDeltaAcrossKill(t *testing.T) {
	for _, at := range []string{jVerified, jStaged, jStepStart, jSwitched, jSucceeded, jChannelUpdated, jReceiptSigned} {
		t.Run(at, func(t *testing.T) {
			z := newZone(t)
			z.mustApply(z.buildV(1, deltaFiles(1), nil))
			d := z.buildV(2, deltaFiles(2), z.since(z.media()).Base)
			cmd := z.child(d, "AIRLOCK_CHILD_KILL_AT="+at, "AIRLOCK_CHILD_MEDIA="+z.media())
			if out, err := cmd.CombinedOutput(); err == nil {
				t.Fatalf("the applier was not killed at %s:\n%s", at, out)
			}
			if _, err := z.resume(); err != nil {
				t.Fatalf("resume: %v\n%s", err, z.out.String())
			}
			if left := z.leftovers(); len(left) > 0 {
				t.Fatalf("left behind after recovery: %v", left)
			}
			if z.current() != "releases/1.2.0" {
				z.mustApply(d)
			}
			if z.current() != "releases/1.2.0" {
				t.Fatalf("current %q", z.current())
			}
			for name, content := range deltaFiles(2) {
				if name == "web/conf/app.conf" {
					continue // substituted
				}
				got, err := os.ReadFile(filepath.Join(z.root, "current", name[len("web/"):]))
				if err != nil || string(got) != content {
					t.Fatalf("%s deployed from the delta differs (%v)", name, err)
				}
			}
			if left := z.leftovers(); len(left) > 0 {
				t.Fatalf("left behind: %v", left)
			}
		})
	}
}

// TestDeltaCannotReadOtherApplication: a signer trusted for shop cannot
// use a delta to take content the host keeps for another application —
// here, a file of "other" holding what shop's signer does not have — into
// shop's release: only shop's own records are its base.
func TestDeltaCannotReadOtherApplication(t *testing.T) {
	z := newZone(t)
	otherFiles := deltaFiles(1)
	otherFiles["web/private.key"] = "another application's key material\n"
	yaml := strings.Replace(release("1.0.0", "true"), "name: shop", "name: other", 1)
	dir, _ := z.f.Build(bundletest.Options{YAML: yaml, Files: otherFiles, Sequence: 1, Secret: secret})
	z.mustApply(dir)
	// The signer knows the digest (it is in receipts) and claims every
	// host holds everything: the builder leaves all content out.
	lie := &bundle.Base{Receipts: []bundle.DeltaBase{{Host: "host1", Seq: 2, Receipt: sumHex("x")}}, Holds: func([32]byte) bool { return true }}
	shopFiles := deltaFiles(1)
	shopFiles["web/private.key"] = otherFiles["web/private.key"]
	d := z.buildV(1, shopFiles, lie)
	res, err := z.apply(d)
	if err == nil || res.Reason != receipt.ReasonBaseMissing {
		t.Fatalf("apply: %v (%+v), want refused base-missing", err, res)
	}
	if z.current() != "releases/1.0.0" || z.markers() != "prepare 1.0.0\n" {
		t.Errorf("current %q, markers %q: shop ran from another application's content", z.current(), z.markers())
	}
}
