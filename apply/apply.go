// Package apply runs a verified bundle inside a zone: it checks the bundle
// exactly as package verify does plus the zone's anti-rollback state,
// decrypts and extracts the payload driven by the signed manifest, resolves
// variables, runs the steps, and writes a signed receipt for every apply —
// applied, already applied, refused, failed or rolled back.
//
// Every state change is recorded in a journal first, from before the bundle
// is opened, so that after a crash the next apply (or apply --resume) stops
// what is left of the running step, switches every deploy target back to
// its previous release and writes the interrupted apply's receipt, or, if
// the apply had already succeeded, completes it. The host is never left on
// a mix of releases, and every apply has exactly one receipt. A canceled
// context (a signal) stops the running step and rolls back in place.
package apply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"time"

	"filippo.io/age"

	"airlock.dev/airlock/apply/stage"
	"airlock.dev/airlock/apply/steprun"
	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/agekeys"
	"airlock.dev/airlock/internal/intoto"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/internal/progress"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/verify"
	"airlock.dev/airlock/zone"
)

// ErrStepFailed means a step failed; the receipt says whether the zone was
// rolled back.
var ErrStepFailed = errors.New("a step failed")

// ErrStateWrite means the state directory could not be written during
// the apply (it filled up, or became read-only): the receipt, written with
// the reserve freed, says state-unwritable and whether the zone was
// rolled back (exit code 4, like a failed step).
var ErrStateWrite = errors.New("the state directory could not be written")

// ErrInterrupted means the apply was interrupted (a signal): the running
// step was stopped, the back-out steps ran, the release switch was reverted
// and the receipt says so. The error also wraps the interruption's cause.
var ErrInterrupted = errors.New("apply interrupted")

// ErrClockBehind means the zone clock is earlier than the newest receipt:
// nothing was done, and no receipt was written (its time would break the
// chain's order). --clock-override applies anyway and records it.
var ErrClockBehind = errors.New("the zone clock is earlier than the newest receipt")

// RefusedError is an apply that was refused — a check failed, or the bundle
// could not be opened, verified or staged — and whose receipt says refused.
type RefusedError struct {
	Reason receipt.Reason
	Err    error
}

func (e *RefusedError) Error() string { return e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

// Options configures Apply, Resume and MakePlan.
type Options struct {
	Bundle   string
	Trust    *zone.Trust
	Operator string // --operator: the person, when the OS account is shared
	Note     string
	// OperatorKey, when set, co-signs the receipt (apply --operator-key); it
	// must be one of trust.yaml's operators.
	OperatorKey   *keys.Signer
	ReceiptOut    string // also copy the receipt here (the media carried back)
	VarFile       string
	ForceReapply  bool
	AllowRollback bool
	// ClockOverride applies even though the zone clock is earlier than the
	// newest receipt; the receipt records it.
	ClockOverride bool
	Wait          time.Duration // how long to wait for the zone lock
	// Abort, when done, stops the steps that run after a failure or an
	// interruption (when: failure and when: always): the operator's second
	// signal. nil: they are stopped only by their timeouts.
	Abort  context.Context
	Stdout io.Writer // operator output (masked)
	Stderr io.Writer
	// StepStderr receives the steps' standard error (masked); nil means
	// Stderr. Their standard output goes to Stdout. Both are in the
	// receipt's tail and the step log whatever these are.
	StepStderr io.Writer
	Now        func() time.Time // the zone clock; nil means time.Now
	Version    string           // applier version for the receipt
	// Secrets asks for the receipt key's PIN (a key in a PKCS#11 token) and
	// the passphrase of an age-encrypted zone identity; nil: no prompt.
	Secrets keys.PasswordFunc
	// Progress, if set, follows the verification and the decryption of the
	// payload (stages "verify" and "decrypt").
	Progress progress.Reporter

	// afterJournal, when set (by this package's tests), is called after
	// each journal state is recorded: the kill tests stop the applier there.
	afterJournal func(state string)
	// afterImage, when set (by this package's tests), is called after a
	// push step recorded an image: the kill tests stop the applier there.
	afterImage func(name string)
}

// Result is the outcome of an apply.
type Result struct {
	Outcome     receipt.OutcomeResult `json:"outcome"`
	Reason      receipt.Reason        `json:"reason"`
	Message     string                `json:"message,omitempty"`
	Receipt     string                `json:"receipt"`               // receipt in the state directory ("" if not written)
	ReceiptCopy string                `json:"receiptCopy,omitempty"` // copy in Options.ReceiptOut, if any
	Release     string                `json:"release,omitempty"`     // release directory of the last deploy step
	// Recovered is the interrupted apply that was finished first.
	Recovered *Result `json:"recovered,omitempty"`
}

type applier struct {
	o      Options
	state  *state
	chain  *receipt.Chain
	signer *keys.Signer
	// head is the chain's newest entry when the apply began (nil: none).
	head     *receipt.Head
	zone     string
	host     string
	now      time.Time
	j        *journal
	already  bool
	release  string
	deployed []receipt.File // every file deployed by this apply
	stored   *stored        // what this apply put in the content store
	logs     *logSink
	out      outFolder // this run's --receipt-out, as opened when it started
	stepOut  io.Writer
	stepErr  io.Writer

	// stepDir is the apply's step folder (stepfolder.go); contain holds
	// the processes of the steps (steprun.Contain), from the first step on.
	stepDir string
	contain *steprun.Containment
}

// Apply applies the bundle o.Bundle. It first finishes an interrupted
// apply, if the journal shows one. Canceling ctx (a signal) interrupts it:
// the running step's processes are stopped, the release switch is reverted,
// the back-out steps run (see Options.Abort), and a receipt is written.
func Apply(ctx context.Context, o Options) (*Result, error) {
	a, err := start(o)
	if err != nil {
		return nil, err
	}
	defer a.close()
	var recovered *Result
	if j, err := a.state.loadJournal(); err != nil {
		return nil, err
	} else if j != nil {
		if recovered, err = a.recover(ctx, j); err != nil {
			return recovered, err
		}
	}
	a.sweep()
	if err := checkInputs(o); err != nil {
		return nil, err
	}
	res, err := a.apply(ctx)
	if res != nil {
		res.Recovered = recovered
	}
	return res, err
}

// ErrNoInput means a file named on the command line (the bundle, a
// --var-file) is not there: a mistake in what was typed, not a verdict
// about a bundle. Plan returns it before anything is read, Apply once it
// holds the lock (another apply running is said first) and has finished
// an interrupted apply, before this apply's receipt begins: nothing is
// recorded for it, and the exit code is 1, as verify's.
var ErrNoInput = errors.New("no such file")

// checkInputs checks that the bundle and the var-file named in o are
// there.
func checkInputs(o Options) error {
	for _, in := range []struct{ what, path string }{{"bundle", o.Bundle}, {"var-file", o.VarFile}} {
		if in.path == "" {
			continue
		}
		if _, err := os.Stat(in.path); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s %s: %w (nothing was applied or recorded)", in.what, in.path, ErrNoInput)
		}
	}
	return nil
}

// Resume finishes an interrupted apply (rolling back or completing it) and
// writes its receipt. It does nothing but remove leftovers when no apply
// was interrupted.
func Resume(ctx context.Context, o Options) (*Result, error) {
	a, err := start(o)
	if err != nil {
		return nil, err
	}
	defer a.close()
	j, err := a.state.loadJournal()
	if err != nil {
		return nil, err
	}
	var res *Result
	if j != nil {
		if res, err = a.recover(ctx, j); err != nil {
			return res, err
		}
	}
	a.sweep()
	return res, nil
}

func start(o Options) (*applier, error) {
	if o.Trust == nil {
		return nil, errors.New("apply: no trust policy")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if o.StepStderr == nil {
		o.StepStderr = o.Stderr
	}
	st, err := openState(o.Trust.StateDir, o.Now)
	if err != nil {
		return nil, err
	}
	st.afterSave = o.afterJournal
	if err := st.acquire(o.Wait, o.Bundle); err != nil {
		return nil, err
	}
	signer, err := keys.LoadPrivate(o.Trust.ReceiptKey, o.Secrets)
	if err != nil {
		st.release()
		return nil, fmt.Errorf("receipt key: %w (receipts must be signed, so nothing was applied)", err)
	}
	for _, secret := range append([]string{o.Trust.ReceiptKey}, o.Trust.Identities...) {
		warnIfExposed(o.Stderr, secret)
	}
	chain := receipt.OpenChain(filepath.Join(st.dir, "receipts"), o.Trust.Policy.Zone, o.Trust.Policy.Host, signer.Public())
	chain.SetWriter(st.writing)
	return &applier{o: o, state: st, chain: chain, signer: signer, zone: o.Trust.Policy.Zone, host: o.Trust.Policy.Host,
		now: o.Now().UTC(), out: openOut(o.ReceiptOut), stepOut: o.Stdout, stepErr: o.StepStderr}, nil
}

// close releases the zone lock and the receipt key.
func (a *applier) close() {
	a.signer.Close()
	a.state.release()
}

// sweep removes the leftovers of interrupted applies (see state.sweep
// and receipt.Chain.Sweep).
func (a *applier) sweep() {
	if err := errors.Join(a.state.sweep(), a.chain.Sweep(), a.sweepStore()); err != nil {
		fmt.Fprintf(a.o.Stderr, "airlock: warning: removing leftovers in %s: %v\n", a.state.dir, err)
	}
}

// begin starts the receipt of a new apply and records it in the journal:
// from here on, however the apply ends, it gets exactly one receipt.
func (a *applier) begin() error {
	head, err := a.chain.Head()
	if err != nil {
		return fmt.Errorf("read receipt chain: %w", err)
	}
	a.head = head
	p, err := a.chain.Next(head, receipt.Header{Event: receipt.EventApply, Operator: receipt.CurrentOperator(a.o.Operator, a.o.Note),
		Version: a.o.Version, Now: a.now, Policy: a.o.Trust.Record(), ClockOverride: a.o.ClockOverride})
	if err != nil {
		return fmt.Errorf("%w: %w: set the clock right, or apply with --clock-override (recorded in the receipt)", ErrClockBehind, err)
	}
	p.Bundle = receipt.Bundle{Source: a.o.Bundle}
	a.j = &journal{Bundle: a.o.Bundle, ReceiptOut: a.o.ReceiptOut, ReceiptOutMade: a.out.info != nil, Receipt: *p}
	if a.o.ForceReapply {
		a.j.Receipt.Reapply = true
	}
	if err := a.state.save(a.j, jStarted); err != nil {
		return err
	}
	return a.openLogs()
}

func (a *applier) apply(ctx context.Context) (*Result, error) {
	if err := a.begin(); err != nil {
		return nil, err
	}
	if rerr := a.checkPolicy(); rerr != nil {
		return a.refuse(rerr.Reason, rerr.Err.Error(), rerr.Err)
	}
	b, err := bundle.Open(a.o.Bundle)
	if err != nil {
		return a.refuse(receipt.ReasonBundleUnreadable, err.Error(), err)
	}
	defer b.Close()
	vr, verr := verify.Bundle(ctx, b, verify.Options{Policy: a.o.Trust.Policy, Now: a.now, Sequence: a.sequence, Progress: a.o.Progress})
	a.recordVerify(vr)
	if ctx.Err() != nil {
		return a.interrupted(ctx, "while verifying the bundle")
	}
	if verr != nil {
		var ve *verify.Error
		if errors.As(verr, &ve) {
			return a.refuse(receipt.Reason(ve.Check), ve.Error(), verr)
		}
		return a.refuse(receipt.ReasonUnverifiable, verr.Error(), verr)
	}
	p := &vr.Statement.Predicate
	if a.already {
		msg := fmt.Sprintf("%s %s (sequence %d) is already applied on channel %s; nothing was run", p.Name, p.Version, p.Sequence, p.Channel)
		fmt.Fprintln(a.o.Stdout, "airlock: "+printable.String(msg))
		return a.finish(receipt.AlreadyApplied, receipt.ReasonAlreadyApplied, msg, nil)
	}
	if err := a.state.save(a.j, jVerified); err != nil {
		return a.stateUnwritable(err)
	}
	var db *base
	if vr.Manifest.Delta != nil {
		if db, err = a.openBase(vr.Manifest); err != nil {
			return a.refuseBase(err)
		}
		defer db.close()
	}
	staged, err := a.stage(ctx, b, vr)
	if ctx.Err() != nil {
		return a.interrupted(ctx, "while staging the payload")
	}
	if err != nil {
		return a.refuseStaging(err)
	}
	if db != nil {
		if err := a.assemble(staged, vr.Manifest, db); err != nil {
			return a.refuseBase(err)
		}
		a.recordDelta(vr.Manifest, db)
	}
	vars, err := a.variables(staged, vr)
	if err != nil {
		a.record(receipt.CheckVariables, receipt.Fail, err.Error())
		return a.refuse(receipt.Reason(receipt.CheckVariables), err.Error(), err)
	}
	a.record(receipt.CheckVariables, receipt.Pass, fmt.Sprintf("%d declared, every reference resolves", len(vr.Manifest.Variables)))
	a.j.Receipt.VariableSources, a.j.Receipt.VariableSourcesTotal = vars.sources()
	if terr := a.checkTargets(vr, vars); terr != nil {
		a.record(receipt.CheckTarget, receipt.Fail, terr.msg)
		return a.refuse(terr.reason, terr.msg, terr)
	}
	a.j.VarFile = a.o.VarFile
	for _, s := range vr.Manifest.Steps {
		if s.When.Runs(true) {
			a.j.Backout++
		}
	}
	if a.stepDir, err = a.makeStepFolder(staged, p.BundleID); err != nil {
		// The step folder is in the state directory: nothing ran yet.
		return a.refuse(receipt.ReasonStateUnwritable, err.Error(), err)
	}
	a.fillStore(staged, vr.Manifest)
	if err := a.state.save(a.j, jStaged); err != nil {
		return a.stateUnwritable(err)
	}
	return a.runSteps(ctx, vr, staged, vars)
}

// interrupted ends an apply interrupted before any step ran: nothing was
// changed, so its receipt says refused (reason interrupted).
func (a *applier) interrupted(ctx context.Context, when string) (*Result, error) {
	cause := context.Cause(ctx)
	msg := fmt.Sprintf("%v %s; nothing was changed", cause, when)
	return a.finish(receipt.Refused, receipt.ReasonInterrupted, msg, fmt.Errorf("%w: %w", ErrInterrupted, cause))
}

// sequence is the anti-rollback check, run by verify after the target check.
func (a *applier) sequence(p *bundle.Predicate) error {
	rec, err := a.state.channel(p.Name, p.Channel)
	if err != nil || rec == nil {
		return err
	}
	switch {
	case p.Sequence == rec.Sequence && p.BundleID == rec.BundleID:
		if a.o.ForceReapply {
			a.override("force-reapply", fmt.Sprintf("sequence %d applied again", p.Sequence))
			return nil
		}
		a.already = true
	case p.Sequence == rec.Sequence:
		return fmt.Errorf("sequence %d of %s/%s was already used by bundle %s: a different bundle with the same sequence is refused", p.Sequence, p.Name, p.Channel, rec.BundleID)
	case p.Sequence < rec.Sequence:
		if a.o.AllowRollback {
			a.override("allow-rollback", fmt.Sprintf("sequence %d installed after %d", p.Sequence, rec.Sequence))
			return nil
		}
		return fmt.Errorf("sequence %d is lower than %d (%s %s), already applied on %s/%s: refusing a rollback (use --allow-rollback to install an older release deliberately)",
			p.Sequence, rec.Sequence, rec.Name, rec.Version, p.Name, p.Channel)
	}
	return nil
}

func (a *applier) override(name, detail string) {
	a.j.Receipt.Override = append(a.j.Receipt.Override, receipt.Override{Name: name, Detail: detail})
}

// recordVerify copies what verification established into the receipt.
func (a *applier) recordVerify(vr *verify.Result) {
	if vr == nil {
		return
	}
	a.j.Receipt.Checks = append(a.j.Receipt.Checks, vr.Checks...)
	rb := &a.j.Receipt.Bundle
	rb.Verified = vr.Verified
	rb.StatementSHA256 = vr.StatementSHA256
	rb.Signers = append(rb.Signers, vr.Signers...)
	if p := vr.Claimed; p != nil {
		rb.BundleRef = receipt.BundleRef{ID: p.BundleID, Name: p.Name, Version: p.Version, Channel: p.Channel, Sequence: p.Sequence}
		rb.IssuedAt, rb.Expires, rb.Targets = p.IssuedAt, p.Expires, p.Targets
		rb.Change = changeRecord(p.Change)
	}
}

// changeRecord is the receipt's record of a statement's change (nil: none).
func changeRecord(c *bundle.Change) receipt.Change {
	if c == nil {
		return receipt.Change{}
	}
	r := receipt.Change{ChangeTicket: c.Ticket, ChangeReason: c.Reason, ChangeSecurityImpact: c.SecurityImpact, ChangeBackout: c.Backout}
	for _, e := range c.TestEvidence {
		r.ChangeTestEvidence = append(r.ChangeTestEvidence, receipt.TestEvidence{Path: e.Path, SHA256: e.SHA256})
	}
	return r
}

// record adds a check's result to the receipt.
func (a *applier) record(name receipt.CheckName, result receipt.CheckResult, detail string) {
	a.j.Receipt.Checks = append(a.j.Receipt.Checks, receipt.Check{Name: name, Result: result, Detail: detail})
}

// stage decrypts and extracts the payload into a fresh staging root.
func (a *applier) stage(ctx context.Context, b *bundle.Bundle, vr *verify.Result) (*stage.Staged, error) {
	dir := a.state.stagingDir(vr.Statement.Predicate.BundleID)
	os.RemoveAll(dir) // a leftover of an interrupted apply of the same bundle
	return a.stageInto(ctx, b, vr, dir)
}

func (a *applier) stageInto(ctx context.Context, b *bundle.Bundle, vr *verify.Result, dir string) (*stage.Staged, error) {
	ids, err := a.identities()
	if err != nil {
		return nil, err
	}
	p := &vr.Statement.Predicate
	// A delta's payload carries what was shipped (see assemble).
	staged, err := stage.Extract(ctx, stage.Options{Bundle: b, Predicate: p, Manifest: vr.Manifest.Shipped(), Identities: ids, Dir: dir, Progress: a.o.Progress})
	if err != nil {
		return nil, err
	}
	a.record(receipt.CheckDecrypt, receipt.Pass, fmt.Sprintf("%d bytes of plaintext, sha256 %s", p.Payload.PlaintextSize, p.Payload.PlaintextSHA256[:12]))
	a.record(receipt.CheckExtract, receipt.Pass, fmt.Sprintf("%d entries as listed by the manifest", p.Payload.Entries))
	// The steps follow, of no size known: whoever draws the decryption's
	// progress stops, before the steps' output.
	progress.Stage(a.o.Progress, "steps", 0)
	return staged, nil
}

func (a *applier) identities() ([]age.Identity, error) {
	var ids []age.Identity
	ui := agekeys.TerminalUI(a.o.Stderr)
	for _, path := range a.o.Trust.Identities {
		var passphrase func() ([]byte, error)
		if a.o.Secrets != nil {
			passphrase = func() ([]byte, error) {
				return a.o.Secrets(keys.Prompt{Secret: keys.SecretPassphrase, For: "age identity " + path})
			}
		}
		more, err := agekeys.ParseIdentitiesFile(path, ui, passphrase)
		if err != nil {
			return nil, err
		}
		ids = append(ids, more...)
	}
	if len(ids) == 0 {
		return nil, errors.New("trust.yaml lists no identities: the zone cannot decrypt bundles")
	}
	return ids, nil
}

// refuseStaging turns a staging failure into a refusal: a payload that
// does not decrypt or does not match its signed manifest is a verification
// failure; anything else (an I/O error, a full disk) could not be staged.
func (a *applier) refuseStaging(err error) (*Result, error) {
	verr := stagingError(err)
	var ve *verify.Error
	if errors.As(verr, &ve) {
		a.record(ve.Check, receipt.Fail, err.Error())
		return a.refuse(receipt.Reason(ve.Check), err.Error(), verr)
	}
	a.record(receipt.CheckExtract, receipt.Fail, err.Error())
	if isFull(err) {
		// The payload is staged in the state directory: it filled up.
		return a.stateUnwritable(err)
	}
	return a.refuse(receipt.ReasonStaging, err.Error(), err)
}

// stateUnwritable ends an apply whose state directory could not be
// written before any step ran: nothing was changed, so the receipt says
// refused, with reason state-unwritable, and the error is ErrStateWrite
// (exit code 4, as when the directory fills up while the steps run).
func (a *applier) stateUnwritable(err error) (*Result, error) {
	msg := fmt.Sprintf("the state directory could not be written (%v); nothing was changed", err)
	return a.finish(receipt.Refused, receipt.ReasonStateUnwritable, msg, fmt.Errorf("%w: %w; nothing was changed", ErrStateWrite, err))
}

// stagingError makes a staging failure that is a verdict about the payload
// (it does not decrypt, or does not match what was signed) a *verify.Error,
// for apply and plan alike, whose cause is what staging reported; other
// errors are returned as they are.
func stagingError(err error) error {
	var se *stage.Error
	switch {
	case errors.Is(err, stage.ErrNoIdentity):
		return &verify.Error{Check: receipt.CheckDecrypt, Msg: err.Error(), Err: err}
	case errors.As(err, &se):
		return &verify.Error{Check: receipt.CheckExtract, File: se.Entry, Msg: se.Msg, Err: err}
	}
	return err
}

func (a *applier) variables(staged *stage.Staged, vr *verify.Result) (*variables, error) {
	trust, err := zoneLayer(a.o.Trust.File+" variables",
		receipt.VariableSource{Origin: receipt.OriginTrust, File: a.o.Trust.File, SHA256: a.o.Trust.SHA256}, a.o.Trust.Variables)
	if err != nil {
		return nil, err
	}
	layers := []namedValues{trust}
	if app := a.o.Trust.Application(vr.Statement.Predicate.Name); app != nil {
		// The application's own values are more specific than the zone's.
		av, err := zoneLayer(a.o.Trust.File+" applications."+app.Name+".variables",
			receipt.VariableSource{Origin: receipt.OriginTrustApplication, Scope: app.Name, File: a.o.Trust.File, SHA256: a.o.Trust.SHA256}, app.Variables)
		if err != nil {
			return nil, err
		}
		layers = append(layers, av)
	}
	if a.o.VarFile != "" {
		vals, src, err := loadVarFile(a.o.VarFile)
		if err != nil {
			return nil, err
		}
		fv, err := zoneLayer(a.o.VarFile, src, vals)
		if err != nil {
			return nil, err
		}
		layers = append(layers, fv)
	}
	vars, err := resolveVariables(staged.Variables, vr.Manifest, scope{a.zone, a.host, a.o.Trust.Policy.HostRoles}, layers...)
	if err != nil {
		return nil, err
	}
	vars.setBuiltins(&vr.Statement.Predicate, a.zone, a.host)
	vars.setImageBuiltins(vr.Manifest, a.o.Trust.Registry)
	for _, s := range vr.Manifest.Steps {
		for _, t := range s.Texts() {
			if err := vars.checkRefs(t.Text); err != nil {
				return nil, fmt.Errorf("step %q: %w", s.Name, err)
			}
		}
	}
	return vars, nil
}

// refuse writes the receipt of an apply that ran nothing. The error is a
// *RefusedError (exit code 3, like the receipt's outcome), joined with any
// failure to write the receipt, which the operator must see.
func (a *applier) refuse(reason receipt.Reason, msg string, err error) (*Result, error) {
	res, ferr := a.finish(receipt.Refused, reason, msg, nil)
	if ferr != nil {
		return res, errors.Join(&RefusedError{Reason: reason, Err: err}, ferr)
	}
	return res, &RefusedError{Reason: reason, Err: err}
}

// finish signs the receipt and commits it to the chain, copies it to
// --receipt-out, then ends the journal. The receipt is first written whole
// beside the chain and the journal records that, so that an interruption
// at any moment leaves either no receipt (recovery writes it) or this one
// (recovery completes it), never two for one apply. The returned error is
// cause joined with any failure to write the receipt.
func (a *applier) finish(outcome receipt.OutcomeResult, reason receipt.Reason, msg string, cause error) (*Result, error) {
	r := &a.j.Receipt
	r.Outcome = receipt.Outcome{Result: outcome, Reason: reason, Message: msg}
	r.Time.Finished = a.o.Now().UTC()
	if err := a.closeLogs(); err != nil {
		fmt.Fprintf(a.o.Stderr, "airlock: warning: step log not written: %v\n", err)
	}
	res := &Result{Outcome: outcome, Reason: reason, Message: msg, Receipt: a.chain.Path(r.Seq), Release: a.release}
	if err := a.writeReceipt(); err != nil {
		res.Receipt = ""
		return res, errors.Join(cause, err)
	}
	var copied bool
	res.ReceiptCopy, copied = a.copyOutAll()
	if err := a.endJournal(copied); err != nil {
		return res, errors.Join(cause, err)
	}
	return res, cause
}

// ErrReceipt means the receipt could not be written: the journal keeps the
// apply, and `apply --resume` writes the receipt once the state directory
// can be written again.
var ErrReceipt = errors.New("the receipt was not written")

// writeReceipt signs the journal's receipt, writes it whole beside the
// chain, records that, and commits it.
func (a *applier) writeReceipt() error {
	r := &a.j.Receipt
	wrap := func(err error) error {
		return fmt.Errorf("%w (%w): the apply is kept in %s; run 'airlock apply --resume' once the state directory can be written",
			ErrReceipt, err, a.state.journalPath())
	}
	data, err := receipt.Sign(r, a.subjects(), a.signer, a.cosigners()...)
	if err != nil {
		return wrap(err)
	}
	if err := a.chain.Stage(r.Seq, data); err != nil {
		return wrap(err)
	}
	if err := a.state.save(a.j, jReceiptSigned); err != nil {
		a.chain.Drop(r.Seq)
		return wrap(err)
	}
	if err := a.chain.Commit(r.Seq); err != nil {
		return wrap(err)
	}
	return nil
}

// endJournal ends the apply: only the copy to the media may remain. When
// that failed (copied false), the journal stays at receipt-written, so
// that `apply --resume` — or the next apply — copies the receipt there.
func (a *applier) endJournal(copied bool) error {
	if err := a.state.save(a.j, jReceiptWritten); err != nil {
		return err
	}
	if id := a.j.Receipt.Bundle.ID; id != "" {
		os.RemoveAll(a.state.stagingDir(id))
	}
	if !copied {
		fmt.Fprintf(a.o.Stderr, "airlock: run 'airlock apply --resume --trust %s' to copy the receipt once the media can be written\n", printable.String(a.o.Trust.File))
		return nil
	}
	return a.state.clearJournal()
}

// copyOutAll copies the receipt and the files beside it to the folder the
// journal remembers (--receipt-out of the apply) and to this run's
// --receipt-out, if another. It returns the first copy, and whether the
// remembered folder got one. A failure is reported, not fatal: the receipt
// is in the state directory, and resume copies it again.
func (a *applier) copyOutAll() (string, bool) {
	path, found := a.chain.Find(a.j.Receipt.Seq)
	if !found {
		path = a.chain.Path(a.j.Receipt.Seq)
	}
	first, ok := "", true
	for _, dir := range uniq(a.j.ReceiptOut, a.o.ReceiptOut) {
		out, err := a.copyTo(path, dir, dir == a.j.ReceiptOut && a.j.ReceiptOutMade)
		if errors.Is(err, ErrMediaGone) {
			fmt.Fprintf(a.o.Stderr, "airlock: warning: receipt NOT copied: %s; nothing was written there (the receipt is in %s)\n",
				printable.String(err.Error()), path)
		} else if err != nil {
			fmt.Fprintf(a.o.Stderr, "airlock: receipt NOT copied to %s: %s (it is in %s)\n", printable.String(dir), printable.String(err.Error()), path)
		}
		if err != nil {
			ok = ok && dir != a.j.ReceiptOut
			continue
		}
		if first == "" {
			first = out
		}
	}
	return first, ok
}

func uniq(dirs ...string) []string {
	var out []string
	for _, d := range dirs {
		if d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// recordFiles adds deployed files to the receipt: all of them, sorted by
// path, to a list beside the receipt (sha256sum -c format), and the first
// MaxListedFiles to the receipt itself, so a release of any size gives a
// receipt of bounded size.
func (a *applier) recordFiles(files []receipt.File) error {
	a.deployed = append(a.deployed, files...)
	sort.Slice(a.deployed, func(i, j int) bool { return a.deployed[i].Path < a.deployed[j].Path })
	list := receipt.FilesList(a.deployed)
	name := receipt.FilesListName(a.chain.Name(a.j.Receipt.Seq))
	if err := a.chain.WriteSide(name, list); err != nil {
		return fmt.Errorf("write the deployed file list: %w", err)
	}
	sum := sha256.Sum256(list)
	r := &a.j.Receipt
	r.Files = a.deployed[:min(len(a.deployed), receipt.MaxListedFiles)]
	r.FilesTotal, r.FilesSHA256, r.FilesList = len(a.deployed), hex.EncodeToString(sum[:]), name
	return nil
}

// subjects are what the receipt is about: the bundle's statement and the
// deployed files it lists.
func (a *applier) subjects() []receipt.Subject {
	var s []receipt.Subject
	if d := a.j.Receipt.Bundle.StatementSHA256; d != "" {
		s = append(s, intoto.SHA256("bundle:"+a.j.Receipt.Bundle.ID, d))
	}
	for _, f := range a.j.Receipt.Files {
		s = append(s, f.Subject()) // never the plain digest of a file holding a secret
	}
	return s
}

// warnIfExposed warns when a secret key file can be read by other users.
func warnIfExposed(w io.Writer, path string) {
	st, err := os.Stat(path)
	if err != nil || runtime.GOOS == "windows" || st.Mode().Perm()&0o077 == 0 {
		return
	}
	fmt.Fprintf(w, "airlock: warning: %s can be read by other users (mode %04o); it should be 0600\n", path, st.Mode().Perm())
}
