//go:build linux

package audit

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestBenchGenerate writes AIRLOCK_BENCH_N receipts (default 10,000) with
// their ledger and keys into AIRLOCK_BENCH_DIR, for scripts/bench-audit.sh,
// which measures the airlock binary on them with GNU time (a child of this
// test process would report this process's memory as its own: Linux counts
// the memory of the process that started it in the peak RSS of a child
// started with vfork). It is skipped otherwise.
func TestBenchGenerate(t *testing.T) {
	dir := os.Getenv("AIRLOCK_BENCH_DIR")
	if dir == "" {
		t.Skip("set AIRLOCK_BENCH_DIR (scripts/bench-audit.sh does)")
	}
	n := 10000
	if s := os.Getenv("AIRLOCK_BENCH_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	writeBenchFolder(t, dir, n)
	fmt.Printf("generated %d receipts in %s\n", n, time.Since(start).Round(time.Millisecond))
}
