package steprun

import "time"

// Group identifies the processes of one running attempt, so that another
// process can stop what is left of them after the applier itself died (a
// power cut, SIGKILL): the applier records it before it waits for the step
// (see [Command.OnStart]), and recovery calls [StopSurvivors] with it.
//
// A process that leaves the group on purpose (setsid, a double fork into a
// new session, a service manager) is out of reach, as it is of the timeout.
type Group struct {
	// ID is the process group id on Unix (the step's pid), the pid on Windows.
	ID int `json:"id"`
	// Boot identifies the system's boot: a group id means nothing after a
	// restart. "" where it cannot be told, and then nothing is stopped.
	Boot string `json:"boot,omitempty"`
	// Marker is an environment entry only this attempt's processes carry
	// (its AIRLOCK_OUTPUT=<file>), so that a group id reused by unrelated
	// processes is never mistaken for the step's. Checked where the OS
	// shows other processes' environments (Linux).
	Marker string `json:"marker"`
	// Started is the real time just before the attempt started.
	Started time.Time `json:"started"`
}

// StopSurvivors stops every process left in g: SIGTERM to the group, then
// SIGKILL after grace to whatever remains. It returns how many processes it
// found; 0 when the group is gone, belongs to an earlier boot, or is not
// the step's (its id was reused). On Windows the step's job object ends the
// tree when the applier dies, so nothing can survive it.
func StopSurvivors(g Group, grace time.Duration) (int, error) {
	if g.ID <= 0 || g.Boot == "" || g.Boot != bootID() {
		return 0, nil
	}
	return stopSurvivors(g, grace)
}
