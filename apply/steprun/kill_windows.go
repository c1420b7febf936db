//go:build windows

package steprun

import (
	"os/exec"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// tree is the step's process tree, held in a Job Object: processes the step
// starts join the job, so terminating the job ends them all. The step is
// assigned to the job just after it starts; a child started in that instant
// would escape. If no job can be created, taskkill /T is used instead.
//
// While the step runs the job kills its processes when its last handle
// closes, so if the applier dies (killed, console closed) the step dies with
// it and nothing survives to write into a release that recovery restores.
// After the step exits on its own that limit is lifted before the handle is
// closed: processes it left behind on purpose are not killed.
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
	setKillOnClose(job, true)
	return t
}

// setKillOnClose sets or clears JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE.
func setKillOnClose(job windows.Handle, on bool) {
	var info windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION
	if on {
		info.BasicLimitInformation.LimitFlags = windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
	}
	_, _ = windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)))
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
		setKillOnClose(t.job, false)
		windows.CloseHandle(t.job)
		t.job = 0
	}
}

func (t *tree) group(marker string, started time.Time) Group {
	return Group{ID: t.pid, Marker: marker, Started: started}
}

// stopSurvivors has nothing to do: the job ended the tree with the applier.
func stopSurvivors(Group, time.Duration) (int, error) { return 0, nil }
