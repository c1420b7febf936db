package apply

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestProbeSurvivesSweep: an apply holding the zone lock sweeps the
// temporary files of interrupted writers from the state directory; an
// apply or plan starting at the same moment must not lose its probe of
// the state directory to that sweep (it failed with "rename …/.probe: no
// such file or directory", exit 1, instead of waiting or reporting busy).
func TestProbeSurvivesSweep(t *testing.T) {
	dir := t.TempDir()
	if _, err := openState(dir, time.Now); err != nil {
		t.Fatal(err)
	}
	holder := &state{dir: dir, now: time.Now}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				holder.sweep()
			}
		}
	}()
	var failed error
	for i := 0; i < 300 && failed == nil; i++ {
		_, failed = openState(dir, time.Now)
	}
	close(stop)
	wg.Wait()
	if failed != nil {
		t.Fatalf("state probe lost to a concurrent sweep: %v", failed)
	}
	left, _ := filepath.Glob(filepath.Join(dir, probePrefix+"*"))
	if len(left) != 0 {
		t.Fatalf("probe files left: %v", left)
	}
}

// TestSweepRemovesDeadProbe: a probe whose writer was killed is removed
// by the next apply's sweep; a running process's is not.
func TestSweepRemovesDeadProbe(t *testing.T) {
	dir := t.TempDir()
	dead := filepath.Join(dir, probePrefix+"999999999-1")
	mine := filepath.Join(dir, probePrefix+strconv.Itoa(os.Getpid())+"-1")
	for _, p := range []string{dead, mine} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	(&state{dir: dir}).sweep()
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("dead probe not removed: %v", err)
	}
	if _, err := os.Stat(mine); err != nil {
		t.Errorf("running process's probe removed: %v", err)
	}
}
