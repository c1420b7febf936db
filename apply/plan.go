package apply

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/internal/mask"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/verify"
)

// Plan is what an apply would do, established by verifying, decrypting and
// extracting the bundle into a temporary staging root (then removed). It
// runs nothing and changes no state.
type Plan struct {
	Bundle         *bundle.Predicate `json:"bundle"`
	Checks         []receipt.Check   `json:"checks"`
	Signers        []receipt.Signer  `json:"signers"`
	AlreadyApplied bool              `json:"alreadyApplied"`
	Variables      []PlanVariable    `json:"variables"`
	Steps          []PlanStep        `json:"steps"`
	// Images are the bundle's images and where a push step would push
	// them (format 3).
	Images []PlanImage `json:"images,omitempty"`
}

// PlanVariable is a variable and where its value comes from (never the value
// of a sensitive one).
type PlanVariable struct {
	Name      string `json:"name"`
	Sensitive bool   `json:"sensitive"`
	Value     string `json:"value,omitempty"`
	// Source is where the value comes from: "bundle", "bundle byZone
	// ZONE", "bundle byRole ROLE", "bundle byHost HOST", or the path of
	// trust.yaml or of --var-file, followed by "fromFile PATH" when the
	// value was read from a file kept in the zone.
	Source string `json:"source"`
}

// PlanStep is a step with its references resolved (sensitive values masked).
type PlanStep struct {
	Name string          `json:"name"`
	Kind bundle.StepKind `json:"kind"`
	When bundle.When     `json:"when"`
	What string          `json:"what"`
}

// MakePlan verifies and stages the bundle and describes what Apply would run.
func MakePlan(ctx context.Context, o Options) (*Plan, error) {
	if o.Trust == nil {
		return nil, errors.New("plan: no trust policy")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := checkInputs(o); err != nil {
		return nil, err
	}
	st, err := openState(o.Trust.StateDir, o.Now)
	if err != nil {
		return nil, err
	}
	if err := planPolicy(ctx, o); err != nil {
		return nil, err
	}
	a := &applier{o: o, state: st, zone: o.Trust.Policy.Zone, host: o.Trust.Policy.Host, j: &journal{}}
	b, err := bundle.Open(o.Bundle)
	if err != nil {
		return nil, err // a damaged container is a *bundle.FormatError: a refusal
	}
	defer b.Close()
	vr, err := verify.Bundle(ctx, b, verify.Options{Policy: o.Trust.Policy, Now: a.o.Now(), Sequence: a.sequence, Progress: o.Progress})
	plan := &Plan{}
	if vr != nil {
		plan.Checks, plan.Signers = vr.Checks, vr.Signers
	}
	if err != nil {
		return plan, err
	}
	plan.Bundle, plan.AlreadyApplied = &vr.Statement.Predicate, a.already
	if err := a.planBase(vr); err != nil {
		return plan, err
	}
	// The staging folder carries this process's id: an apply starting
	// meanwhile leaves it alone, and removes it if this plan is killed.
	dir, err := atomicfile.MkdirTemp(st.stagingDir(""), planPrefix)
	if err != nil {
		return plan, err
	}
	os.Remove(dir) // stage creates it afresh
	defer os.RemoveAll(dir)
	staged, err := a.stageInto(ctx, b, vr, dir)
	if err != nil {
		// The same verdict as apply's: a payload that does not decrypt or
		// match what was signed is a refusal (exit code 3).
		return plan, stagingError(err)
	}
	vars, err := a.variables(staged, vr)
	if err != nil {
		// Refused, as apply refuses it (exit code 3), though not a
		// verification failure (check 13 follows decryption).
		return plan, &RefusedError{Reason: receipt.Reason(receipt.CheckVariables), Err: err}
	}
	// The same targets apply would refuse, refused alike.
	a.j.Receipt.Bundle.Name = vr.Statement.Predicate.Name
	if terr := a.checkTargets(vr, vars); terr != nil {
		return plan, &RefusedError{Reason: terr.reason, Err: terr}
	}
	masker := mask.New(vars.secrets())
	for _, v := range vr.Manifest.Variables {
		pv := PlanVariable{Name: v.Name, Sensitive: v.Sensitive, Source: vars.source[v.Name].Where()}
		if !v.Sensitive {
			pv.Value = vars.values[v.Name]
		}
		plan.Variables = append(plan.Variables, pv)
	}
	// A reference that cannot be resolved is shown as written.
	expand := func(text string) string {
		if t, err := vars.expand(text); err == nil {
			return t
		}
		return text
	}
	plan.Images = planImages(vr.Manifest, vars)
	for _, s := range vr.Manifest.Steps {
		what := strings.Join(s.Describe(expand), "\n")
		plan.Steps = append(plan.Steps, PlanStep{Name: s.Name, Kind: s.Kind(), When: s.When, What: masker.String(what)})
	}
	return plan, nil
}

// planPolicy says what apply would say of the zone's policy: when
// trust.yaml is not the policy the chain records, apply refuses every
// bundle (policy-uncommitted), and plan says so — recording the drift in
// the chain, as RecordDrift does, so that an uncommitted edit is on the
// record although no apply was tried.
func planPolicy(ctx context.Context, o Options) error {
	key, err := receiptKey(o.Trust)
	if err != nil {
		return err
	}
	h, err := receipt.OpenChain(filepath.Join(o.Trust.StateDir, "receipts"), o.Trust.Policy.Zone, o.Trust.Policy.Host, key).Head()
	if err != nil {
		return fmt.Errorf("read receipt chain: %w", err)
	}
	if h != nil && h.Policy() != nil && o.Trust.Record().Same(h.Policy()) {
		return nil
	}
	res, err := RecordDrift(ctx, o)
	var refused *RefusedError
	switch {
	case errors.As(err, &refused) && res != nil && res.Receipt != "":
		return &RefusedError{Reason: refused.Reason, Err: fmt.Errorf("apply would refuse every bundle: %w (recorded in %s)", refused.Err, res.Receipt)}
	case errors.As(err, &refused):
		return &RefusedError{Reason: refused.Reason, Err: fmt.Errorf("apply would refuse every bundle: %w", refused.Err)}
	case err != nil:
		return &RefusedError{Reason: receipt.ReasonPolicyUncommitted, Err: fmt.Errorf("apply would refuse every bundle: %s is not the policy the receipt chain records (recording that failed: %w)", o.Trust.File, err)}
	}
	return nil
}
