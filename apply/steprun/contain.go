package steprun

import "time"

// ApplyEnv names the environment entry every process the steps of one
// apply start carries (AIRLOCK_APPLY=<id>, see [Contain]): a step's
// processes are found by it also after they left its process group.
const ApplyEnv = "AIRLOCK_APPLY"

// A Process is one process the steps of an apply left running.
type Process struct {
	PID  int
	Name string // the kernel's name of it (comm): at most 15 bytes
}

// Contain starts the containment of an apply whose id (unique in the
// zone) is id: a [Containment] holds the processes the steps of the apply
// start, so that they can be listed and stopped whatever they did to leave
// their process group (setsid, a double fork).
//
// On Linux the applier becomes a child subreaper (PR_SET_CHILD_SUBREAPER):
// a step's process that is orphaned is reparented to the applier, not to
// init, and stays in its tree. The step processes are then those of the
// applier's tree that carry the apply's [ApplyEnv] entry, and their
// descendants: nothing outside the tree is ever touched, and a process of
// the tree that clears its environment is still found through its parent
// (unless it also detaches from it). Where the applier cannot become a
// subreaper, every process carrying the entry that the applier's user can
// read counts. Elsewhere (other Unixes, Windows) no process is found, and
// only each step's own process group (job object) is stopped, by [Run].
func Contain(id string) *Containment {
	c := &Containment{marker: ApplyEnv + "=" + id}
	c.contain()
	return c
}

// Env is the environment entry to give every step's process.
func (c *Containment) Env() string { return c.marker }

// Mechanism says how the apply's processes are held: "subreaper",
// "environment" (found by their environment only), or "" (not at all).
func (c *Containment) Mechanism() string { return c.mechanism }

// Running lists the step processes alive now, in pid order.
func (c *Containment) Running() []Process { return c.running() }

// StopAll stops every step process: SIGTERM, then SIGKILL to those left
// after grace. It returns how many there were.
func (c *Containment) StopAll(grace time.Duration) (int, error) { return c.stopAll(grace) }

// StopMarked stops, after a crash of the applier, every process that
// carries the environment entry marker (an apply's [Containment.Env]) and
// their process groups, as [StopSurvivors] does for one attempt: on Linux
// only; elsewhere it finds none.
func StopMarked(marker string, grace time.Duration) (int, error) {
	return StopSurvivors(Group{Boot: bootID(), Marker: marker}, grace)
}
