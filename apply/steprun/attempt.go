package steprun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// attemptResult is the outcome of one attempt.
type attemptResult struct {
	exitCode             int
	timedOut             bool
	err                  error
	retryable            bool
	stdoutSHA, stderrSHA string
	tail                 string
	outputs              map[string]string
	sensitive            map[string]bool
}

// stopReason says why Run stopped a process.
type stopReason int

const (
	exited   stopReason = iota // not stopped: the process exited on its own
	timedOut                   // the attempt's timeout expired
	canceled                   // ctx was done
)

// attempt runs the step's process once.
func (c *Command) attempt(ctx context.Context, inv invocation) attemptResult {
	outFile, err := newOutputFile(c.OutputDir)
	if err != nil {
		return attemptResult{exitCode: -1, err: fmt.Errorf("step %q: %w", c.Name, err)}
	}
	defer os.Remove(outFile)

	marker, started := OutputEnv+"="+outFile, time.Now()
	if c.OnStart != nil {
		// Before the process exists: if the applier dies between its start
		// and the second call, recovery still finds it by the marker.
		if err := c.OnStart(Group{Boot: bootID(), Marker: marker, Started: started}); err != nil {
			return attemptResult{exitCode: -1, err: fmt.Errorf("step %q: %w", c.Name, err)}
		}
	}
	capt := newCapture(c.Mask, c.Stdout, c.Stderr)
	cmd := c.command(inv, outFile, capt)
	if err := cmd.Start(); err != nil {
		capt.close()
		return attemptResult{exitCode: -1, err: fmt.Errorf("step %q: start %s: %w", c.Name, inv.args[0], err)}
	}
	tr := newTree(cmd)
	if c.OnStart != nil {
		if err := c.OnStart(tr.group(marker, started)); err != nil {
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			stopTree(tr, c.grace(), done)
			tr.release()
			capt.close()
			return attemptResult{exitCode: -1, err: fmt.Errorf("step %q: %w", c.Name, err)}
		}
	}
	reason, werr := c.wait(ctx, cmd, tr)
	tr.release()
	capt.close()

	a := attemptResult{
		exitCode:  -1,
		stdoutSHA: capt.stdoutSHA256(),
		stderrSHA: capt.stderrSHA256(),
		tail:      capt.tailString(),
	}
	if cmd.ProcessState != nil {
		a.exitCode = cmd.ProcessState.ExitCode()
	}
	c.classify(ctx, &a, reason, werr, cmd)
	if a.err == nil {
		a.outputs, a.sensitive, a.err = readOutputs(outFile)
		if a.err != nil {
			a.err = fmt.Errorf("step %q: %w", c.Name, a.err)
		}
	}
	return a
}

// classify sets a.err, a.timedOut and a.retryable from how the process ended.
func (c *Command) classify(ctx context.Context, a *attemptResult, reason stopReason, werr error, cmd *exec.Cmd) {
	var exitErr *exec.ExitError
	switch {
	case reason == canceled:
		a.err = fmt.Errorf("step %q: stopped: %w", c.Name, context.Cause(ctx))
	case reason == timedOut:
		a.timedOut, a.retryable = true, true
		a.err = fmt.Errorf("step %q: %w after %v", c.Name, ErrTimeout, c.timeout())
	case werr == nil, errors.Is(werr, exec.ErrWaitDelay):
		// Success; ErrWaitDelay only means a leftover process held the
		// output open and Run stopped reading it.
	case errors.As(werr, &exitErr):
		a.retryable = true
		a.err = fmt.Errorf("step %q: %w: %s", c.Name, ErrExit, exitErr.ProcessState)
	default:
		a.err = fmt.Errorf("step %q: wait: %w", c.Name, werr)
	}
}

// command builds the exec.Cmd for one attempt.
func (c *Command) command(inv invocation, outFile string, capt *capture) *exec.Cmd {
	cmd := &exec.Cmd{
		Path:      inv.path,
		Args:      inv.args,
		Dir:       c.Dir,
		Env:       c.env(outFile),
		Stdout:    capt.stdout,
		Stderr:    capt.stderr,
		WaitDelay: c.grace(),
	}
	prepareCmd(cmd, inv)
	return cmd
}

// env returns c.Env without any OutputEnv entry, plus OutputEnv=outFile.
func (c *Command) env(outFile string) []string {
	env := make([]string, 0, len(c.Env)+1)
	for _, kv := range c.Env {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.EqualFold(name, OutputEnv) {
			env = append(env, kv)
		}
	}
	return append(env, OutputEnv+"="+outFile)
}

// wait waits for cmd, stopping its process tree on timeout or when ctx is
// done.
func (c *Command) wait(ctx context.Context, cmd *exec.Cmd, tr *tree) (stopReason, error) {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(c.timeout())
	defer timer.Stop()

	var reason stopReason
	select {
	case err := <-done:
		return exited, err
	case <-timer.C:
		reason = timedOut
	case <-ctx.Done():
		reason = canceled
	}
	if ctx.Err() != nil {
		reason = canceled // cancellation wins: it must not be retried
	}
	return reason, stopTree(tr, c.grace(), done)
}

// stopTree asks the tree to terminate, waits until the process has exited
// and the tree is empty or the grace period is over, then kills what is left.
// It returns cmd.Wait's error.
func stopTree(tr *tree, grace time.Duration, done <-chan error) error {
	tr.terminate()
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	poll := time.NewTicker(25 * time.Millisecond)
	defer poll.Stop()

	var err error
	exited := false
	for {
		select {
		case err = <-done:
			exited, done = true, nil
		case <-poll.C:
		case <-deadline.C:
			tr.kill()
			if !exited {
				err = <-done
			}
			return err
		}
		if exited && !tr.alive() {
			return err
		}
	}
}
