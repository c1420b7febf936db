package apply

import (
	"fmt"
	"os"

	"airlock.dev/airlock/receipt"
)

// recover finishes an apply that the journal shows was interrupted (power
// loss, kill). Steps are never re-run: they may not be idempotent. An apply
// interrupted before it succeeded is rolled back — every release switch it
// recorded is undone — and its receipt says rolled-back with reason
// "interrupted". One interrupted after it succeeded is completed. Either way
// its receipt takes the sequence number reserved when it started.
func (a *applier) recover(j *journal) (*Result, error) {
	a.j = j
	a.j.Receipt.Resumed = true
	fmt.Fprintf(a.o.Stdout, "airlock: finishing an interrupted apply of %s (it stopped at %q)\n", j.Bundle, j.State)
	// A partial log of the interrupted run cannot be trusted to be complete.
	if j.Receipt.Logs != nil {
		os.Remove(a.logPath())
		j.Receipt.Logs = nil
	}
	var res *Result
	var err error
	switch j.State {
	case jReceiptWritten:
		err = a.st.clearJournal()
		o := j.Receipt.Outcome
		res = &Result{Receipt: a.st.receiptPath(a.zone, j.Receipt.Seq), Outcome: o.Result, Reason: o.Reason, Message: o.Message}
		if id := j.Receipt.Bundle.ID; id != "" {
			os.RemoveAll(a.st.stagingDir(id))
		}
	case jSucceeded, jChannelUpdated:
		if err := a.st.setChannel(j.Channel); err != nil {
			return nil, err
		}
		a.pruneReleases()
		res, err = a.finish(receipt.Applied, receipt.ReasonOK, "applied; completed after an interruption", nil)
	default:
		rerr := a.revert()
		outcome, msg := receipt.RolledBack, fmt.Sprintf("interrupted at %s in step %d; the previous release is current again", j.State, j.Step+1)
		if rerr != nil {
			outcome, msg = receipt.Failed, fmt.Sprintf("interrupted at %s in step %d; rolling back failed: %v", j.State, j.Step+1, rerr)
		}
		res, err = a.finish(outcome, receipt.ReasonInterrupted, msg, nil)
	}
	if res != nil {
		fmt.Fprintf(a.o.Stdout, "airlock: interrupted apply finished: %s (%s)\n", res.Outcome, res.Message)
	}
	return res, err
}
