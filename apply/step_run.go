package apply

import (
	"errors"
	"fmt"
	"os"
	"time"

	"airlock.dev/airlock/apply/steprun"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/receipt"
)

// runStep runs an inline command.
func (a *applier) runStep(r *stepRun) bool {
	return a.processStep(r, func(cmd *steprun.Command, _ string) error {
		text, err := r.vars.expand(r.step.Run)
		cmd.Inline = text
		return err
	})
}

// processStep runs a step that runs a process (run, script), once prepare
// has said what to run. The step's output file, and what prepare writes
// (a substituted script), live in a folder of its own (dir) in the steps'
// outputs folder, under the state directory's staging folder, which
// recovery removes: a step's sensitive outputs never outlive the apply.
// An error of prepare fails the step with its message.
func (a *applier) processStep(r *stepRun, prepare func(cmd *steprun.Command, dir string) error) bool {
	s, rs, vars, masker := r.step, r.rs, r.vars, r.masker
	outputs, err := r.outputs.get()
	if err != nil {
		rs.Result, rs.Error = receipt.StepFailed, err.Error()
		return false
	}
	outDir, err := os.MkdirTemp(outputs, "step-")
	if err != nil {
		rs.Result, rs.Error = receipt.StepFailed, err.Error()
		return false
	}
	defer os.RemoveAll(outDir)
	cmd := steprun.Command{
		Name: s.Name, Shell: s.Shell, Dir: r.dir,
		Env:     a.stepEnv(vars),
		Timeout: time.Duration(s.Timeout), Retries: s.Retries, RetryDelay: time.Duration(s.RetryDelay),
		Stdout: a.stepOut, Stderr: a.stepErr, Mask: masker, OutputDir: outDir, Now: a.o.Now,
		OnRetry: func(n, total int, err error, delay time.Duration) {
			msg := fmt.Sprintf("step %q: attempt %d of %d failed (%s); attempt %d of %d in %v", s.Name, n, total, masker.String(err.Error()), n+1, total, delay)
			fmt.Fprintf(a.o.Stderr, "airlock: %s\n", printable.String(msg))
			a.logf("airlock: %s\n", msg)
		},
		OnStart: func(g steprun.Group) error {
			a.j.Running = &g
			return a.state.save(a.j, jStepRunning)
		},
	}
	if err := prepare(&cmd, outDir); err != nil {
		rs.Result, rs.Error = receipt.StepFailed, err.Error()
		return false
	}
	res := steprun.Run(r.ctx, cmd)
	rs.Started, rs.Finished, rs.Attempts, rs.ExitCode = res.Started.UTC(), res.Finished.UTC(), res.Attempts, res.ExitCode
	rs.StdoutSHA256, rs.StderrSHA256, rs.Tail = res.StdoutSHA256, res.StderrSHA256, res.Tail
	for k, v := range res.Outputs {
		vars.outputs["Steps."+s.Name+"."+k] = v
		if res.Sensitive[k] {
			vars.sensitive["Steps."+s.Name+"."+k] = true
			masker.Add(v)
		}
	}
	switch {
	case res.Err == nil:
		rs.Result = receipt.StepSucceeded
		return true
	case errors.Is(res.Err, steprun.ErrTimeout):
		rs.Result = receipt.StepTimedOut
	default:
		rs.Result = receipt.StepFailed
	}
	rs.Error = masker.String(res.Err.Error())
	return false
}
