package bundle

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"airlock.dev/airlock/internal/atomicfile"
)

// The builder's ledger keeps a copy of every statement it signed, as
// <ledger>/<name>/<channel>/<sequence, 10 digits>-<bundle id>.dsse.json.
// Auditors reconcile receipts against it; Build takes the next sequence
// number from it.

// LedgerPath is where the ledger keeps the statement of a bundle.
func LedgerPath(ledger string, p *Predicate) string {
	return filepath.Join(ledger, p.Name, p.Channel, fmt.Sprintf("%010d-%s.dsse.json", p.Sequence, p.BundleID))
}

// NextSequence returns one more than the highest sequence in the ledger for
// name and channel (1 for a new channel).
func NextSequence(ledger, name, channel string) (uint64, error) {
	ents, err := os.ReadDir(filepath.Join(ledger, name, channel))
	if os.IsNotExist(err) {
		return 1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read ledger: %w", err)
	}
	var max uint64
	for _, e := range ents {
		n, ok := strings.CutSuffix(e.Name(), ".dsse.json")
		if !ok || len(n) < 11 || n[10] != '-' {
			continue
		}
		seq, err := strconv.ParseUint(n[:10], 10, 64)
		if err == nil && seq > max {
			max = seq
		}
	}
	return max + 1, nil
}

func recordInLedger(ledger string, st *Statement, envelope []byte) (string, error) {
	p := LedgerPath(ledger, &st.Predicate)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	// What a build killed while writing an entry left.
	atomicfile.Sweep(filepath.Dir(p), atomicfile.TempTag, false)
	if _, err := os.Lstat(p); err == nil {
		return "", fmt.Errorf("%s already exists", p)
	}
	return p, atomicfile.WriteFile(p, envelope, 0o644)
}
