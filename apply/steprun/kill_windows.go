//go:build windows

package steprun

import (
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/windows"
)

// tree is the step's process tree, held in a Job Object: processes the step
// starts join the job, so terminating the job ends them all. The step is
// assigned to the job just after it starts; a child started in that instant
// would escape. If no job can be created, taskkill /T is used instead.
type tree struct {
	job windows.Handle
	pid int
}

// prepareCmd sets the raw command line cmd.exe needs.
func prepareCmd(cmd *exec.Cmd, inv invocation) {
	cmd.SysProcAttr = &syscall.SysProcAttr{
		CmdLine:       inv.cmdLine,
		CreationFlags: windows.CREATE_NEW_PROCESS_GROUP,
	}
}

func newTree(cmd *exec.Cmd) *tree {
	t := &tree{pid: cmd.Process.Pid}
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return t
	}
	p, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(t.pid))
	if err == nil {
		err = windows.AssignProcessToJobObject(job, p)
		windows.CloseHandle(p)
	}
	if err != nil {
		windows.CloseHandle(job)
		return t
	}
	t.job = job
	return t
}

// terminate ends the whole tree at once; Windows has no SIGTERM to send.
func (t *tree) terminate() {
	if t.job != 0 {
		if windows.TerminateJobObject(t.job, 1) == nil {
			return
		}
	}
	_ = exec.Command("taskkill", "/T", "/F", "/PID", strconv.Itoa(t.pid)).Run()
}

func (t *tree) kill() { t.terminate() }

// alive reports false: terminate does not return before the job is ended.
func (t *tree) alive() bool { return false }

func (t *tree) release() {
	if t.job != 0 {
		windows.CloseHandle(t.job)
		t.job = 0
	}
}
