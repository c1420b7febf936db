//go:build !unix && !windows

package steprun

import "os/exec"

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
