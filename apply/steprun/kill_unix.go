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
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if state, g, ok := procStat(pid); ok && g == pgid && state != "Z" && state != "X" {
			pids = append(pids, pid)
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

// stopSurvivors stops what is left of g. On Linux that is every process
// group holding a process that carries g's marker in its environment; the
// ID alone is not trusted (it may have been reused, or not yet recorded).
// Elsewhere it is g's group, trusted on the boot check of StopSurvivors.
func stopSurvivors(g Group, grace time.Duration) (int, error) {
	groups, found := []int{g.ID}, 1
	if runtime.GOOS == "linux" {
		var err error
		if groups, found, err = markedGroups(g.Marker); err != nil || len(groups) == 0 {
			return 0, err
		}
	} else if g.ID <= 0 {
		return 0, nil
	} else if err := syscall.Kill(-g.ID, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0, nil
	}
	var errs []error
	for _, pgid := range groups {
		t := &tree{pgid: pgid}
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
				errs = append(errs, fmt.Errorf("process group %d is still alive after SIGKILL", pgid))
			}
		}
	}
	return found, errors.Join(errs...)
}

// markedGroups scans /proc for live processes whose environment holds
// marker, and returns their process groups and how many processes there
// are. Only a process's own user (or root) can read its environment.
func markedGroups(marker string) (groups []int, found int, err error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, 0, errors.New("cannot read /proc to look for the step's processes")
	}
	seen := map[int]bool{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, pgid, ok := procStat(pid)
		if !ok || state == "Z" || state == "X" || !carries([]int{pid}, marker) {
			continue
		}
		found++
		if !seen[pgid] && pgid > 1 {
			seen[pgid] = true
			groups = append(groups, pgid)
		}
	}
	return groups, found, nil
}

// procStat reads a process's state and process group from /proc.
func procStat(pid int) (state string, pgid int, ok bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, false // exited meanwhile
	}
	// pid (comm) state ppid pgrp ...; comm may contain spaces and ")".
	i := strings.LastIndexByte(string(stat), ')')
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 3 {
		return "", 0, false
	}
	pgid, err = strconv.Atoi(f[2])
	return f[0], pgid, err == nil
}

// group describes the tree for Command.OnStart.
func (t *tree) group(marker string, started time.Time) Group {
	return Group{ID: t.pgid, Boot: bootID(), Marker: marker, Started: started}
}
