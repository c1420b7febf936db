package apply

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/schematest"
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

// TestPlanSchemaStepKinds: the schema of plan --json lists exactly the
// step kinds of bundle.StepKinds(), in table order.
func TestPlanSchemaStepKinds(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(schematest.Dir(), "plan.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Defs struct {
			Result struct {
				Properties struct {
					Steps struct {
						Items struct {
							Properties struct {
								Kind struct {
									Enum []bundle.StepKind `json:"enum"`
								} `json:"kind"`
							} `json:"properties"`
						} `json:"items"`
					} `json:"steps"`
				} `json:"properties"`
			} `json:"result"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if got := s.Defs.Result.Properties.Steps.Items.Properties.Kind.Enum; !slices.Equal(got, bundle.StepKinds()) {
		t.Errorf("plan.schema.json lists step kinds %q, bundle.StepKinds() %q", got, bundle.StepKinds())
	}
}
