//go:build unix

package interrupt

import (
	"context"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// TestNotify sends this process each signal twice: the first cancels ctx
// with the signal as cause, the second the abort context.
func TestNotify(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT} {
		t.Run(Name(sig), func(t *testing.T) {
			if signal.Ignored(sig) {
				t.Skipf("%s was ignored when the tests started (under nohup?), and stays so by design (TestIgnoredStaysIgnored)", Name(sig))
			}
			var seen []int
			ctx, abort, stop := Notify(context.Background(), func(_ os.Signal, n int) { seen = append(seen, n) })
			defer stop()
			syscall.Kill(os.Getpid(), sig)
			wait(t, ctx)
			s := Cause(ctx)
			if s == nil || s.Sig != sig || s.ExitCode() != 128+int(sig) {
				t.Fatalf("cause %v", context.Cause(ctx))
			}
			if abort.Err() != nil {
				t.Fatal("the first signal canceled abort")
			}
			syscall.Kill(os.Getpid(), sig)
			wait(t, abort)
			if len(seen) != 2 {
				t.Fatalf("notices %v", seen)
			}
		})
	}
}

func wait(t *testing.T, ctx context.Context) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("not canceled")
	}
}

// TestIgnoredStaysIgnored: a signal ignored when the program started (as
// under nohup) does not interrupt it.
func TestIgnoredStaysIgnored(t *testing.T) {
	if os.Getenv("INTERRUPT_CHILD") == "1" {
		ctx, _, stop := Notify(context.Background(), nil)
		defer stop()
		syscall.Kill(os.Getpid(), syscall.SIGHUP)
		time.Sleep(200 * time.Millisecond)
		if ctx.Err() != nil {
			os.Exit(3)
		}
		os.Exit(0)
	}
	cmd := exec.Command("nohup", os.Args[0], "-test.run=^TestIgnoredStaysIgnored$")
	cmd.Env = append(os.Environ(), "INTERRUPT_CHILD=1")
	cmd.Dir = t.TempDir() // nohup writes nohup.out here
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("SIGHUP under nohup: %v\n%s", err, out)
	}
}
