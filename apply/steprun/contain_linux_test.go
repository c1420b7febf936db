package steprun

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestContainment: a process a step started in a session of its own
// (setsid, then orphaned) is listed and stopped by the containment of its
// apply; a process of another apply, or of none, is left alone.
func TestContainment(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid")
	}
	c := Contain("test-" + strconv.Itoa(os.Getpid()))
	start := func(env string) int {
		pidFile := filepath.Join(t.TempDir(), "pid")
		cmd := exec.Command("sh", "-c", `setsid sh -c 'echo $$ > "$1.tmp"; mv "$1.tmp" "$1"; exec sleep 1000' sh "$0" </dev/null >/dev/null 2>&1 &`, pidFile)
		cmd.Env = append(os.Environ(), env)
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 400; i++ {
			if b, err := os.ReadFile(pidFile); err == nil {
				pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
				t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
				return pid
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("the daemon did not start")
		return 0
	}
	ours, other := start(c.Env()), start(ApplyEnv+"=another-apply")
	pids := func() (out []int) {
		for _, p := range c.Running() {
			out = append(out, p.PID)
		}
		return out
	}
	if got := pids(); !slices.Contains(got, ours) || slices.Contains(got, other) {
		t.Fatalf("running %v: want %d (ours), not %d", got, ours, other)
	}
	if c.Mechanism() == "subreaper" {
		if ppid := parentOf(ours); ppid != os.Getpid() {
			t.Errorf("the orphan's parent is %d, not the subreaper %d", ppid, os.Getpid())
		}
	}
	if n, err := c.StopAll(time.Second); err != nil || n != 1 {
		t.Fatalf("stopped %d: %v", n, err)
	}
	if !gone(ours) || gone(other) {
		t.Fatalf("after StopAll: ours gone %v, the other's gone %v", gone(ours), gone(other))
	}
	if got := pids(); len(got) != 0 {
		t.Fatalf("still running: %v", got)
	}
}

func parentOf(pid int) int {
	all := procs()
	return all[pid].ppid
}
