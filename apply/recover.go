package apply

import (
	"context"
	"errors"
	"fmt"
	"os"

	"airlock.dev/airlock/apply/steprun"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/receipt"
)

// survivorGrace is how long recovery waits for a survivor of an
// interrupted step to stop after SIGTERM, before SIGKILL.
const survivorGrace = steprun.DefaultGrace

// recover finishes an apply that the journal shows was interrupted (power
// loss, kill). First it stops what is left of the step that was running:
// otherwise it could go on writing into the release about to be restored.
// Steps are never re-run: they may not be idempotent. An apply interrupted
// before it succeeded is rolled back — every release switch it recorded is
// undone, the release it was installing removed — then its back-out steps
// run, as an interrupted apply's do (recoverSteps), and its receipt says
// rolled-back with reason "interrupted" (refused, if no step had started;
// failed, if a back-out step did not complete).
// The receipt names the state the apply was interrupted at, also when the
// recovery was interrupted in turn. One interrupted after it succeeded
// is completed. A receipt already signed is completed as it was. Either way
// the receipt takes the sequence number reserved when the apply started,
// and is copied to the --receipt-out the apply was given.
func (a *applier) recover(ctx context.Context, j *journal) (*Result, error) {
	a.j = j
	at := j.State // before anything below records another state
	if j.Interrupted != "" {
		at = j.Interrupted // a recovery that was itself interrupted
	}
	j.Interrupted = at
	fmt.Fprintf(a.o.Stdout, "airlock: finishing an interrupted apply of %s (it stopped at %s, step %d)\n",
		printable.String(j.Bundle), printable.String(at), j.Step+1)
	if j.State != jReceiptSigned && j.State != jReceiptWritten {
		a.keepCoSignature()
	}
	survivors := a.stopSurvivors()
	var res *Result
	var err error
	switch j.State { // what is left to do
	case jReceiptWritten:
		res, err = a.completeReceipt()
	case jReceiptSigned:
		if err := a.commitSigned(); err != nil {
			return nil, err
		}
		res, err = a.completeReceipt()
	case jSucceeded, jChannelUpdated:
		a.prepareRecoveredReceipt()
		if err := a.state.setChannel(j.Channel); err != nil {
			return nil, err
		}
		a.pruneReleases()
		res, err = a.finish(receipt.Applied, receipt.ReasonOK, "applied; completed after an interruption"+survivors, nil)
	default:
		a.prepareRecoveredReceipt()
		survivors += a.stopApplyProcesses()
		rerr := a.revert()
		outcome := receipt.RolledBack
		msg := fmt.Sprintf("interrupted at %s in step %d; the previous release is current%s", at, j.Step+1, survivors)
		if at == jStarted || at == jVerified || at == jStaged {
			// Nothing ran: a refusal, like one for a bundle that does not verify.
			outcome, msg = receipt.Refused, fmt.Sprintf("interrupted at %s, before any step ran; nothing was changed%s", at, survivors)
		} else if incomplete, berr := a.recoverSteps(ctx); berr != nil || len(incomplete) > 0 {
			outcome, msg = receipt.Failed, msg+backoutMessage(incomplete, berr)
		}
		if rerr != nil {
			outcome, msg = receipt.Failed, fmt.Sprintf("interrupted at %s in step %d; rolling back failed: %v%s", at, j.Step+1, rerr, survivors)
		}
		res, err = a.finish(outcome, receipt.ReasonInterrupted, msg, nil)
	}
	if res != nil {
		fmt.Fprintf(a.o.Stdout, "airlock: interrupted apply finished: %s (%s)\n", res.Outcome, printable.String(res.Message))
	}
	return res, err
}

// stopSurvivors stops the processes of the step that was running, if any
// are left, and says so for the receipt's message.
func (a *applier) stopSurvivors() string {
	g := a.j.Running
	if g == nil {
		return ""
	}
	a.j.Running = nil
	n, err := steprun.StopSurvivors(*g, survivorGrace)
	switch {
	case err != nil:
		fmt.Fprintf(a.o.Stderr, "airlock: warning: stopping what is left of the interrupted step: %v\n", err)
		return fmt.Sprintf("; stopping what was left of step %d failed: %v", a.j.Step+1, err)
	case n > 0:
		fmt.Fprintf(a.o.Stdout, "airlock: stopped %d process(es) left running by step %d\n", n, a.j.Step+1)
		return fmt.Sprintf("; %d process(es) left running by step %d were stopped first", n, a.j.Step+1)
	}
	return ""
}

// prepareRecoveredReceipt marks the receipt as written by recovery and
// drops what an unfinished receipt may have left: a partial step log (it
// cannot be trusted to be complete), a receipt signed but never recorded.
func (a *applier) prepareRecoveredReceipt() {
	r := &a.j.Receipt
	r.Resumed = true
	if r.Logs != nil {
		os.Remove(a.logPath())
		r.Logs = nil
	}
	os.Remove(a.logPath())
	a.chain.Sweep()
}

// commitSigned completes a receipt that was signed and written whole before
// the interruption: the pending file is verified and moved into the chain.
// If it is gone (or damaged), the journal's copy of the predicate is signed
// again.
func (a *applier) commitSigned() error {
	seq := a.j.Receipt.Seq
	if _, ok := a.chain.Find(seq); ok {
		return nil
	}
	if a.chain.ReadPending(seq) {
		return a.chain.Commit(seq)
	}
	return a.writeReceipt()
}

// completeReceipt finishes an apply whose receipt is in the chain: copy it
// out, remove the staged payload, end the journal.
func (a *applier) completeReceipt() (*Result, error) {
	j := a.j
	path, ok := a.chain.Find(j.Receipt.Seq)
	if !ok {
		return nil, fmt.Errorf("%w: receipt %d of zone %s is not in %s, or is there twice", ErrReceipt, j.Receipt.Seq, a.zone, a.chain.Dir())
	}
	r, _, err := a.chain.Read(path) // capped and verified, like every receipt apply reads
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrReceipt, path, err)
	}
	o := r.Predicate().Outcome // the receipt, not the journal, says how it ended
	res := &Result{Receipt: path, Outcome: o.Result, Reason: o.Reason, Message: o.Message}
	var copied bool
	res.ReceiptCopy, copied = a.copyOutAll()
	if err := a.endJournal(copied); err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, err
	}
	return res, nil
}

// keepCoSignature keeps the operator named in the interrupted apply's
// receipt only when this recovery has that operator's key to co-sign with
// (apply --resume --operator-key): a receipt that names a co-signing key
// must carry its signature, and without the key the recovered receipt says
// who started the apply (operator.name) but is not co-signed.
func (a *applier) keepCoSignature() {
	k := a.j.Receipt.Operator.Key
	if k == nil || (a.o.OperatorKey != nil && a.o.OperatorKey.Public().ID() == k.KeyID) {
		return
	}
	fmt.Fprintf(a.o.Stderr, "airlock: warning: the interrupted apply was co-signed by %s (%s); without that key (--operator-key) its receipt is not co-signed\n",
		printable.String(k.Name), printable.String(k.KeyID))
	a.j.Receipt.Operator.Key = nil
}
