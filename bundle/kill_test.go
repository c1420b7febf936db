//go:build unix

package bundle_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"filippo.io/age"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/keys"
)

func TestMain(m *testing.M) {
	if os.Getenv("AIRLOCK_BUILD_CHILD") == "1" {
		os.Exit(childBuild())
	}
	os.Exit(m.Run())
}

// childBuild is the builder process that TestBuildKilled kills: it builds
// the release in $AIRLOCK_BUILD_RELEASE to $AIRLOCK_BUILD_OUT and kills
// itself with SIGKILL after stage $AIRLOCK_BUILD_KILL_AT.
func childBuild() int {
	rel, err := bundle.LoadRelease(os.Getenv("AIRLOCK_BUILD_RELEASE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	priv, _, _ := keys.Generate(nil)
	signer, _ := keys.ParsePrivate(priv, nil)
	id, _ := age.GenerateX25519Identity()
	o := bundle.BuildOptions{Release: rel, Signer: signer, Recipients: []age.Recipient{id.Recipient()},
		Out: os.Getenv("AIRLOCK_BUILD_OUT"), LedgerDir: os.Getenv("AIRLOCK_BUILD_LEDGER"),
		Getenv: func(string) string { return "a-secret-value" }}
	at := os.Getenv("AIRLOCK_BUILD_KILL_AT")
	bundle.SetAfterStage(&o, func(stage string) {
		if stage == at {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	})
	if _, err := bundle.Build(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestBuildKilled kills the builder after each stage of its output, in
// both forms. A bundle under its final name must have its ledger entry
// (otherwise the next build reuses its sequence), and before that nothing
// that looks finished is at the output. The next build of the same output
// removes what the killed one left, and takes the next sequence.
func TestBuildKilled(t *testing.T) {
	for _, form := range []string{"folder", "file.airlock"} {
		for _, at := range []string{bundle.StageWritten, bundle.StageLedger, bundle.StageCommitted} {
			t.Run(form+"/"+at, func(t *testing.T) {
				t.Parallel()
				f := bundletest.New(t)
				release := f.WriteRelease(bundletest.DefaultYAML, bundletest.Files(), 0)
				out := filepath.Join(t.TempDir(), "shop-"+form)
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), "AIRLOCK_BUILD_CHILD=1", "AIRLOCK_BUILD_RELEASE="+release,
					"AIRLOCK_BUILD_OUT="+out, "AIRLOCK_BUILD_LEDGER="+f.Ledger, "AIRLOCK_BUILD_KILL_AT="+at)
				if b, err := cmd.CombinedOutput(); err == nil {
					t.Fatalf("the builder was not killed:\n%s", b)
				}
				entries, _ := filepath.Glob(filepath.Join(f.Ledger, "shop", "stable", "*.dsse.json"))
				if b, err := bundle.Open(out); err == nil {
					raw, _ := b.ReadFile(bundle.StatementFile, bundle.MaxStatementSize)
					b.Close()
					if len(entries) != 1 || !sameFile(entries[0], raw) {
						t.Fatalf("a bundle is at the output, but its statement is not in the ledger (%v)", entries)
					}
				} else if at == bundle.StageCommitted {
					t.Fatalf("killed after the commit, no bundle: %v", err)
				}
				seq, _ := bundle.NextSequence(f.Ledger, "shop", "stable")
				_, res := f.Build(bundletest.Options{Out: out + ".next", Sequence: 0})
				if res.Statement.Predicate.Sequence != seq || int(seq) != len(entries)+1 {
					t.Fatalf("next build took sequence %d, want %d", res.Statement.Predicate.Sequence, len(entries)+1)
				}
				os.RemoveAll(out)
				f.Build(bundletest.Options{Out: out})
				left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*"))
				if len(left) > 0 {
					t.Fatalf("left beside the output after the next build: %v", left)
				}
			})
		}
	}
}

// sameFile reports whether path holds exactly data.
func sameFile(path string, data []byte) bool {
	b, err := os.ReadFile(path)
	return err == nil && bytes.Equal(b, data)
}

// TestSignKilledAnywhere: adding a signature to a folder bundle replaces
// two files; killed after any of its steps, the folder is consistent:
// every SHA256SUMS line matches its file, and the statement is the old or
// the new one, whole. A second sign completes it.
func TestSignKilledAnywhere(t *testing.T) {
	f := bundletest.New(t)
	dir, _ := f.Build(bundletest.Options{})
	oldEnv, _ := os.ReadFile(filepath.Join(dir, bundle.StatementFile))
	sums, _ := os.ReadFile(filepath.Join(dir, bundle.SumsFile))
	env, err := dsse.Read(bytes.NewReader(oldEnv), bundle.MaxStatementSize)
	if err != nil {
		t.Fatal(err)
	}
	if err := dsse.AddSignature(env, f.Approver); err != nil {
		t.Fatal(err)
	}
	newEnv, _ := dsse.Marshal(env)
	n := len(bundle.FolderSignSteps(dir, sums, newEnv))
	if n < 2 {
		t.Fatalf("%d steps", n)
	}
	for k := 0; k <= n; k++ {
		t.Run(fmt.Sprintf("after step %d", k), func(t *testing.T) {
			copyDir := filepath.Join(t.TempDir(), "b")
			if err := os.CopyFS(copyDir, os.DirFS(dir)); err != nil {
				t.Fatal(err)
			}
			for _, step := range bundle.FolderSignSteps(copyDir, sums, newEnv)[:k] {
				if err := step(); err != nil {
					t.Fatal(err)
				}
			}
			checkSums(t, copyDir)
			st, _ := os.ReadFile(filepath.Join(copyDir, bundle.StatementFile))
			if !bytes.Equal(st, oldEnv) && !bytes.Equal(st, newEnv) {
				t.Fatal("the statement is neither the old nor the new one")
			}
			// A sign run again completes an interrupted one: by the same
			// key (which has signed already, so it says so) or another.
			_, err := bundle.AddSignature(context.Background(), copyDir, f.Approver)
			if k > 1 && (err == nil || !strings.Contains(err.Error(), "already signed")) {
				t.Fatalf("sign again with the same key: %v", err)
			}
			checkSums(t, copyDir)
			if _, err := bundle.AddSignature(context.Background(), copyDir, f.Other); err != nil {
				t.Fatal(err)
			}
			checkSums(t, copyDir)
			if sums, _ := os.ReadFile(filepath.Join(copyDir, bundle.SumsFile)); !strings.Contains(string(sums), bundle.StatementFile) {
				t.Fatal("SHA256SUMS lacks the statement's line")
			}
			if left, _ := filepath.Glob(filepath.Join(copyDir, ".*")); len(left) > 0 {
				t.Fatalf("left behind: %v", left)
			}
		})
	}
}

// checkSums does what sha256sum -c SHA256SUMS does, and also requires the
// statement's line once signing is complete.
func checkSums(t *testing.T, dir string) {
	t.Helper()
	sums, err := os.ReadFile(filepath.Join(dir, bundle.SumsFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("bad line %q", line)
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != sum {
			t.Fatalf("SHA256SUMS: %s: FAILED (a stale line)", name)
		}
	}
}
