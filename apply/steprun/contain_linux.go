package steprun

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Containment holds the processes of an apply's steps (see [Contain]).
type Containment struct {
	marker, mechanism string
	subreaper         bool
	seen              map[int]bool // step processes seen alive: reaped once they exit
}

func (c *Containment) contain() {
	c.seen = map[int]bool{}
	c.mechanism = "environment"
	if unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == nil {
		c.subreaper, c.mechanism = true, "subreaper"
	}
}

// procInfo is what /proc says of a process.
type procInfo struct {
	ppid  int
	state string
	name  string
}

// procs reads every process's parent, state and name from /proc.
func procs() map[int]procInfo {
	out := map[int]procInfo{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may contain spaces and ")".
		open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(string(stat[end+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		out[pid] = procInfo{ppid: ppid, state: f[0], name: string(stat[open+1 : end])}
	}
	return out
}

func dead(p procInfo) bool { return p.state == "Z" || p.state == "X" }

// running lists the live step processes: with the subreaper, those of the
// applier's tree that carry the marker or descend from one that does;
// without, every readable process that carries it.
func (c *Containment) running() []Process {
	all, self := procs(), os.Getpid()
	marked := map[int]bool{}
	var isStep func(pid, depth int) bool
	isStep = func(pid, depth int) bool {
		if m, ok := marked[pid]; ok {
			return m
		}
		p, ok := all[pid]
		m := false
		switch {
		case !ok || pid == self || pid <= 1 || depth > 4096:
		case carries([]int{pid}, c.marker):
			m = !c.subreaper || inTree(all, pid, self)
		default:
			m = c.subreaper && isStep(p.ppid, depth+1)
		}
		marked[pid] = m
		return m
	}
	var out []Process
	for pid, p := range all {
		if !dead(p) && isStep(pid, 0) {
			out = append(out, Process{PID: pid, Name: p.name})
			c.seen[pid] = true
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}

// inTree reports whether pid descends from root.
func inTree(all map[int]procInfo, pid, root int) bool {
	for i := 0; i < 4096; i++ {
		p, ok := all[pid]
		if !ok || p.ppid <= 1 {
			return root == 1
		}
		if p.ppid == root {
			return true
		}
		pid = p.ppid
	}
	return false
}

func (c *Containment) stopAll(grace time.Duration) (int, error) {
	ps := c.running()
	if len(ps) == 0 {
		return 0, nil
	}
	signal := func(sig syscall.Signal) {
		for _, p := range ps {
			_ = syscall.Kill(p.PID, sig)
		}
	}
	wait := func() {
		for deadline := time.Now().Add(grace); time.Now().Before(deadline); time.Sleep(25 * time.Millisecond) {
			c.reap()
			if ps = c.running(); len(ps) == 0 {
				return
			}
		}
	}
	n := len(ps)
	signal(syscall.SIGTERM)
	wait()
	if len(ps) > 0 {
		signal(syscall.SIGKILL)
		wait()
	}
	c.reap()
	if len(ps) > 0 {
		return n, fmt.Errorf("%d process(es) of the steps still run after SIGKILL", len(ps))
	}
	return n, nil
}

// reap collects the exit status of step processes that were reparented to
// the applier (the subreaper) and have exited, so that they do not stay
// zombies while it runs. Only pids seen as step processes are waited for:
// never a child the applier's caller started.
func (c *Containment) reap() {
	if !c.subreaper {
		return
	}
	all, self := procs(), os.Getpid()
	for pid := range c.seen {
		p, ok := all[pid]
		switch {
		case !ok:
			delete(c.seen, pid)
		case dead(p) && p.ppid == self:
			var ws unix.WaitStatus
			if got, _ := unix.Wait4(pid, &ws, unix.WNOHANG, nil); got == pid {
				delete(c.seen, pid)
			}
		}
	}
}
