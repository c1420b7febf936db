package apply

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"airlock.dev/airlock/bundle/bundletest"
)

// TestStateFilesRejectCaseVariants: the journal, a channel record and the
// lock's holder information are read strictly, like every other JSON file:
// a member whose name differs from a field's only in case is refused.
func TestStateFilesRejectCaseVariants(t *testing.T) {
	dir := bundletest.TempDir(t)
	st, err := openState(dir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	write := func(path, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	journal := `{"state":"verified","step":0,"bundle":"b","receipt":{"formatVersion":2,"receiptId":"r","zone":"z","seq":1,"prevSha256":"","bundle":{"verified":true},"operator":{"user":"u","uid":"1"},"host":{"name":"h","os":"linux","arch":"amd64"},"applier":{"version":"v"},"time":{"started":"2026-11-01T12:00:00Z","finished":"0001-01-01T00:00:00Z","source":"system clock"},"checks":[],"steps":[],"outcome":{"result":"","reason":""}},"switches":[]}`
	write(st.journalPath(), journal)
	if _, err := st.loadJournal(); err != nil {
		t.Fatalf("the unedited journal: %v", err)
	}
	channel := `{"name":"shop","channel":"stable","sequence":3,"bundleId":"b","version":"1.0","appliedAt":"2026-11-01T12:00:00Z","receiptSeq":1}`
	write(st.channelPath("shop", "stable"), channel)
	if _, err := st.channel("shop", "stable"); err != nil {
		t.Fatalf("the unedited channel record: %v", err)
	}
	lock := `{"pid":42,"started":"2026-11-01T12:00:00Z","bundle":"b"}`
	write(filepath.Join(dir, "lock"), lock)
	if got := readLockInfo(filepath.Join(dir, "lock")); !strings.Contains(got, "pid 42") {
		t.Fatalf("the unedited lock info: %q", got)
	}

	tests := []struct {
		name, doc, old, new string
		read                func() error
	}{
		{"journal State beside state", journal, `"state":"verified"`, `"State":"receipt-written","state":"verified"`, func() error { _, err := st.loadJournal(); return err }},
		{"journal Switches", journal, `"switches":[]`, `"Switches":[{"to":"/"}],"switches":[]`, func() error { _, err := st.loadJournal(); return err }},
		{"journal receipt Seq", journal, `"seq":1`, `"Seq":9,"seq":1`, func() error { _, err := st.loadJournal(); return err }},
		{"channel Sequence beside sequence", channel, `"sequence":3`, `"Sequence":1,"sequence":3`, func() error { _, err := st.channel("shop", "stable"); return err }},
		{"channel BundleID instead of bundleId", channel, `"bundleId"`, `"BundleID"`, func() error { _, err := st.channel("shop", "stable"); return err }},
		{"lock PID", lock, `"pid":42`, `"PID":7,"pid":42`, func() error {
			if got := readLockInfo(filepath.Join(dir, "lock")); got != "holder unknown" {
				return nil
			}
			return errUnknownMember
		}},
	}
	paths := map[string]string{journal: st.journalPath(), channel: st.channelPath("shop", "stable"), lock: filepath.Join(dir, "lock")}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			edited := strings.Replace(tt.doc, tt.old, tt.new, 1)
			if edited == tt.doc {
				t.Fatalf("%q not in the document", tt.old)
			}
			write(paths[tt.doc], edited)
			defer write(paths[tt.doc], tt.doc)
			if err := tt.read(); err == nil || !strings.Contains(err.Error(), "unknown object member") {
				t.Fatalf("read = %v, want an unknown member error", err)
			}
		})
	}
}

// errUnknownMember stands for the lock info being refused: readLockInfo
// reports "holder unknown" rather than an error.
var errUnknownMember = errors.New("unknown object member: holder unknown")
