//go:build unix

package steprun

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// tree is the step's process group. The group id is the step's pid, which
// stays reserved while any member of the group is alive.
type tree struct {
	pgid int
}

// prepareCmd starts the step in a new process group so that it and all its
// children can be signalled at once.
func prepareCmd(cmd *exec.Cmd, _ invocation) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

func newTree(cmd *exec.Cmd) *tree {
	return &tree{pgid: cmd.Process.Pid}
}

func (t *tree) terminate() { _ = syscall.Kill(-t.pgid, syscall.SIGTERM) }

func (t *tree) kill() { _ = syscall.Kill(-t.pgid, syscall.SIGKILL) }

// alive reports whether any process of the group is left. Zombies do not
// count: killed grandchildren are reparented to init, which in a container
// may never reap them, and they would hold Run for the whole grace period.
func (t *tree) alive() bool {
	err := syscall.Kill(-t.pgid, 0)
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	if runtime.GOOS == "linux" {
		if live, ok := liveInGroup(t.pgid); ok {
			return live
		}
	}
	return true
}

func (t *tree) release() {}

// liveInGroup scans /proc for a process of group pgid that is not a zombie.
// ok is false if /proc cannot be read.
func liveInGroup(pgid int) (live, ok bool) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false, false
	}
	want := strconv.Itoa(pgid)
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may contain spaces and ")".
		i := strings.LastIndexByte(string(stat), ')')
		f := strings.Fields(string(stat[i+1:]))
		if len(f) >= 3 && f[2] == want && f[0] != "Z" && f[0] != "X" {
			return true, true
		}
	}
	return false, true
}
