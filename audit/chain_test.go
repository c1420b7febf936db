package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
)

// want is a finding a case expects: kind, zone, seq and file must match,
// and the message must contain every string of msg.
type want struct {
	kind, zone string
	seq        uint64
	file       string
	msg        []string
}

func (w want) matches(f Finding) bool {
	if f.Kind != w.kind || f.Zone != w.zone || f.Seq != w.seq || f.File != w.file {
		return false
	}
	for _, m := range w.msg {
		if !strings.Contains(f.Message, m) {
			return false
		}
	}
	return true
}

// checkFindings asserts that every wanted finding is present and that the
// errors are exactly the wanted ones (warnings and notes may be more).
func checkFindings(t *testing.T, r *Report, wants []want) {
	t.Helper()
	var wantErrors []string
	for _, w := range wants {
		if !slices.ContainsFunc(r.Findings, w.matches) {
			t.Errorf("missing finding %s %s#%d %s %q", w.kind, w.zone, w.seq, w.file, w.msg)
		}
		if infoOf(w.kind).severity == SeverityError {
			wantErrors = append(wantErrors, w.kind)
		}
	}
	slices.Sort(wantErrors)
	if got := kindsOf(r, SeverityError); !slices.Equal(got, wantErrors) {
		t.Errorf("errors = %v, want %v", got, wantErrors)
	}
	if r.OK() != (len(wantErrors) == 0) {
		t.Errorf("OK() = %v with errors %v", r.OK(), wantErrors)
	}
	if t.Failed() {
		t.Logf("findings:\n%s", dumpFindings(r))
	}
}

// editPayload changes a signed receipt's payload and keeps its signature,
// as someone editing a field would.
func editPayload(t *testing.T, data []byte, from, to string) []byte {
	t.Helper()
	var env dsse.Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(payload), from) {
		t.Fatalf("payload has no %q", from)
	}
	env.Payload = base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(payload), from, to, 1)))
	out, err := dsse.Marshal(&env)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAuditChainProblems(t *testing.T) {
	east, west, other := newKey(t), newKey(t), newKey(t)
	tests := []struct {
		name string
		// build writes receipts into dir and returns the keys to audit with.
		build func(t *testing.T, dir string) []*keys.PublicKey
		want  []want
	}{
		{
			name: "intact chain",
			build: func(t *testing.T, dir string) []*keys.PublicKey {
				c := newChain(t, dir, "pci-east", east)
				for range 5 {
					c.next()
				}
				return pubs(east)
			},
		},
		{
			name: "missing receipt",
			build: func(t *testing.T, dir string) []*keys.PublicKey {
				c := newChain(t, dir, "pci-east", east)
				for range 5 {
					c.next()
				}
				remove(t, dir, receiptName("pci-east", 3))
				return pubs(east)
			},
			want: []want{{KindGap, "pci-east", 4, receiptName("pci-east", 4), []string{"missing receipt seq 3", "not in the folder"}}},
		},
		{
			name: "missing first receipts",
			build: func(t *testing.T, dir string) []*keys.PublicKey {
				c := newChain(t, dir, "pci-east", east)
				for range 4 {
					c.next()
				}
				remove(t, dir, receiptName("pci-east", 1))
				remove(t, dir, receiptName("pci-east", 2))
				return pubs(east)
			},
			want: []want{{KindGap, "pci-east", 3, receiptName("pci-east", 3), []string{"missing receipts seq 1–2"}}},
		},
		{
			name: "fork",
			build: func(t *testing.T, dir string) []*keys.PublicKey {
				c := newChain(t, dir, "pci-east", east)
				for range 3 {
					c.next()
				}
				p := c.predicate()
				p.Operator.User = "mallory"
				p.Time.Started = p.Time.Started.Add(time.Minute)
				writeFile(t, filepath.Join(dir, "pci-east/000004-other.receipt.json"), c.sign(p))
				c.next()
				c.next()
				return pubs(east)
			},
			want: []want{{KindFork, "pci-east", 4, "pci-east/000004-other.receipt.json",
				[]string{"2 receipts name seq 3", receiptName("pci-east", 4)}}},
		},
		{
			name: "reordered pair by links",
			build: func(t *testing.T, dir string) []*keys.PublicKey {
				c := newChain(t, dir, "pci-east", east)
				for range 3 {
					c.next()
				}
				sha3 := c.prev
				// seq 5 names seq 3, seq 4 names seq 5, seq 6 names seq 4.
				p4, p5 := c.predicate(), c.predicate()
				p5.Seq, p5.ReceiptID = 5, "pci-east-000005"
				p5.Time = p4.Time
				p5.PrevSHA256 = sha3
				d5 := c.sign(p5)
				c.write(5, d5)
				p4.PrevSHA256 = linkOf(t, d5)
				p4.Time.Started, p4.Time.Finished = p4.Time.Started.Add(time.Hour), p4.Time.Finished.Add(time.Hour)
				d4 := c.sign(p4)
				c.write(4, d4)
				c.seq, c.prev, c.clock = 5, linkOf(t, d4), c.clock.Add(2*time.Hour)
				c.next()
				return pubs(east)
			},
			want: []want{{KindReorder, "pci-east", 5, receiptName("pci-east", 5), []string{"chain order 3 → 5 → 4 → 6"}}},
		},
		{
			name: "reordered pair by time",
			build: func(t *testing.T, dir string) []*keys.PublicKey {
				c := newChain(t, dir, "pci-east", east)
				for range 3 {
					c.next()
				}
				c.next(func(p *receipt.Predicate) {
					p.Time.Started, p.Time.Finished = p.Time.Started.Add(90*time.Minute), p.Time.Finished.Add(90*time.Minute)
				})
				c.next()
				c.next()
				return pubs(east)
			},
			want: []want{{KindReorder, "pci-east", 5, receiptName("pci-east", 5), []string{"before its predecessor seq 4"}}},
		},
		{
			name: "zone clock went back during an apply",
			build: func(t *testing.T, dir string) []*keys.PublicKey {
				c := newChain(t, dir, "pci-east", east)
				for range 3 {
					c.next()
				}
				// seq 4 finished 2 minutes before it started.
				c.next(func(p *receipt.Predicate) { p.Time.Finished = p.Time.Started.Add(-2 * time.Minute) })
				c.next()
				return pubs(east)
			},
			want: []want{{KindClockBackwards, "pci-east", 4, receiptName("pci-east", 4), []string{"before it started", "the zone clock went back"}}},
		},
		{
			name: "finished before its predecessor finished",
			build: func(t *testing.T, dir string) []*keys.PublicKey {
				c := newChain(t, dir, "pci-east", east)
				for range 3 {
					c.next()
				}
				// seq 3 ran long; seq 4 started after seq 3 started, but
				// finished before it: within one second, which the
				// fraction of a second tells.
				prev := c.clock.Add(-time.Hour)
				c.next(func(p *receipt.Predicate) {
					p.Time.Started = prev.Add(500 * time.Millisecond)
					p.Time.Finished = prev.Add(900 * time.Millisecond)
				})
				return pubs(east)
			},
			want: []want{{KindClockBackwards, "pci-east", 4, receiptName("pci-east", 4), []string{"before its predecessor seq 3", ".9Z"}}},
		},
		{
			name: "numbering skipped",
			build: func(t *testing.T, dir string) []*keys.PublicKey {
				c := newChain(t, dir, "pci-east", east)
				for range 3 {
					c.next()
				}
				c.seq++ // seq 4 is never written, seq 5 names seq 3
				c.next()
				return pubs(east)
			},
			want: []want{{KindGap, "pci-east", 5, receiptName("pci-east", 5), []string{"receipt seq 4 never written"}}},
		},
		{
			name: "edited field",
			build: func(t *testing.T, dir string) []*keys.PublicKey {
				c := newChain(t, dir, "pci-east", east)
				var third []byte
				for i := range 5 {
					if _, d := c.next(); i == 2 {
						third = d
					}
				}
				writeFile(t, filepath.Join(dir, receiptName("pci-east", 3)), editPayload(t, third, `"user":"alice"`, `"user":"mallory"`))
				return pubs(east)
			},
			want: []want{
				{KindTampered, "pci-east", 3, receiptName("pci-east", 3), []string{"changed after signing", "unverified claim: zone pci-east host pci-east-01 seq 3"}},
				{KindGap, "pci-east", 4, receiptName("pci-east", 4), []string{"missing receipt seq 3", receiptName("pci-east", 3) + " (claims seq 3)"}},
			},
		},
		{
			name: "signed by another key",
			build: func(t *testing.T, dir string) []*keys.PublicKey {
				c := newChain(t, dir, "pci-east", east)
				for range 2 {
					c.next()
				}
				k := c.key
				c.key = other
				c.next()
				c.key = k
				c.next()
				return pubs(east)
			},
			want: []want{
				{KindUnknownKey, "pci-east", 3, receiptName("pci-east", 3), []string{"not signed by any receipt key given", other.Public().ID()}},
				{KindGap, "pci-east", 4, receiptName("pci-east", 4), []string{"missing receipt seq 3"}},
			},
		},
		{
			name: "receipt of another zone mixed in, its key not given",
			build: func(t *testing.T, dir string) []*keys.PublicKey {
				c := newChain(t, dir, "pci-east", east)
				for range 3 {
					c.next()
				}
				w := newChain(t, dir, "pci-west", west)
				w.seq, w.prev = 6, sha256Hex([]byte("west 6"))
				w.next()
				return pubs(east)
			},
			want: []want{{KindUnknownKey, "pci-west", 7, receiptName("pci-west", 7), []string{"unverified claim: zone pci-west host pci-west-01 seq 7"}}},
		},
		{
			name: "receipt of another zone mixed in, both keys given",
			build: func(t *testing.T, dir string) []*keys.PublicKey {
				c := newChain(t, dir, "pci-east", east)
				for range 3 {
					c.next()
				}
				w := newChain(t, dir, "pci-west", west)
				w.seq, w.prev = 6, sha256Hex([]byte("west 6"))
				w.next()
				return pubs(east, west)
			},
			want: []want{{KindGap, "pci-west", 7, receiptName("pci-west", 7), []string{"missing receipts seq 1–6"}}},
		},
		{
			name: "receipt for another zone signed with this zone's key",
			build: func(t *testing.T, dir string) []*keys.PublicKey {
				c := newChain(t, dir, "pci-east", east)
				for range 3 {
					c.next()
				}
				newChain(t, dir, "pci-west", east).next()
				return pubs(east)
			},
			want: []want{{KindZoneMismatch, "pci-west", 1, receiptName("pci-west", 1), []string{"receipt key of zone pci-east"}}},
		},
		{
			name: "chain restarts",
			build: func(t *testing.T, dir string) []*keys.PublicKey {
				c := newChain(t, dir, "pci-east", east)
				for range 3 {
					c.next()
				}
				r := newChain(t, filepath.Join(dir, "after-reinstall"), "pci-east", east)
				r.clock = c.clock.Add(24 * time.Hour)
				r.next()
				r.next()
				return pubs(east)
			},
			want: []want{{KindRestart, "pci-east", 1, "after-reinstall/" + receiptName("pci-east", 1), []string{receiptName("pci-east", 1)}}},
		},
		{
			name: "duplicate copy",
			build: func(t *testing.T, dir string) []*keys.PublicKey {
				c := newChain(t, dir, "pci-east", east)
				c.next()
				_, d := c.next()
				c.next()
				writeFile(t, filepath.Join(dir, "copy/of-2.json"), d)
				return pubs(east)
			},
			want: []want{{KindDuplicate, "pci-east", 2, receiptName("pci-east", 2), []string{"copy/of-2.json"}}},
		},
		{
			name: "unparseable, invalid and not a receipt",
			build: func(t *testing.T, dir string) []*keys.PublicKey {
				c := newChain(t, dir, "pci-east", east)
				c.next()
				writeFile(t, filepath.Join(dir, "broken.json"), []byte(`{"payloadType": "application/vnd.in-toto+json", "payload": `))
				writeFile(t, filepath.Join(dir, "README.txt"), []byte("receipts of March\n"))
				big := bytes.Repeat([]byte("x"), receipt.MaxSize+1)
				writeFile(t, filepath.Join(dir, "big.age"), append([]byte("age-encryption.org/v1\n"), big...))
				writeFile(t, filepath.Join(dir, "stray.log.age"), []byte("age-encryption.org/v1\n"))
				writeFile(t, filepath.Join(dir, "big.json"), append([]byte(`{"payload":"`), big...))
				payload := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"https://example.com/other","predicate":{}}`)
				env, err := dsse.Sign(dsse.InTotoPayloadType, payload, east)
				if err != nil {
					t.Fatal(err)
				}
				data, _ := dsse.Marshal(env)
				writeFile(t, filepath.Join(dir, "other-type.json"), data)
				return pubs(east)
			},
			want: []want{
				{KindUnparseable, "", 0, "broken.json", []string{"not a receipt envelope"}},
				{KindInvalid, "", 0, "other-type.json", []string{"predicate type"}},
				{KindNotAReceipt, "", 0, "README.txt", []string{"text"}},
				{KindNotAReceipt, "", 0, "big.age", []string{"an age-encrypted file, larger than"}},
				{KindAttachmentOrphan, "", 0, "stray.log.age", []string{"no verified receipt"}},
				{KindUnparseable, "", 0, "big.json", []string{"larger than"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ks := tt.build(t, dir)
			r := runAudit(t, Options{Dir: dir, Keys: ks})
			checkFindings(t, r, tt.want)
		})
	}
}

func remove(t *testing.T, dir, rel string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
		t.Fatal(err)
	}
}

// TestAuditGoldenMutations breaks copies of the committed fixture the way
// the issue lists and checks each is named, and the CLI-facing error.
func TestAuditGoldenMutations(t *testing.T) {
	opts := goldenOptions(t)
	tests := []struct {
		name    string
		mutate  func(t *testing.T, dir string)
		want    []want
		wantErr string
	}{
		{
			name:    "missing receipt",
			mutate:  func(t *testing.T, dir string) { remove(t, dir, receiptName("pci-west", 3)) },
			want:    []want{{KindGap, "pci-west", 4, receiptName("pci-west", 4), []string{"missing receipt seq 3"}}},
			wantErr: "audit: 1 problem (1 gap)",
		},
		{
			name: "edited field",
			mutate: func(t *testing.T, dir string) {
				p := filepath.Join(dir, receiptName("pci-east", 3))
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, p, editPayload(t, data, `"result":"failed"`, `"result":"applied"`))
			},
			want: []want{
				{KindTampered, "pci-east", 3, receiptName("pci-east", 3), nil},
				{KindGap, "pci-east", 4, receiptName("pci-east", 4), []string{receiptName("pci-east", 3) + " (claims seq 3)"}},
			},
			wantErr: "audit: 2 problems (1 tampered receipt, 1 gap)",
		},
		{
			name: "symbolic link",
			mutate: func(t *testing.T, dir string) {
				if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link.json")); err != nil {
					t.Skip("no symlinks:", err)
				}
			},
			want: []want{{KindSkipped, "", 0, "link.json", []string{"symbolic link"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			copyTree(t, goldenReceipts, dir)
			tt.mutate(t, dir)
			o := opts
			o.Dir = dir
			r := runAudit(t, o)
			checkFindings(t, r, tt.want)
			err := r.Err()
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("Err() = %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("Err() = %v, want %q", err, tt.wantErr)
			}
			if z := zoneOf(r, tt.want[0].zone); z == nil || z.ChainOK {
				t.Errorf("zone %s chain should be broken", tt.want[0].zone)
			}
		})
	}
}

func zoneOf(r *Report, name string) *Zone {
	for i := range r.Zones {
		if r.Zones[i].Name == name {
			return &r.Zones[i]
		}
	}
	return nil
}

// TestAuditChainOrderIgnoresNames checks that receipts are ordered by their
// links, not by file names: files named in reverse still give seq order.
func TestAuditChainOrderIgnoresNames(t *testing.T) {
	key := newKey(t)
	dir := t.TempDir()
	c := newChain(t, dir, "z", key)
	for i := range 6 {
		file, d := c.next()
		remove(t, dir, file)
		writeFile(t, filepath.Join(dir, "x", fmt.Sprintf("%c.json", 'z'-i)), d)
	}
	r := runAudit(t, Options{Dir: dir, Keys: pubs(key)})
	checkFindings(t, r, nil)
	var seqs []uint64
	for _, a := range entriesOf(t, r, r.Zones[0].Name) {
		seqs = append(seqs, a.Seq)
	}
	if !slices.Equal(seqs, []uint64{1, 2, 3, 4, 5, 6}) {
		t.Errorf("order = %v", seqs)
	}
}
