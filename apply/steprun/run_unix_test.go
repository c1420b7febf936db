//go:build unix

package steprun

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"airlock.dev/airlock/internal/mask"
)

// syncBuffer is a bytes.Buffer safe for the test to read while Run writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// inline returns a fast Command for an inline sh step with its own streams.
func inline(t *testing.T, text string) (Command, *syncBuffer, *syncBuffer) {
	t.Helper()
	var stdout, stderr syncBuffer
	return Command{
		Name:      t.Name(),
		Inline:    text,
		Env:       BaseEnv(os.Environ()),
		Timeout:   5 * time.Second,
		Grace:     200 * time.Millisecond,
		Stdout:    &stdout,
		Stderr:    &stderr,
		Mask:      mask.New(nil),
		OutputDir: t.TempDir(),
	}, &stdout, &stderr
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 0 {
		t.Errorf("output dir: %v, %v; want empty", entries, err)
	}
}

func TestRunSuccessWithOutputs(t *testing.T) {
	t.Parallel()
	c, stdout, stderr := inline(t, `
echo hello
echo warn >&2
echo "greeting=hi there" >> "$AIRLOCK_OUTPUT"
printf '# comment\n\nport=8080\n' >> "$AIRLOCK_OUTPUT"`)
	res := Run(t.Context(), c)
	if res.Err != nil || res.ExitCode != 0 || res.Attempts != 1 || res.TimedOut {
		t.Fatalf("got %+v", res)
	}
	want := map[string]string{"greeting": "hi there", "port": "8080"}
	if !reflect.DeepEqual(res.Outputs, want) {
		t.Errorf("outputs %v, want %v", res.Outputs, want)
	}
	if stdout.String() != "hello\n" || stderr.String() != "warn\n" {
		t.Errorf("stdout %q stderr %q", stdout, stderr)
	}
	if res.StdoutSHA256 != sha("hello\n") || res.StderrSHA256 != sha("warn\n") {
		t.Errorf("hashes do not match the output")
	}
	if !strings.Contains(res.Tail, "hello\n") || !strings.Contains(res.Tail, "warn\n") || len(res.Tail) != 11 {
		t.Errorf("tail %q", res.Tail)
	}
	if res.Started.IsZero() || res.Finished.Before(res.Started) {
		t.Errorf("times %v %v", res.Started, res.Finished)
	}
	assertEmptyDir(t, c.OutputDir)
}

func TestRunExitCode(t *testing.T) {
	t.Parallel()
	c, _, _ := inline(t, `echo 'x=1' >> "$AIRLOCK_OUTPUT"; exit 3`)
	res := Run(t.Context(), c)
	if !errors.Is(res.Err, ErrExit) || res.ExitCode != 3 || res.Attempts != 1 || res.TimedOut || res.Outputs != nil {
		t.Fatalf("got %+v", res)
	}
	if !strings.Contains(res.Err.Error(), "exit status 3") {
		t.Errorf("error %q does not give the status", res.Err)
	}
	assertEmptyDir(t, c.OutputDir)
}

func TestRunSetE(t *testing.T) {
	t.Parallel()
	c, stdout, _ := inline(t, "false; echo after")
	res := Run(t.Context(), c)
	if !errors.Is(res.Err, ErrExit) || strings.Contains(stdout.String(), "after") {
		t.Fatalf("sh: err %v, stdout %q", res.Err, stdout)
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	c, stdout, _ = inline(t, "false | true; echo after")
	c.Shell = "bash"
	res = Run(t.Context(), c)
	if !errors.Is(res.Err, ErrExit) || strings.Contains(stdout.String(), "after") {
		t.Fatalf("bash pipefail: err %v, stdout %q", res.Err, stdout)
	}
}

func TestRunRetries(t *testing.T) {
	t.Parallel()
	script, err := filepath.Abs("testdata/flaky.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		retries, succeedOn, attempts int
		ok                           bool
	}{
		{retries: 2, succeedOn: 3, attempts: 3, ok: true},
		{retries: 1, succeedOn: 3, attempts: 2, ok: false},
		{retries: 5, succeedOn: 1, attempts: 1, ok: true},
	} {
		c, stdout, _ := inline(t, "")
		c.Inline, c.Script = "", script
		counter := filepath.Join(t.TempDir(), "count")
		c.Env = append(c.Env, "COUNTER="+counter, "SUCCEED_ON="+strconv.Itoa(tc.succeedOn))
		c.Retries, c.RetryDelay = tc.retries, time.Millisecond
		var retried []string
		c.OnRetry = func(n, total int, err error, _ time.Duration) {
			retried = append(retried, fmt.Sprintf("%d of %d: %v", n, total, errors.Is(err, ErrExit)))
		}
		res := Run(t.Context(), c)
		var want []string
		for n := 1; n < tc.attempts; n++ {
			want = append(want, fmt.Sprintf("%d of %d: true", n, tc.retries+1))
		}
		if !slices.Equal(retried, want) {
			t.Errorf("%+v: OnRetry %q, want %q", tc, retried, want)
		}
		if res.Attempts != tc.attempts || (res.Err == nil) != tc.ok {
			t.Fatalf("%+v: got attempts %d err %v", tc, res.Attempts, res.Err)
		}
		if !tc.ok && (!errors.Is(res.Err, ErrExit) || res.ExitCode != 1) {
			t.Errorf("%+v: got %+v", tc, res)
		}
		if n := strings.Count(stdout.String(), "attempt "); n != tc.attempts {
			t.Errorf("%+v: operator saw %d attempts", tc, n)
		}
		if want := fmt.Sprintf("attempt %d\n", tc.attempts); res.Tail != want {
			t.Errorf("%+v: tail %q, want the last attempt's %q", tc, res.Tail, want)
		}
	}
}

// gone reports whether pid no longer runs. A zombie counts as gone: the
// test's PID 1 may not reap reparented processes.
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, after, _ := strings.Cut(string(stat), ") ")
	return strings.HasPrefix(after, "Z")
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if gone(pid) {
			return
		}
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	t.Fatalf("process %d still running", pid)
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(path)
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil {
			return pid
		}
	}
	t.Fatalf("no pid in %s", path)
	return 0
}

func TestRunTimeoutKillsGroup(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text string
		minTime    time.Duration // lower bound: SIGKILL only after grace
	}{
		{"sigterm", `sleep 1000 & echo $! > "$PIDFILE"; sleep 1000`, 0},
		{"sigterm ignored", `trap '' TERM; sleep 1000 & echo $! > "$PIDFILE"; sleep 1000`, 300*time.Millisecond + 200*time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _, _ := inline(t, tc.text)
			pidFile := filepath.Join(t.TempDir(), "pid")
			c.Env = append(c.Env, "PIDFILE="+pidFile)
			c.Timeout, c.Retries, c.RetryDelay = 300*time.Millisecond, 0, 0
			start := time.Now()
			res := Run(t.Context(), c)
			elapsed := time.Since(start)
			if !errors.Is(res.Err, ErrTimeout) || !res.TimedOut || res.ExitCode != -1 || res.Attempts != 1 {
				t.Fatalf("got %+v", res)
			}
			if elapsed < tc.minTime || elapsed > 2*time.Second {
				t.Errorf("Run took %v", elapsed)
			}
			waitGone(t, readPid(t, pidFile))
		})
	}
}

func TestRunTimeoutIsRetried(t *testing.T) {
	t.Parallel()
	c, stdout, _ := inline(t, "echo try; sleep 1000")
	c.Timeout, c.Retries, c.RetryDelay = 100*time.Millisecond, 1, time.Millisecond
	res := Run(t.Context(), c)
	if !errors.Is(res.Err, ErrTimeout) || res.Attempts != 2 || strings.Count(stdout.String(), "try") != 2 {
		t.Fatalf("got %+v, stdout %q", res, stdout)
	}
}

func TestRunGrandchildHoldingOutput(t *testing.T) {
	t.Parallel()
	c, stdout, _ := inline(t, `sleep 1000 & echo $! > "$PIDFILE"; echo started; echo "ok=1" >> "$AIRLOCK_OUTPUT"`)
	pidFile := filepath.Join(t.TempDir(), "pid")
	c.Env = append(c.Env, "PIDFILE="+pidFile)
	start := time.Now()
	res := Run(t.Context(), c)
	elapsed := time.Since(start)
	pid := readPid(t, pidFile)
	defer syscall.Kill(pid, syscall.SIGKILL)
	if res.Err != nil || res.ExitCode != 0 || res.Outputs["ok"] != "1" || stdout.String() != "started\n" {
		t.Fatalf("got %+v, stdout %q", res, stdout)
	}
	if elapsed < c.Grace || elapsed > c.Grace+time.Second {
		t.Errorf("Run took %v with grace %v", elapsed, c.Grace)
	}
	if gone(pid) {
		t.Errorf("a process left by a successful step was killed")
	}
}

func TestRunCancel(t *testing.T) {
	t.Parallel()
	c, _, _ := inline(t, `echo run >> "$COUNTER"; sleep 1000`)
	counter := filepath.Join(t.TempDir(), "count")
	c.Env = append(c.Env, "COUNTER="+counter)
	c.Retries, c.RetryDelay = 3, time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	var canceledAt time.Time
	go func() {
		waitFor(t, func() bool { b, _ := os.ReadFile(counter); return string(b) == "run\n" })
		canceledAt = time.Now()
		cancel()
	}()
	res := Run(ctx, c)
	if !errors.Is(res.Err, context.Canceled) || errors.Is(res.Err, ErrTimeout) || res.TimedOut || res.Attempts != 1 {
		t.Fatalf("got %+v", res)
	}
	if elapsed := time.Since(canceledAt); elapsed > time.Second {
		t.Errorf("Run took %v after cancel", elapsed)
	}
	if b, _ := os.ReadFile(counter); string(b) != "run\n" {
		t.Errorf("step ran %q", b)
	}

	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	res = Run(ctx, c)
	if !errors.Is(res.Err, context.Canceled) || res.Attempts != 0 || res.ExitCode != -1 {
		t.Fatalf("canceled before start: got %+v", res)
	}
}

func TestRunCancelDuringBackoff(t *testing.T) {
	t.Parallel()
	c, _, _ := inline(t, `touch "$MARK"; exit 2`)
	mark := filepath.Join(t.TempDir(), "mark")
	c.Env = append(c.Env, "MARK="+mark)
	c.Retries, c.RetryDelay = 3, time.Hour
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		// The attempt has ended once it ran and its output file is removed.
		waitFor(t, func() bool {
			_, err := os.Stat(mark)
			return err == nil && entries(c.OutputDir) == 0
		})
		cancel()
	}()
	res := Run(ctx, c)
	if !errors.Is(res.Err, context.Canceled) || !errors.Is(res.Err, ErrExit) || res.Attempts != 1 || res.ExitCode != 2 {
		t.Fatalf("got %+v", res)
	}
}

func entries(dir string) int {
	e, _ := os.ReadDir(dir)
	return len(e)
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Error("condition not met in time")
}

// TestRunEnvExact is not parallel: it sets a variable in the test's own
// environment.
func TestRunEnvExact(t *testing.T) {
	t.Setenv("AIRLOCK_PARENT_ONLY", "leak")
	c, stdout, _ := inline(t, "exec env")
	c.Env = []string{"PATH=" + os.Getenv("PATH"), "ONLY_CHILD=yes", "AIRLOCK_OUTPUT=/elsewhere"}
	res := Run(t.Context(), c)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	var got []string
	for _, kv := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		name, value, _ := strings.Cut(kv, "=")
		switch name {
		case "PWD", "SHLVL", "_", "OLDPWD": // set by the shell itself
		case OutputEnv:
			if filepath.Dir(value) != c.OutputDir {
				t.Errorf("%s=%s, want a file in %s", name, value, c.OutputDir)
			}
			got = append(got, name)
		default:
			got = append(got, kv)
		}
	}
	want := []string{"PATH=" + os.Getenv("PATH"), "ONLY_CHILD=yes", OutputEnv}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("child env %q, want %q", got, want)
	}
}

func TestRunMasksSecrets(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-Value!"
	c, stdout, stderr := inline(t, `
echo "raw: $SECRET"
printf %s "$SECRET" | base64
printf 'split: %s' "$SECRET" | head -c 10; sleep 0.05; printf '%s\n' "${SECRET#???}"
echo "err: $SECRET" >&2
echo "token=$SECRET" >> "$AIRLOCK_OUTPUT"`)
	c.Mask = mask.New([]string{secret})
	c.Env = append(c.Env, "SECRET="+secret)
	res := Run(t.Context(), c)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	encoded := base64.StdEncoding.EncodeToString([]byte(secret))
	for name, s := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String(), "tail": res.Tail} {
		if strings.Contains(s, secret) || strings.Contains(s, encoded) || !strings.Contains(s, mask.Replacement) {
			t.Errorf("%s not masked: %q", name, s)
		}
	}
	if !strings.Contains(stdout.String(), "split: "+mask.Replacement+"\n") {
		t.Errorf("secret split across writes: stdout %q", stdout)
	}
	if res.StdoutSHA256 != sha(stdout.String()) || res.StderrSHA256 != sha(stderr.String()) {
		t.Errorf("hashes are not of the masked output")
	}
	if res.Outputs["token"] != secret {
		t.Errorf("output variable lost its value")
	}
}

func TestRunLongOutputTail(t *testing.T) {
	t.Parallel()
	c, stdout, _ := inline(t, `i=0; while [ $i -lt 400 ]; do echo "line $i é"; i=$((i+1)); done`)
	res := Run(t.Context(), c)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	out := stdout.String()
	if len(res.Tail) > TailSize || len(res.Tail) < TailSize-3 || !strings.HasSuffix(out, res.Tail) {
		t.Fatalf("tail (%d bytes) is not the end of the output", len(res.Tail))
	}
	if !strings.HasSuffix(res.Tail, "line 399 é\n") || res.StdoutSHA256 != sha(out) {
		t.Fatalf("tail %q", res.Tail[len(res.Tail)-20:])
	}
}

func TestRunInvalidOutputFile(t *testing.T) {
	t.Parallel()
	c, _, _ := inline(t, `printf 'ok=1\n\nhunter2 hunter2\n' >> "$AIRLOCK_OUTPUT"; echo run`)
	c.Retries = 2
	res := Run(t.Context(), c)
	if !errors.Is(res.Err, ErrOutput) || res.Attempts != 1 || res.ExitCode != 0 || res.Outputs != nil {
		t.Fatalf("got %+v", res)
	}
	if msg := res.Err.Error(); !strings.Contains(msg, "line 3") || strings.Contains(msg, "hunter2") {
		t.Errorf("error %q", msg)
	}

	c, _, _ = inline(t, `head -c 1048577 /dev/zero | tr '\0' a > "$AIRLOCK_OUTPUT"`)
	if res := Run(t.Context(), c); !errors.Is(res.Err, ErrOutput) || !strings.Contains(res.Err.Error(), "larger than") {
		t.Fatalf("oversized file: got %v", res.Err)
	}

	c, _, _ = inline(t, `rm "$AIRLOCK_OUTPUT"; mkfifo "$AIRLOCK_OUTPUT"`)
	if res := Run(t.Context(), c); !errors.Is(res.Err, ErrOutput) || !strings.Contains(res.Err.Error(), "not a regular file") {
		t.Fatalf("fifo: got %v", res.Err)
	}
	assertEmptyDir(t, c.OutputDir)
}

func TestRunScript(t *testing.T) {
	t.Parallel()
	c, stdout, _ := inline(t, "")
	c.Inline, c.Script, c.Dir = "", "flaky.sh", "testdata"
	c.Env = append(c.Env, "COUNTER="+filepath.Join(t.TempDir(), "n"), "SUCCEED_ON=1")
	res := Run(t.Context(), c)
	if res.Err != nil || stdout.String() != "attempt 1\n" {
		t.Fatalf("got %+v, stdout %q", res, stdout)
	}
	c.Script = "missing.sh"
	if res := Run(t.Context(), c); res.Err == nil || res.Attempts != 0 || res.ExitCode != -1 {
		t.Fatalf("missing script: got %+v", res)
	}
}

type brokenWriter struct{}

func (brokenWriter) Write([]byte) (int, error) { return 0, errors.New("terminal gone") }

func TestRunOperatorWriters(t *testing.T) {
	t.Parallel()
	c, _, _ := inline(t, "echo out; echo err >&2; echo out2")
	c.Stdout, c.Stderr = brokenWriter{}, nil
	res := Run(t.Context(), c)
	if res.Err != nil || res.StdoutSHA256 != sha("out\nout2\n") || res.StderrSHA256 != sha("err\n") {
		t.Fatalf("broken or missing operator writer: %+v", res)
	}

	var both bytes.Buffer // one plain writer for both streams; -race checks Run serialises
	c.Stdout, c.Stderr = &both, &both
	c.Inline = "for i in 1 2 3 4 5 6 7 8; do echo out $i; echo err $i >&2; done"
	if res := Run(t.Context(), c); res.Err != nil || strings.Count(both.String(), "\n") != 16 {
		t.Fatalf("shared writer: %v %q", res.Err, both.String())
	}
}

func TestRunRelativeOutputDir(t *testing.T) {
	t.Parallel()
	c, stdout, _ := inline(t, `echo "$AIRLOCK_OUTPUT"; echo x=1 >> "$AIRLOCK_OUTPUT"`)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if c.OutputDir, err = filepath.Rel(wd, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	c.Dir = t.TempDir() // the step runs elsewhere
	res := Run(t.Context(), c)
	if res.Err != nil || res.Outputs["x"] != "1" || !filepath.IsAbs(strings.TrimSpace(stdout.String())) {
		t.Fatalf("got %+v, stdout %q", res, stdout)
	}
}

// TestStopSurvivors: the group OnStart reports identifies what a step leaves
// behind; StopSurvivors stops it (TERM, then KILL for a process that ignores
// TERM and INT), and leaves alone a group that is not the step's: another
// boot, or a marker its processes do not carry (a reused group id).
func TestStopSurvivors(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the marker check needs /proc")
	}
	t.Parallel()
	c, _, _ := inline(t, `(trap '' TERM INT; while :; do sleep 0.05; done) & echo $! > "$PIDFILE"`)
	pidFile := filepath.Join(t.TempDir(), "pid")
	c.Env = append(c.Env, "PIDFILE="+pidFile)
	var groups []Group
	c.OnStart = func(g Group) error { groups = append(groups, g); return nil }
	if res := Run(t.Context(), c); res.Err != nil {
		t.Fatal(res.Err)
	}
	pid := readPid(t, pidFile)
	defer syscall.Kill(pid, syscall.SIGKILL)
	// Called before the process starts (no ID yet) and after.
	if len(groups) != 2 || groups[0].ID != 0 || groups[1].ID <= 0 || groups[1].Boot == "" ||
		!strings.HasPrefix(groups[1].Marker, OutputEnv+"=") || groups[0].Marker != groups[1].Marker {
		t.Fatalf("OnStart got %+v", groups)
	}
	g := groups[1]
	for name, other := range map[string]Group{
		"another boot":   {ID: g.ID, Boot: "another", Marker: g.Marker},
		"another marker": {ID: g.ID, Boot: g.Boot, Marker: OutputEnv + "=/elsewhere"},
		"no boot":        {ID: g.ID, Marker: g.Marker},
	} {
		if n, err := StopSurvivors(other, 100*time.Millisecond); n != 0 || err != nil {
			t.Errorf("%s: stopped %d (%v)", name, n, err)
		}
		if syscall.Kill(pid, 0) != nil {
			t.Fatalf("%s: the survivor was stopped", name)
		}
	}
	// Found by the marker alone, as when the applier died before it could
	// record the group's ID.
	g.ID = 0
	n, err := StopSurvivors(g, 200*time.Millisecond)
	if err != nil || n < 1 { // the loop, and perhaps its sleep
		t.Fatalf("StopSurvivors = %d, %v; want the survivors", n, err)
	}
	waitGone(t, pid)
	if n, err := StopSurvivors(g, 100*time.Millisecond); n != 0 || err != nil {
		t.Fatalf("again: %d, %v", n, err)
	}
}

// TestOnStartError: a group the applier cannot record stops the attempt at
// once, without a retry: before the process starts, nothing starts; after,
// its processes are stopped.
func TestOnStartError(t *testing.T) {
	t.Parallel()
	c, _, _ := inline(t, `sleep 1000 & echo $! > "$PIDFILE"; sleep 1000`)
	pidFile := filepath.Join(t.TempDir(), "pid")
	c.Env = append(c.Env, "PIDFILE="+pidFile)
	c.Retries = 3
	c.OnStart = func(Group) error { return errors.New("journal: read-only file system") }
	if res := Run(t.Context(), c); res.Err == nil || !strings.Contains(res.Err.Error(), "read-only") || res.Attempts != 1 {
		t.Fatalf("failing before the start: %+v", res)
	}
	if _, err := os.Stat(pidFile); err == nil {
		t.Fatal("the step started although its group could not be recorded")
	}
	c.OnStart = func(g Group) error {
		if g.ID == 0 {
			return nil
		}
		for i := 0; i < 100; i++ { // the step's child is started
			if _, err := os.Stat(pidFile); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		return errors.New("journal: no space left on device")
	}
	res := Run(t.Context(), c)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "no space left") || res.Attempts != 1 {
		t.Fatalf("got %+v", res)
	}
	waitGone(t, readPid(t, pidFile))
}

// TestStopSurvivorsOwnSession: on Linux a survivor that left the step's
// process group for a session of its own, but kept its environment, is
// found by the marker and stopped too.
func TestStopSurvivorsOwnSession(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the marker check needs /proc")
	}
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid")
	}
	t.Parallel()
	c, _, _ := inline(t, `setsid sh -c 'echo $$ > "$PIDFILE"; while :; do sleep 0.05; done' & sleep 0.3`)
	pidFile := filepath.Join(t.TempDir(), "pid")
	c.Env = append(c.Env, "PIDFILE="+pidFile)
	var g Group
	c.OnStart = func(got Group) error { g = got; return nil }
	if res := Run(t.Context(), c); res.Err != nil {
		t.Fatal(res.Err)
	}
	pid := readPid(t, pidFile)
	defer syscall.Kill(pid, syscall.SIGKILL)
	if pgid, _ := syscall.Getpgid(pid); pgid == g.ID {
		t.Fatalf("setsid did not leave the group %d", g.ID)
	}
	if n, err := StopSurvivors(g, 200*time.Millisecond); err != nil || n < 1 {
		t.Fatalf("StopSurvivors = %d, %v", n, err)
	}
	waitGone(t, pid)
}
