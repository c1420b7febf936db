package bundle_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/bundle/bundletest"
)

// TestBuildRefusesAStatementVerifyRefuses: a release whose statement
// would be larger than the envelope the verifier reads (here, hundreds of
// test evidence files with long paths; a payload of thousands of parts
// does the same) is refused by the build, which leaves nothing at Out.
// Before, the build made the bundle and every zone refused it.
func TestBuildRefusesAStatementVerifyRefuses(t *testing.T) {
	f := bundletest.New(t)
	files := bundletest.Files()
	long := strings.Repeat("d", 250)
	var evidence strings.Builder
	for i := range 800 {
		p := fmt.Sprintf("tests/%s/%s/%s/%04d-%s.txt", long, long, long, i, strings.Repeat("e", 200))
		files[p] = "ok\n"
		fmt.Fprintf(&evidence, "    - %s\n", p)
	}
	yaml := strings.Replace(bundletest.DefaultYAML, "change: { ticket: CHG-1, reason: test }",
		"change:\n  ticket: CHG-1\n  reason: test\n  testEvidence:\n"+evidence.String(), 1)
	rel, err := bundle.LoadRelease(f.WriteRelease(yaml, files, 0))
	if err != nil {
		t.Fatal(err)
	}
	out := f.Dir + "/too-big"
	_, err = bundle.Build(context.Background(), bundle.BuildOptions{
		Release: rel, Signer: f.Release, Recipients: []age.Recipient{f.Identity.Recipient()},
		Out: out, Sequence: 1, LedgerDir: f.Ledger, Now: func() time.Time { return f.Now },
		Getenv: func(string) string { return "canary-s3cret-value" },
	})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("more than the %d bytes verify reads", bundle.MaxStatementSize)) ||
		!strings.Contains(err.Error(), "800 test evidence files") {
		t.Fatalf("build: %v, want it refused for the size of its statement", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("the refused build left %s: %v", out, err)
	}
}
