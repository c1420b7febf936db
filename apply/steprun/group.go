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
	// ID is the process group id on Unix (the step's pid), the pid on
	// Windows; 0 until the attempt's process has started.
	ID int `json:"id,omitempty"`
	// Boot identifies the system's boot: a group id means nothing after a
	// restart. "" where it cannot be told, and then nothing is stopped.
	Boot string `json:"boot,omitempty"`
	// Marker is an environment entry only this attempt's processes carry
	// (its AIRLOCK_OUTPUT=<file>). Where the OS shows other processes'
	// environments (Linux), survivors are found by it — also before the ID
	// was recorded, and in a group of their own — and a group id reused by
	// unrelated processes is never mistaken for the step's.
	Marker string `json:"marker"`
	// Started is the real time just before the attempt started.
	Started time.Time `json:"started"`
}

// StopSurvivors stops every process left of the attempt g: SIGTERM to its
// process group — on Linux to every group holding a process that carries
// g's marker — then SIGKILL after grace to whatever remains. It returns how
// many processes it found; 0 when they are gone, belong to an earlier boot,
// or are not the step's (its group id was reused). On Windows the step's
// job object ends the tree when the applier dies, so nothing can survive.
func StopSurvivors(g Group, grace time.Duration) (int, error) {
	if g.Boot == "" || g.Boot != bootID() {
		return 0, nil
	}
	return stopSurvivors(g, grace)
}
