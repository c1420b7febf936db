package verify

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
)

// chainWriter writes a host's receipts, each an apply of shop holding
// objects, into a folder.
type chainWriter struct {
	t    *testing.T
	dir  string
	key  *keys.Signer
	zone string
	host string
	prev string
	seq  uint64
}

func (c *chainWriter) apply(app string, result receipt.OutcomeResult, objects ...string) *receipt.Receipt {
	c.t.Helper()
	c.seq++
	p := &receipt.Predicate{FormatVersion: receipt.FormatVersion, ReceiptID: "r", Zone: c.zone, Seq: c.seq, PrevSHA256: c.prev,
		Host: receipt.Host{Name: c.host}, Time: receipt.Times{Started: time.Unix(int64(c.seq), 0).UTC()}, Checks: []receipt.Check{}, Steps: []receipt.Step{},
		Bundle: receipt.Bundle{BundleRef: receipt.BundleRef{Name: app}}, Outcome: receipt.Outcome{Result: result, Reason: "ok"}}
	name := receipt.FileName(c.zone, c.host, c.seq)
	if len(objects) > 0 {
		var objs []receipt.Object
		for _, o := range objects {
			objs = append(objs, receipt.Object{SHA256: sha256.Sum256([]byte(o)), Size: int64(len(o))})
		}
		receipt.SortObjects(objs)
		var b bytes.Buffer
		inv, err := receipt.WriteInventory(&b, receipt.InventoryName(name), objs)
		if err != nil {
			c.t.Fatal(err)
		}
		os.WriteFile(filepath.Join(c.dir, inv.List), b.Bytes(), 0o644)
		p.Inventory = inv
	}
	data, err := receipt.Sign(p, nil, c.key)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, name), data, 0o644); err != nil {
		c.t.Fatal(err)
	}
	r, err := receipt.Verify(data, []*keys.PublicKey{c.key.Public()})
	if err != nil {
		c.t.Fatal(err)
	}
	c.prev = r.SHA256
	return r
}

func (c *chainWriter) since() (*SinceResult, error) {
	return Since(SinceOptions{Paths: []string{c.dir}, Key: c.key.Public(), Zone: "test", Release: "shop", Targets: []string{"zone:test"}})
}

func newChain(t *testing.T) *chainWriter {
	return &chainWriter{t: t, dir: t.TempDir(), key: bundletest.NewSigner(t), zone: "test", host: "h1"}
}

// TestSinceNewestApply: the newest successful apply of the release gives
// the inventory; failed applies and other applications do not.
func TestSinceNewestApply(t *testing.T) {
	c := newChain(t)
	c.apply("shop", receipt.Applied, "a", "b")
	want := c.apply("shop", receipt.Applied, "b", "c")
	c.apply("shop", receipt.RolledBack)
	c.apply("other", receipt.Applied, "a", "z")
	res, err := c.since()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hosts) != 1 || res.Hosts[0].Seq != 2 || res.Hosts[0].Receipt != want.SHA256 {
		t.Fatalf("hosts %+v, want receipt 2", res.Hosts)
	}
	for o, held := range map[string]bool{"a": false, "b": true, "c": true, "z": false} {
		if res.Base.Holds(sha256.Sum256([]byte(o))) != held {
			t.Errorf("%s held: %v, want %v", o, !held, held)
		}
	}
}

// TestSinceRefused: what a delta must never rest on.
func TestSinceRefused(t *testing.T) {
	for name, tc := range map[string]struct {
		make func(c *chainWriter)
		want string
	}{
		"broken link": {func(c *chainWriter) {
			c.apply("shop", receipt.Applied, "a")
			c.prev = strings.Repeat("0", 64)
			c.apply("shop", receipt.Applied, "b")
		}, "forked"},
		"other zone": {func(c *chainWriter) { c.zone = "elsewhere"; c.apply("shop", receipt.Applied, "a") }, "not \"test\""},
		"forged": {func(c *chainWriter) {
			c.apply("shop", receipt.Applied, "a")
			p := filepath.Join(c.dir, receipt.FileName("test", "h1", 1))
			data, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(data, []byte(`"payload": "`), []byte(`"payload": "e`), 1), 0o644)
		}, "does not verify"},
		"list changed": {func(c *chainWriter) {
			c.apply("shop", receipt.Applied, "a")
			p := filepath.Join(c.dir, receipt.InventoryName(receipt.FileName("test", "h1", 1)))
			os.WriteFile(p, []byte(strings.Repeat("0", 64)+" 1\n"), 0o644)
		}, "sha256"},
	} {
		t.Run(name, func(t *testing.T) {
			c := newChain(t)
			tc.make(c)
			_, err := c.since()
			var se *SinceError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestSinceFork: two copies of a host's chain that differ (a receipt
// number with two contents) refuse the build.
func TestSinceFork(t *testing.T) {
	c := newChain(t)
	c.apply("shop", receipt.Applied, "a")
	other := &chainWriter{t: t, dir: t.TempDir(), key: c.key, zone: "test", host: "h1"}
	other.apply("shop", receipt.Applied, "x")
	_, err := Since(SinceOptions{Paths: []string{c.dir, other.dir}, Key: c.key.Public(), Zone: "test", Release: "shop", Targets: []string{"zone:test"}})
	var se *SinceError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "forked") {
		t.Fatalf("err = %v, want a fork", err)
	}
	// The same chain twice (the media and a copy) is no fork.
	if _, err := Since(SinceOptions{Paths: []string{c.dir, c.dir}, Key: c.key.Public(), Zone: "test", Release: "shop", Targets: []string{"zone:test"}}); err != nil {
		t.Fatal(err)
	}
}
