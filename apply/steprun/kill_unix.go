//go:build unix

package steprun

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
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
		if members, ok := groupMembers(t.pgid); ok {
			return len(members) > 0
		}
	}
	return true
}

func (t *tree) release() {}

// groupMembers scans /proc for the processes of group pgid that are not
// zombies. ok is false if /proc cannot be read.
func groupMembers(pgid int) (pids []int, ok bool) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, false
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
			if pid, err := strconv.Atoi(e.Name()); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids, true
}

// carries reports whether any of pids has entry (NAME=value) in its
// environment. Only a process's own user (or root) can read it.
func carries(pids []int, entry string) bool {
	for _, pid := range pids {
		env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if string(kv) == entry {
				return true
			}
		}
	}
	return false
}

// stopSurvivors stops group g, if it is still there and still the step's.
// On Linux a group counts as the step's only if one of its processes
// carries the attempt's marker in its environment; elsewhere the boot check
// of StopSurvivors is all there is.
func stopSurvivors(g Group, grace time.Duration) (int, error) {
	found := 1
	if runtime.GOOS == "linux" {
		members, ok := groupMembers(g.ID)
		if !ok {
			return 0, errors.New("cannot read /proc to look for the step's processes")
		}
		if len(members) == 0 || !carries(members, g.Marker) {
			return 0, nil
		}
		found = len(members)
	} else if err := syscall.Kill(-g.ID, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0, nil
	}
	t := &tree{pgid: g.ID}
	t.terminate()
	for deadline := time.Now().Add(grace); t.alive() && time.Now().Before(deadline); {
		time.Sleep(25 * time.Millisecond)
	}
	if t.alive() {
		t.kill()
		for deadline := time.Now().Add(grace); t.alive() && time.Now().Before(deadline); {
			time.Sleep(25 * time.Millisecond)
		}
		if t.alive() {
			return found, fmt.Errorf("process group %d is still alive after SIGKILL", g.ID)
		}
	}
	return found, nil
}

// group describes the tree for Command.OnStart.
func (t *tree) group(marker string, started time.Time) Group {
	return Group{ID: t.pgid, Boot: bootID(), Marker: marker, Started: started}
}
