//go:build linux

package audit

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"airlock.dev/airlock/receipt"
)

// writeBenchFolder writes n chained receipts across two zones (each
// receipt ~4 KiB with five steps), a ledger of the bundles they apply, and
// the public keys, under dir: receipts/, ledger/, keys/.
func writeBenchFolder(tb testing.TB, dir string, n int) {
	tb.Helper()
	zoneKeys := map[string]*chainWriter{}
	builder, approver := newKey(tb), newKey(tb)
	writeFile(tb, filepath.Join(dir, "keys", "builder.pub"), builder.Public().PEM())
	for _, z := range []string{"pci-east", "pci-west"} {
		k := newKey(tb)
		writeFile(tb, filepath.Join(dir, "keys", "receipt-"+z+".pub"), k.Public().PEM())
		zoneKeys[z] = newChain(tb, filepath.Join(dir, "receipts"), z, k)
	}
	var bundles []*testBundle
	for i := range n {
		z := zoneKeys[[]string{"pci-east", "pci-west"}[i%2]]
		at := t0.Add(time.Duration(i) * 30 * time.Minute)
		bi := i / 10 // each bundle is applied five times in each zone
		if bi == len(bundles) {
			b := &testBundle{id: testUUID(fmt.Sprint("bench", bi)), name: "payments-api", version: fmt.Sprintf("3.%d.0", bi),
				channel: "production", seq: uint64(bi + 1), zones: []string{"pci-east", "pci-west"},
				issued: at.Add(-24 * time.Hour), expires: at.Add(30 * 24 * time.Hour), ticket: fmt.Sprintf("CHG-%05d", bi)}
			writeFile(tb, filepath.Join(dir, "ledger", b.ledgerPath()), b.sign(tb, builder, approver))
			bundles = append(bundles, b)
		}
		z.clock = at
		z.next(func(p *receipt.Predicate) {
			p.Bundle = bundles[bi].ref()
			p.Steps = deploySteps(at)
			switch {
			case i%97 == 0:
				p.Outcome = receipt.Outcome{Result: receipt.Refused, Reason: "sequence", Message: "already at a newer sequence"}
				p.Steps = nil
			case i%50 == 0:
				p.Outcome = receipt.Outcome{Result: receipt.Failed, Reason: "step-failed"}
				p.Steps[2].Result, p.Steps[2].ExitCode = receipt.StepFailed, 1
			case i%10 >= 2:
				p.Outcome = receipt.Outcome{Result: receipt.AlreadyApplied, Reason: "already-applied"}
				p.Steps = nil
			}
		})
	}
}

// BenchmarkAudit audits 1,000 receipts in-process (table output discarded).
func BenchmarkAudit(b *testing.B) {
	dir := b.TempDir()
	const n = 1000
	writeBenchFolder(b, dir, n)
	opts := benchOptions(b, dir)
	b.ResetTimer()
	for b.Loop() {
		r := runAudit(b, opts)
		if r.Summary.Receipts != n {
			b.Fatalf("%d receipts", r.Summary.Receipts)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "receipts/s")
}

func benchOptions(tb testing.TB, dir string) Options {
	tb.Helper()
	var o Options
	o.Dir, o.LedgerDir = filepath.Join(dir, "receipts"), filepath.Join(dir, "ledger")
	for _, name := range []string{"receipt-pci-east", "receipt-pci-west"} {
		o.Keys = append(o.Keys, loadKey(tb, filepath.Join(dir, "keys", name+".pub")))
	}
	o.LedgerKeys = append(o.LedgerKeys, loadKey(tb, filepath.Join(dir, "keys", "builder.pub")))
	return o
}

// TestBenchAuditCLI measures the airlock binary (AIRLOCK_BENCH_BIN) over
// AIRLOCK_BENCH_N receipts (default 10,000): wall time and peak RSS of the
// child process, for table, JSON and HTML output. scripts/bench-audit.sh
// runs it; it is skipped otherwise.
func TestBenchAuditCLI(t *testing.T) {
	bin := os.Getenv("AIRLOCK_BENCH_BIN")
	if bin == "" {
		t.Skip("set AIRLOCK_BENCH_BIN (scripts/bench-audit.sh does)")
	}
	n := 10000
	if s := os.Getenv("AIRLOCK_BENCH_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	start := time.Now()
	writeBenchFolder(t, dir, n)
	fmt.Printf("generated %d receipts in %s\n", n, time.Since(start).Round(time.Millisecond))
	fx := func(p string) string { return filepath.Join(dir, p) }
	base := []string{"audit", fx("receipts"), "--key", fx("keys/receipt-pci-east.pub"), "--key", fx("keys/receipt-pci-west.pub"),
		"--ledger", fx("ledger"), "--ledger-key", fx("keys/builder.pub")}
	for _, mode := range []struct {
		name  string
		extra []string
	}{
		{"table", nil},
		{"json", []string{"--json"}},
		{"table+html", []string{"--html", fx("report.html")}},
	} {
		cmd := exec.Command(bin, append(append([]string{}, base...), mode.extra...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		start := time.Now()
		err := cmd.Run()
		wall := time.Since(start)
		if err != nil {
			t.Fatalf("%s: %v\n%s", mode.name, err, stderr.String())
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		fmt.Printf("audit %d receipts, %-10s wall %6.2fs  user %6.2fs  peak RSS %6.1f MiB  output %s\n", n, mode.name,
			wall.Seconds(), time.Duration(ru.Utime.Nano()).Seconds(), maxRSSMiB(ru), sizeOf(stdout.Len()))
	}
	if st, err := os.Stat(fx("report.html")); err == nil {
		fmt.Printf("html report %s\n", sizeOf(int(st.Size())))
	}
}

// maxRSSMiB is the child's peak resident set (Linux reports KiB).
func maxRSSMiB(ru *syscall.Rusage) float64 { return float64(ru.Maxrss) / 1024 }

func sizeOf(n int) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
