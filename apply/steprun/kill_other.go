//go:build !unix && !windows

package steprun

import (
	"os/exec"
	"time"
)

// tree is only the step's own process where the OS offers no process groups.
type tree struct {
	cmd *exec.Cmd
}

func prepareCmd(*exec.Cmd, invocation) {}

func newTree(cmd *exec.Cmd) *tree { return &tree{cmd: cmd} }

func (t *tree) terminate() { _ = t.cmd.Process.Kill() }

func (t *tree) kill() { t.terminate() }

func (t *tree) alive() bool { return false }

func (t *tree) release() {}

func (t *tree) group(marker string, started time.Time) Group {
	return Group{ID: t.cmd.Process.Pid, Marker: marker, Started: started}
}

func stopSurvivors(Group, time.Duration) (int, error) { return 0, nil }
