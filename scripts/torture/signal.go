//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"airlock.dev/airlock/receipt"
)

// releaseSteps is how many steps releaseYAML has.
const releaseSteps = 7

// signalTrial sends SIGTERM, SIGINT or SIGHUP to an apply at a step
// boundary — the moment the journal says a step starts or has ended —
// and checks that the apply ends at once with its own receipt: rolled
// back, the back-out step (undo) run, the when: always step not failed,
// no step process left.
func (w *world) signalTrial(i int) {
	w.runs["signal"]++
	b, v := w.bundle()
	before := w.snap()
	sig := []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP}[w.rng.IntN(3)]
	step, at := w.rng.IntN(releaseSteps), []string{"step-start", "step-end"}[w.rng.IntN(2)]
	point := fmt.Sprintf("%s at %s of step %d", sig, at, step+1)

	cmd, buf, done := w.start(w.applyArgs(b)...)
	sent := false
	var err error
wait:
	for {
		select {
		case err = <-done:
			break wait
		default:
		}
		if !sent && w.journalAt(at, step) {
			cmd.Process.Signal(sig)
			sent = true
		}
		time.Sleep(200 * time.Microsecond)
	}
	code := exitCode(err)
	where := fmt.Sprintf("trial %d (%s)", i, point)
	switch {
	case !sent:
		w.finished["signal"]++
		if code != 0 && code != 4 {
			w.failf("%s: apply exited %d\n%s", where, code, buf.String())
		}
	default:
		w.kills["signal: "+at]++
		w.checkSignaled(where, code, 128+int(sig), buf.String())
	}
	if c, o := w.run(w.resumeArgs()...); c != 0 {
		w.failf("%s: resume exited %d\n%s", where, c, o)
	}
	w.afterApply(i, point, before, v)
}

// checkSignaled checks an apply that got a signal between two steps.
func (w *world) checkSignaled(where string, code, want int, out string) {
	if _, err := os.Stat(filepath.Join(w.state, "journal.json")); err == nil {
		w.failf("%s: the signaled apply left its journal (exit %d)\n%s", where, code, out)
		return
	}
	p := w.lastReceipt(where)
	if p == nil {
		return
	}
	if p.Outcome.Result == receipt.Applied {
		// The signal came as the last step ended, after the commit began.
		w.finished["signal"]++
		return
	}
	if code != want && p.Outcome.Reason == receipt.ReasonInterrupted {
		w.failf("%s: exit %d, want %d\n%s", where, code, want, out)
	}
	for _, s := range p.Steps {
		switch {
		case s.Name == "undo" && s.Result != receipt.StepSucceeded:
			w.failf("%s: the back-out step did not run: %s %s (%s)", where, s.Result, s.Error, p.Outcome.Message)
		case s.Name == "always" && s.Result != receipt.StepSucceeded:
			w.failf("%s: the when: always step is %s: %s (%s)", where, s.Result, s.Error, p.Outcome.Message)
		}
	}
}

// journalAt reports whether the journal is at state at of step (0-based).
func (w *world) journalAt(at string, step int) bool {
	b, err := os.ReadFile(filepath.Join(w.state, "journal.json"))
	if err != nil {
		return false
	}
	var j struct {
		State string `json:"state"`
		Step  int    `json:"step"`
	}
	return json.Unmarshal(b, &j) == nil && j.State == at && j.Step == step
}
