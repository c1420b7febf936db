package apply

import (
	"fmt"
	"os"

	"airlock.dev/airlock/apply/steprun"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/receipt"
)

// The processes the steps start (steprun.Containment): every step's
// process carries the apply's mark in its environment; when the apply
// fails or is interrupted, every process its steps started is stopped
// before the release switch is reverted and the back-out steps run
// (which start again what must run); what the steps leave running when
// the apply ends — a daemon a step started — stays, and the receipt lists
// it (leftRunning).

// stepEnv is the environment of a step's process.
func (a *applier) stepEnv(vars *variables) []string {
	env := vars.env(steprun.BaseEnv(os.Environ()))
	if a.contain != nil {
		env = append(env, a.contain.Env())
	}
	return env
}

// noteRunning attributes the step processes not seen before to step.
func (r *steps) noteRunning(step string) {
	for _, p := range r.a.contain.Running() {
		if _, ok := r.owner[p.PID]; !ok {
			r.owner[p.PID] = step
		}
	}
}

// stopProcesses stops every process the steps started so far, and says
// so for the receipt's message.
func (r *steps) stopProcesses() { r.stopped = r.a.stopStepProcesses() }

// stopStepProcesses stops every process the steps started so far (none
// were left running, then) and returns what the receipt's message says of it.
func (a *applier) stopStepProcesses() string {
	if a.contain == nil {
		return ""
	}
	a.j.Receipt.LeftRunning = nil
	n, err := a.contain.StopAll(survivorGrace)
	switch {
	case err != nil:
		fmt.Fprintf(a.o.Stderr, "airlock: warning: stopping the processes the steps started: %s\n", printable.String(err.Error()))
		return fmt.Sprintf("; stopping the processes the steps started failed: %v", err)
	case n > 0:
		fmt.Fprintf(a.o.Stdout, "airlock: stopped %d process(es) the steps had started\n", n)
		return fmt.Sprintf("; %d process(es) the steps started were stopped", n)
	}
	return ""
}

// recordLeftRunning lists in the receipt the step processes running now.
func (r *steps) recordLeftRunning() {
	var out []receipt.Process
	for _, p := range r.a.contain.Running() {
		out = append(out, receipt.Process{PID: p.PID, Name: p.Name, Step: r.owner[p.PID]})
	}
	r.a.j.Receipt.LeftRunning = out
	for _, p := range out {
		fmt.Fprintf(r.a.o.Stdout, "airlock: left running: process %d (%s), started by step %q\n", p.PID, printable.String(p.Name), printable.String(p.Step))
	}
}

// stopApplyProcesses stops, for recovery, what is left of every process
// the interrupted apply's steps started (they carry its mark), before its
// release switches are reverted and its back-out steps run; it says so for
// the receipt's message.
func (a *applier) stopApplyProcesses() string {
	n, err := steprun.StopMarked(steprun.ApplyEnv+"="+a.applyID(), survivorGrace)
	switch {
	case err != nil:
		fmt.Fprintf(a.o.Stderr, "airlock: warning: stopping the processes the interrupted apply's steps started: %v\n", err)
		return fmt.Sprintf("; stopping the processes its steps started failed: %v", err)
	case n > 0:
		fmt.Fprintf(a.o.Stdout, "airlock: stopped %d process(es) the interrupted apply's steps had started\n", n)
		return fmt.Sprintf("; %d process(es) its steps started were stopped", n)
	}
	return ""
}

// applyID tells the apply's step processes from any other's: its
// receipt's id (a UUIDv7), which a recovery keeps.
func (a *applier) applyID() string { return a.j.Receipt.ReceiptID }
