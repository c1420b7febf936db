package apply

import (
	"slices"
	"testing"

	"airlock.dev/airlock/bundle"
)

// TestStepRunners: the applier has a runner for every step kind of the
// bundle's table, and none for a kind the table does not have.
func TestStepRunners(t *testing.T) {
	kinds := bundle.StepKinds()
	for _, k := range kinds {
		if stepRunners[k] == nil {
			t.Errorf("step kind %s has no runner in stepRunners", k)
		}
	}
	for k := range stepRunners {
		if !slices.Contains(kinds, k) {
			t.Errorf("stepRunners runs %q, which is not a step kind of bundle.StepKinds()", k)
		}
	}
}
