// Package steprun runs the process of one release step for `airlock apply`
// and reports what happened in a form the receipt can record.
//
// # Contract
//
//   - The step runs under a shell chosen by [Command.Shell] with exactly the
//     environment in [Command.Env] (see [BaseEnv]) plus [OutputEnv]. Inline
//     commands fail fast: sh runs with -e, bash with -e -o pipefail,
//     PowerShell with $ErrorActionPreference='Stop', cmd with /C. Scripts run
//     as written.
//   - Each attempt has a timeout ([DefaultTimeout] unless set). On timeout or
//     when ctx is done the whole process tree is stopped: on Unix the step
//     runs in its own process group, which gets SIGTERM, then SIGKILL after
//     [Command.Grace]; on Windows the tree is held in a Job Object and
//     terminated. A step that daemonises out of its group (setsid) escapes
//     that; a [Containment] finds it (Linux).
//   - A failed attempt (non-zero exit or timeout) is retried up to
//     [Command.Retries] times with exponential backoff capped at
//     [MaxRetryDelay]. Cancellation, a process that cannot be started and an
//     invalid output file are not retried.
//   - Output never reaches the caller unmasked: stdout and stderr pass
//     through [mask.Masker] before they are written to the operator's
//     writers, hashed (SHA-256) and kept as a short tail. Nothing is buffered
//     beyond the tail and the masker's hold-back.
//   - A step publishes output variables by writing name=value lines to the
//     file named by $AIRLOCK_OUTPUT. They are read only after an attempt
//     succeeds. Errors name the line number, never a value.
//   - Processes a step leaves behind after it exits normally are not killed;
//     Run stops reading their output after [Command.Grace].
//   - [Command.OnStart] learns each attempt's process group, so that the
//     applier can record it and, after a crash, [StopSurvivors] can stop
//     what the dead applier could not.
package steprun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"time"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/mask"
	"airlock.dev/airlock/receipt"
)

const (
	// DefaultTimeout is the per-attempt timeout when Command.Timeout is 0:
	// a step's default timeout in airlock.yaml.
	DefaultTimeout = bundle.DefaultTimeout
	// DefaultGrace is used when Command.Grace is 0.
	DefaultGrace = 5 * time.Second
	// MaxRetryDelay caps the backoff between attempts.
	MaxRetryDelay = 5 * time.Minute
	// TailSize is how many bytes of masked combined output Result.Tail
	// keeps: what a receipt records of a step's output.
	TailSize = receipt.TailSize
	// MaxOutputSize caps the $AIRLOCK_OUTPUT file.
	MaxOutputSize = 1 << 20
	// OutputEnv names the environment variable that holds the output file path.
	OutputEnv = "AIRLOCK_OUTPUT"
	// SensitivePrefix starts an output line whose value is to be masked.
	SensitivePrefix = "sensitive "
)

var (
	// ErrTimeout means the last attempt ran out of time and was killed.
	ErrTimeout = errors.New("timed out")
	// ErrExit means the last attempt exited with a failure status.
	ErrExit = errors.New("exited with failure")
	// ErrOutput means the step succeeded but its output file is invalid.
	ErrOutput = errors.New("invalid output file")
)

// Command describes one step's process.
type Command struct {
	Name   string // step name, for messages
	Shell  string // "", "sh", "bash", "pwsh", "powershell" or "cmd"; see Run
	Inline string // inline command text; exactly one of Inline and Script
	Script string // script file run with the shell; relative to Dir
	Dir    string // working directory; "" means the applier's

	// Env is the complete environment of the step ("K=V"), built with
	// BaseEnv plus variables. Run adds OutputEnv.
	Env []string

	Timeout    time.Duration // per attempt; 0 means DefaultTimeout
	Retries    int           // extra attempts after a failure
	RetryDelay time.Duration // backoff base: RetryDelay * 2^(n-1) before retry n

	// Grace bounds how long Run waits for processes on their own: after
	// SIGTERM before SIGKILL, and after the step's process exits for
	// processes that still hold its output open (exec.Cmd.WaitDelay).
	// 0 means DefaultGrace.
	Grace time.Duration

	Stdout io.Writer    // receives masked stdout; may be nil
	Stderr io.Writer    // receives masked stderr; may be nil; may equal Stdout
	Mask   *mask.Masker // required

	// OutputDir holds the $AIRLOCK_OUTPUT file, created (mode 0600) before
	// each attempt and removed after it; "" means os.TempDir().
	OutputDir string

	// Now is the clock for Result.Started and Finished; nil means
	// time.Now. Timeouts and backoff always use real time.
	Now func() time.Time

	// OnStart, if set, is called twice for each attempt: just before its
	// process starts, with the Group's marker but no ID, and just after,
	// with the process group's ID, before Run waits for it. If it returns
	// an error the attempt's processes (if any) are stopped and the step
	// fails without a retry: the applier records the group in its journal
	// here, and a journal it cannot write is a failure.
	OnStart func(Group) error

	// OnRetry, if set, is called after a failed attempt that will be
	// retried, before the backoff: attempt n (1-based) of the total the
	// step may make failed with err, and the next one starts after delay.
	OnRetry func(n, total int, err error, delay time.Duration)
}

// Result reports a step run. Output fields describe the last attempt.
type Result struct {
	Attempts          int
	ExitCode          int  // last attempt; -1 if it never started or was killed by a signal
	TimedOut          bool // the last attempt hit the timeout
	Err               error
	Started, Finished time.Time
	StdoutSHA256      string            // hex SHA-256 of the masked stdout
	StderrSHA256      string            // hex SHA-256 of the masked stderr
	Tail              string            // last TailSize bytes of masked combined output
	Outputs           map[string]string // output variables; nil unless the step succeeded
	Sensitive         map[string]bool   // outputs written as "sensitive name=value"
}

// Run runs c until an attempt succeeds, retries are used up, or ctx is done.
// It never panics on bad input; problems are reported in Result.Err, which
// wraps ErrTimeout, ErrExit, ErrOutput, ctx's error or a start error.
//
// When Shell is "", inline commands run with sh on Unix and powershell on
// Windows, and scripts by extension: .sh with sh, .ps1 with pwsh if it is on
// PATH and powershell otherwise, .cmd and .bat with cmd, anything else as an
// inline command would. Shells are looked up on the applier's PATH.
func Run(ctx context.Context, c Command) (res Result) {
	now := c.Now
	if now == nil {
		now = time.Now
	}
	res = Result{ExitCode: -1, Started: now()}
	defer func() { res.Finished = now() }()

	inv, err := c.prepare()
	if err != nil {
		res.Err = fmt.Errorf("step %q: %w", c.Name, err)
		return res
	}
	for {
		if err := ctx.Err(); err != nil && res.Attempts == 0 {
			res.Err = fmt.Errorf("step %q: not started: %w", c.Name, err)
			return res
		}
		res.Attempts++
		a := c.attempt(ctx, inv)
		res.record(a)
		if a.err == nil || !a.retryable || res.Attempts > c.Retries {
			return res
		}
		delay := backoff(c.RetryDelay, res.Attempts)
		if c.OnRetry != nil {
			c.OnRetry(res.Attempts, c.Retries+1, a.err, delay)
		}
		if err := sleep(ctx, delay); err != nil {
			res.Err = fmt.Errorf("%w; retry canceled: %w", res.Err, err)
			return res
		}
	}
}

func (r *Result) record(a attemptResult) {
	r.ExitCode = a.exitCode
	r.TimedOut = a.timedOut
	r.Err = a.err
	r.StdoutSHA256 = a.stdoutSHA
	r.StderrSHA256 = a.stderrSHA
	r.Tail = a.tail
	r.Outputs, r.Sensitive = a.outputs, a.sensitive
}

// prepare checks c and works out the process to start.
func (c *Command) prepare() (invocation, error) {
	switch {
	case c.Mask == nil:
		return invocation{}, errors.New("no masker")
	case (c.Inline == "") == (c.Script == ""):
		return invocation{}, errors.New("exactly one of inline command and script is required")
	case c.Timeout < 0, c.RetryDelay < 0, c.Grace < 0:
		return invocation{}, errors.New("negative timeout, retry delay or grace")
	case c.Retries < 0:
		return invocation{}, errors.New("negative retries")
	}
	return c.invocation(runtime.GOOS, exec.LookPath)
}

func (c *Command) timeout() time.Duration {
	if c.Timeout == 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

func (c *Command) grace() time.Duration {
	if c.Grace == 0 {
		return DefaultGrace
	}
	return c.Grace
}

// backoff returns the delay before retry n (1-based): base * 2^(n-1),
// capped at MaxRetryDelay.
func backoff(base time.Duration, n int) time.Duration {
	d := min(base, MaxRetryDelay)
	for i := 1; i < n && d < MaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, MaxRetryDelay)
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
