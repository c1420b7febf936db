//go:build linux

// Command torture kills airlock from the outside at random moments of
// apply, apply --resume, build and sign, then checks what a power cut or a
// kill -9 may never break:
//
//   - the deploy target is on the old or the new release, whole, and the
//     newest receipt says which (and names the current release on disk);
//   - exactly one receipt per apply, in the state directory and on the
//     media, byte for byte; `airlock audit` of both passes;
//   - nothing left behind: no journal after recovery, no temporary file or
//     folder, no staged payload, no half-installed release, no process of
//     an interrupted step;
//   - no plaintext secret on disk, anywhere under the work folder;
//   - a bundle under its final name has its ledger entry, and a signed
//     bundle's SHA256SUMS matches its files.
//
// Then it runs the same apply against small and read-only file systems
// (tmpfs in a private mount namespace: as root, or through a user
// namespace): a nearly full state directory, one that fills up during the
// apply, a read-only state directory, full, read-only and pulled-out media
// (unmounted by a step while the apply runs), and a full
// deploy target.
//
//	go run ./scripts/torture -bin bin/airlock [-trials 100] [-seed N] [-keep]
//
// Every sixth trial signals an apply instead (SIGTERM, SIGINT or SIGHUP) at
// a step boundary, the moment the journal says a step starts or has ended:
// the apply must end with its own receipt, rolled back with the back-out
// step run and the when: always step not failed (signal.go).
//
// It prints the kills per phase and every failure, and exits 1 on any.
// Linux only (it reads /proc).
package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
)

func main() {
	bin := flag.String("bin", "bin/airlock", "the airlock program to torture")
	trials := flag.Int("trials", 100, "number of kill trials")
	seed := flag.Uint64("seed", 0, "random seed (0: pick one)")
	keep := flag.Bool("keep", false, "keep the work folder")
	fsCases := flag.Bool("fs", true, "also run the full and read-only file system cases")
	inner := flag.String("fs-inner", "", "(internal) run the file system cases in this work folder")
	flag.Parse()
	abs, err := filepath.Abs(*bin)
	if err != nil {
		log.Fatal(err)
	}
	if *inner != "" {
		os.Exit(runFSCases(abs, *inner))
	}
	if *seed == 0 {
		var b [8]byte
		rand.Read(b[:])
		*seed = uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24
	}
	work, err := os.MkdirTemp("", "airlock-torture-")
	if err != nil {
		log.Fatal(err)
	}
	w := newWorld(abs, work, *seed)
	fmt.Printf("torture: %s, work folder %s, seed %d\n", abs, work, *seed)
	start := time.Now()
	w.setup()
	w.calibrate()
	for i := 0; i < *trials; i++ {
		w.trial(i)
	}
	w.report(*trials, time.Since(start))
	failed := len(w.failures) > 0
	if *fsCases {
		if !w.fsCases() {
			failed = true
		}
	}
	if !*keep && !failed {
		os.RemoveAll(work)
	} else {
		fmt.Printf("torture: work folder kept: %s\n", work)
	}
	if failed {
		fmt.Println("torture: FAIL")
		os.Exit(1)
	}
	fmt.Printf("torture: PASS (%s)\n", time.Since(start).Round(time.Second))
}

// world is the torture's work folder: keys, a zone, a deploy target, the
// media, the builder's ledger, and the bundles built so far.
type world struct {
	bin, dir  string
	rng       *mrand.Rand
	secret    string
	env       []string
	trust     string
	state     string
	root      string
	media     string
	ledger    string
	receiptPK *keys.PublicKey
	recipient string
	blob      int    // bytes of random data in the release
	marker    string // the Marker variable: where steps write
	fill      bool   // the release's migrate step fills the marker's file system
	pull      string // the release's migrate step unmounts this (the media pulled out)
	next      int    // the next release version to build
	pending   string // a bundle built and not yet applied
	pendingV  int
	dur       map[string]time.Duration // calibrated run times
	kills     map[string]int           // kills per kind and phase
	runs      map[string]int           // trials per kind
	finished  map[string]int           // trials whose process ended before the kill
	failures  []string
	scanned   map[string]string // path → size and mtime of a file scanned for the secret
}

func newWorld(bin, dir string, seed uint64) *world {
	var b [12]byte
	rand.Read(b[:])
	w := &world{bin: bin, dir: dir, rng: mrand.New(mrand.NewPCG(seed, seed^0x5eed)), blob: 8 << 20,
		secret: "torture-canary-" + hex.EncodeToString(b[:]),
		kills:  map[string]int{}, runs: map[string]int{}, finished: map[string]int{}, dur: map[string]time.Duration{},
		scanned: map[string]string{}}
	w.env = append(os.Environ(), "AIRLOCK_PASSWORD=torture-pw", "TORTURE_SECRET="+w.secret, "AIRLOCK_LEDGER="+filepath.Join(dir, "ledger"))
	w.trust = filepath.Join(dir, "zone", "trust.yaml")
	w.state = filepath.Join(dir, "zone", "state")
	w.root = filepath.Join(dir, "srv")
	w.media = filepath.Join(dir, "media")
	w.ledger = filepath.Join(dir, "ledger")
	w.marker = filepath.Join(dir, "marker")
	return w
}

func (w *world) failf(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	w.failures = append(w.failures, msg)
	fmt.Println("FAIL  " + msg)
}

// run runs airlock to the end.
func (w *world) run(args ...string) (int, string) {
	cmd := exec.Command(w.bin, args...)
	cmd.Dir, cmd.Env = w.dir, w.env
	out, err := cmd.CombinedOutput()
	return exitCode(err), string(out)
}

// runKill starts airlock and kills it with SIGKILL after delay. killed is
// false if it ended first.
func (w *world) runKill(delay time.Duration, args ...string) (killed bool, code int, out string) {
	cmd, buf, done := w.start(args...)
	select {
	case err := <-done:
		return false, exitCode(err), buf.String()
	case <-time.After(delay):
		cmd.Process.Signal(syscall.SIGKILL)
		err := <-done
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
				return true, -1, buf.String()
			}
		}
		return false, exitCode(err), buf.String()
	}
}

// start starts airlock; done receives its end.
func (w *world) start(args ...string) (*exec.Cmd, *bytes.Buffer, <-chan error) {
	cmd := exec.Command(w.bin, args...)
	cmd.Dir, cmd.Env = w.dir, w.env
	buf := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return cmd, buf, done
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -2
	}
	return 0
}

func (w *world) must(args ...string) string {
	code, out := w.run(args...)
	if code != 0 {
		log.Fatalf("airlock %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// setup makes keys, a zone and the release source.
func (w *world) setup() {
	w.must("key", "generate", "--no-password", "release")
	w.must("key", "generate", "--no-password", "approver")
	w.must("key", "generate", "--no-password", "operator")
	w.must("zone", "init", "zone", "--zone", "torture", "--release-key", "release.pub")
	// The zone's operator co-signs every receipt, so the audit attributes
	// each apply to a person; the policy change is committed to the chain.
	op, err := os.ReadFile(filepath.Join(w.dir, "operator.pub"))
	if err != nil {
		log.Fatal(err)
	}
	writeFile(filepath.Join(w.dir, "zone", "keys", "operator.pub"), op)
	appendFile(w.trust, fmt.Sprintf("variables:\n  Root: %s\n  Marker: %s\noperators:\n  - { path: keys/operator.pub, name: Torture Operator }\n", w.root, w.marker))
	w.must("zone", "commit-policy", "--trust", w.trust, "--operator", "Torture Operator", "--operator-key", "operator.key", "--receipt-out", w.media)
	rcp, _ := os.ReadFile(filepath.Join(w.dir, "zone", "zone.recipient"))
	w.recipient = strings.TrimSpace(string(rcp))
	pk, err := keys.LoadPublic(filepath.Join(w.dir, "zone", "receipt.pub"))
	if err != nil {
		log.Fatal(err)
	}
	w.receiptPK = pk
	os.MkdirAll(filepath.Join(w.dir, "bundles"), 0o755)
	blob := make([]byte, w.blob)
	rand.Read(blob)
	writeFile(filepath.Join(w.dir, "src", "web", "blob.bin"), blob)
	for i := 0; i < 40; i++ {
		writeFile(filepath.Join(w.dir, "src", "web", "pages", fmt.Sprintf("p%02d.html", i)), []byte(strings.Repeat("<p>page</p>\n", 50)))
	}
}

// releaseYAML is the tortured release. Its steps leave a window at every
// phase: a sensitive output (the secret, in the step's output file), a step
// whose child must not survive an interruption, an optional failure, and
// back-out steps.
func releaseYAML(version int, fail, fill bool, pull string) string {
	failCmd := "true"
	switch {
	case pull != "":
		failCmd = fmt.Sprintf(`umount -l "%s"`, pull)
	case fill:
		failCmd = `head -c 200000000 /dev/zero > "#{Marker}.fill" || true`
	case fail:
		failCmd = "echo failing >&2; exit 3"
	}
	return fmt.Sprintf(`apiVersion: airlock/v1
name: torture
version: "%d"
channel: stable
targets: [zone:torture]
expires: 240h
packages:
  - name: web
    path: web
variables:
  Root: { value: /nonexistent }
  Marker: { value: /nonexistent }
  Secret: { sensitive: true, fromEnv: TORTURE_SECRET }
steps:
  - name: prepare
    run: 'echo "prepare with $Secret"'
  - name: install
    deploy: web
    to: "#{Root}"
    keep: 2
  - name: outputs
    run: 'printf "sensitive Token=%%s-token\n" "$Secret" >> "$AIRLOCK_OUTPUT"; sleep 0.02'
  - name: migrate
    run: '(sleep 0.25; echo child >> "#{Root}/current/child.log") & wait; %s'
    timeout: 60s
  - name: use
    run: 'test -n "#{Steps.outputs.Token}"'
  - name: undo
    when: failure
    run: 'sleep 0.05; echo undo >> "#{Marker}"'
  - name: always
    when: always
    run: 'echo always >> "#{Marker}"'
`, version, failCmd)
}

// build builds release version v (failing every third one) into out.
func (w *world) build(v int, out string, extra ...string) (int, string) {
	writeFile(filepath.Join(w.dir, "src", "airlock.yaml"), []byte(releaseYAML(v, v%3 == 0, w.fill, w.pull)))
	return w.run(append([]string{"build", "src", "--key", "release.key", "-r", w.recipient, "-o", out}, extra...)...)
}

// bundle returns a bundle to apply: the pending one, or a new version.
func (w *world) bundle() (string, int) {
	if w.pending == "" {
		w.next++
		out := filepath.Join(w.dir, "bundles", strconv.Itoa(w.next))
		var delta []string
		if w.next%2 == 0 {
			// Every other release is a delta on what the receipts carried
			// out say the zone holds: its applies are killed alike.
			delta = []string{"--since", w.media, "--receipt-key", filepath.Join(w.dir, "zone", "receipt.pub")}
		}
		if code, o := w.build(w.next, out, delta...); code != 0 {
			log.Fatalf("build: %s", o)
		}
		w.pending, w.pendingV = out, w.next
	}
	return w.pending, w.pendingV
}

func (w *world) applyArgs(b string) []string {
	return []string{"apply", b, "--trust", w.trust, "--operator-key", "operator.key", "--receipt-out", w.media}
}

// resumeArgs recover an interrupted apply. --wait: a process the killed
// applier was forking may hold the zone lock (inherited, closed at its
// exec) for an instant after the applier is gone.
func (w *world) resumeArgs() []string {
	return []string{"apply", "--resume", "--trust", w.trust, "--operator-key", "operator.key", "--wait", "5s"}
}

// calibrate times one whole apply, build and sign.
func (w *world) calibrate() {
	b, _ := w.bundle()
	t0 := time.Now()
	w.must(w.applyArgs(b)...)
	w.dur["apply"] = time.Since(t0)
	w.pending = ""
	t0 = time.Now()
	if code, out := w.build(1000, filepath.Join(w.dir, "calib")); code != 0 {
		log.Fatalf("build: %s", out)
	}
	w.dur["build"] = time.Since(t0)
	t0 = time.Now()
	w.must("sign", filepath.Join(w.dir, "calib"), "--role", "approve", "--key", "approver.key", "--verify-key", "release.pub")
	w.dur["sign"] = time.Since(t0)
	os.RemoveAll(filepath.Join(w.dir, "calib"))
	// How long a recovery takes: an apply killed halfway, then resumed.
	b, _ = w.bundle()
	w.runKill(w.dur["apply"]/2, w.applyArgs(b)...)
	t0 = time.Now()
	w.must(w.resumeArgs()...)
	w.dur["resume"] = max(time.Since(t0), 20*time.Millisecond)
	w.pending = ""
	fmt.Printf("torture: one apply takes %v, a recovery %v, build %v, sign %v\n", w.dur["apply"].Round(time.Millisecond),
		w.dur["resume"].Round(time.Millisecond), w.dur["build"].Round(time.Millisecond), w.dur["sign"].Round(time.Millisecond))
	w.checkAll("calibration")
}

// delay is a random moment within a run of kind.
func (w *world) delay(kind string) time.Duration {
	return time.Duration(w.rng.Int64N(int64(w.dur[kind]) * 11 / 10))
}

// trial runs one trial; kinds alternate apply, resume, build, sign (each
// killed), and an apply signaled at a step boundary.
func (w *world) trial(i int) {
	switch []string{"apply", "apply", "resume", "build", "sign", "signal"}[i%6] {
	case "apply":
		w.applyTrial(i)
	case "resume":
		w.resumeTrial(i)
	case "build":
		w.buildTrial(i)
	case "sign":
		w.signTrial(i)
	case "signal":
		w.signalTrial(i)
	}
}

// snapshot is what the zone looked like before a trial.
type snapshot struct {
	current  string
	receipts int
}

func (w *world) snap() snapshot {
	cur, _ := os.Readlink(filepath.Join(w.root, "current"))
	return snapshot{current: cur, receipts: len(w.receiptNames(filepath.Join(w.state, "receipts")))}
}

// journalState is the state an interrupted apply stopped at ("" if none).
func (w *world) journalState() string {
	b, err := os.ReadFile(filepath.Join(w.state, "journal.json"))
	if err != nil {
		return ""
	}
	var j struct {
		State string `json:"state"`
	}
	if json.Unmarshal(b, &j) != nil {
		return "(unreadable)"
	}
	return j.State
}

func (w *world) applyTrial(i int) {
	w.runs["apply"]++
	b, v := w.bundle()
	before := w.snap()
	killed, code, out := w.runKill(w.delay("apply"), w.applyArgs(b)...)
	phase := w.phaseOf(killed, "apply")
	if !killed && code != 0 && code != 4 {
		w.failf("trial %d: apply exited %d\n%s", i, code, out)
	}
	if c, o := w.run(w.resumeArgs()...); c != 0 {
		w.failf("trial %d (apply killed at %s): resume exited %d\n%s", i, phase, c, o)
	}
	w.afterApply(i, "apply killed at "+phase, before, v)
}

// phaseOf counts a kill in the journal state it left ("before-journal" if
// there is none: killed before the apply began, or after it ended).
func (w *world) phaseOf(killed bool, kind string) string {
	if !killed {
		w.finished[kind]++
		return "finished"
	}
	phase := w.journalState()
	if phase == "" {
		phase = "no-journal"
	}
	w.kills[kind+": "+phase]++
	return phase
}

func (w *world) resumeTrial(i int) {
	w.runs["resume"]++
	b, v := w.bundle()
	before := w.snap()
	// Killed in the middle part of the apply, so that there is something
	// to resume; then the resume is killed at a random moment.
	d := w.dur["apply"]
	killed, _, _ := w.runKill(d/5+time.Duration(w.rng.Int64N(int64(d)*7/10)), w.applyArgs(b)...)
	first := w.journalState()
	if !killed || first == "" {
		w.finished["resume"]++ // nothing to resume: an apply trial after all
	} else {
		killed2, code, out := w.runKill(w.delay("resume"), w.resumeArgs()...)
		phase := w.phaseOf(killed2, "resume")
		if !killed2 && code != 0 {
			w.failf("trial %d: resume exited %d\n%s", i, code, out)
		}
		first += ", resume killed at " + phase
	}
	if c, o := w.run(w.resumeArgs()...); c != 0 {
		w.failf("trial %d (%s): final resume exited %d\n%s", i, first, c, o)
	}
	w.afterApply(i, "apply killed at "+first, before, v)
}

// afterApply checks the zone after an apply trial and its recovery.
func (w *world) afterApply(i int, what string, before snapshot, v int) {
	where := fmt.Sprintf("trial %d (%s)", i, what)
	w.checkSurvivors(where) // at once: the interrupted step's child would soon end on its own
	if _, err := os.Stat(filepath.Join(w.state, "journal.json")); err == nil {
		w.failf("%s: journal left after recovery", where)
	}
	now := w.snap()
	cur := now.current
	newRel := "releases/" + strconv.Itoa(v)
	if cur != before.current && cur != newRel {
		w.failf("%s: current is %q: neither the old %q nor the new %q", where, cur, before.current, newRel)
	}
	switch now.receipts - before.receipts {
	case 0:
		if cur != before.current {
			w.failf("%s: the release changed without a receipt", where)
		}
	case 1:
		p := w.lastReceipt(where)
		if p != nil {
			applied := p.Outcome.Result == receipt.Applied
			if applied != (cur == newRel) && !(applied && cur == before.current && before.current == newRel) {
				w.failf("%s: receipt says %s, current is %s", where, p.Outcome.Result, cur)
			}
			if p.Release != nil && p.Release.Current != "" && p.Release.Current != cur {
				w.failf("%s: receipt says current is %s, disk says %s", where, p.Release.Current, cur)
			}
			if applied || p.Outcome.Reason == receipt.ReasonStepFailed {
				w.pending = "" // done with this bundle: the next trial takes the next
			}
		}
	default:
		w.failf("%s: %d receipts for one apply", where, now.receipts-before.receipts)
	}
	w.checkAll(where)
}

// lastReceipt verifies the newest receipt in the state directory.
func (w *world) lastReceipt(where string) *receipt.Predicate {
	names := w.receiptNames(filepath.Join(w.state, "receipts"))
	if len(names) == 0 {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(w.state, "receipts", names[len(names)-1]))
	if err != nil {
		w.failf("%s: %v", where, err)
		return nil
	}
	r, err := receipt.Verify(data, []*keys.PublicKey{w.receiptPK})
	if err != nil {
		w.failf("%s: newest receipt: %v", where, err)
		return nil
	}
	return r.Predicate()
}

func (w *world) receiptNames(dir string) []string {
	var out []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if _, _, ok := receipt.ParseFileName("torture", e.Name()); ok {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// checkAll checks what holds after every trial: receipts in both places
// and audited, no leftovers, no secret on disk, no survivors.
func (w *world) checkAll(where string) {
	state, media := w.receiptNames(filepath.Join(w.state, "receipts")), w.receiptNames(w.media)
	if !slices.Equal(state, media) {
		w.failf("%s: the state directory holds receipts %v, the media %v", where, state, media)
	}
	for _, n := range media {
		a, _ := os.ReadFile(filepath.Join(w.state, "receipts", n))
		b, _ := os.ReadFile(filepath.Join(w.media, n))
		if !bytes.Equal(a, b) {
			w.failf("%s: media copy of %s differs", where, n)
		}
	}
	for _, dir := range []string{filepath.Join(w.state, "receipts"), w.media} {
		if code, out := w.run("audit", dir, "--key", filepath.Join("zone", "receipt.pub"), "--ledger", w.ledger); code != 0 {
			w.failf("%s: audit of %s exited %d\n%s", where, dir, code, out)
		}
	}
	for _, l := range w.leftovers() {
		w.failf("%s: left behind: %s", where, l)
	}
	for _, p := range w.secretFiles() {
		w.failf("%s: plaintext secret on disk: %s", where, p)
	}
	w.checkSurvivors(where)
}

// checkSurvivors fails for every process of a step still running.
func (w *world) checkSurvivors(where string) {
	for _, pid := range survivors() {
		w.failf("%s: process %d of an airlock step still runs", where, pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// leftovers lists files that no finished (or recovered) run may leave.
func (w *world) leftovers() []string {
	var out []string
	filepath.WalkDir(w.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(w.dir, p)
		rel = filepath.ToSlash(rel)
		name := d.Name()
		switch {
		case strings.HasPrefix(p, w.marker):
			// the steps' own files
		case strings.HasPrefix(name, ".") && rel != ".":
			out = append(out, rel) // temporary files and folders are hidden
		case strings.HasPrefix(rel, "zone/state/") && !stateFileOK(strings.TrimPrefix(rel, "zone/state/"), d.IsDir()):
			out = append(out, rel)
		case strings.HasPrefix(rel, "srv/") && !strings.HasPrefix(rel, "srv/releases") && rel != "srv/current":
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func stateFileOK(rel string, dir bool) bool {
	top, rest, _ := strings.Cut(rel, "/")
	switch {
	case top == "steps" && (dir || rest != ""):
		return true // step folders, kept with their releases
	case rest == "":
		return top == "lock" || top == "file-digest.key" || (dir && (top == "channels" || top == "receipts" || top == "staging" || top == "targets" || top == "store"))
	case top == "channels", top == "targets":
		return true
	case top == "receipts":
		return strings.HasPrefix(rest, "receipt-") && !strings.Contains(rest, "/")
	case top == "store":
		return !strings.HasPrefix(rest, "tmp/") // the content store; nothing left in its tmp/
	}
	return false // staging must be empty
}

// secretFiles lists files under the work folder that hold the secret. A
// file scanned before, unchanged since (size and modification time), is
// not read again.
func (w *world) secretFiles() []string {
	var out []string
	needle := []byte(w.secret)
	filepath.WalkDir(w.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		stamp := fmt.Sprint(info.Size(), info.ModTime().UnixNano())
		if w.scanned[p] == stamp {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil {
			if bytes.Contains(b, needle) {
				out = append(out, p)
			} else {
				w.scanned[p] = stamp
			}
		}
		return nil
	})
	return out
}

// survivors lists live processes that carry a torture bundle's id in their
// environment: what is left of a step.
func survivors() []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(env, []byte("AIRLOCK_RELEASE_NAME=torture\x00")) {
			continue
		}
		if stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat"); bytes.Contains(stat, []byte(") Z ")) {
			continue
		}
		out = append(out, pid)
	}
	return out
}

func (w *world) buildTrial(i int) {
	w.runs["build"]++
	form := fmt.Sprintf("builds/b%d", i)
	if i%2 == 1 {
		form += ".airlock"
	}
	out := filepath.Join(w.dir, form)
	os.MkdirAll(filepath.Dir(out), 0o755)
	entries := ledgerEntries(w.ledger)
	w.next++
	v := w.next
	writeFile(filepath.Join(w.dir, "src", "airlock.yaml"), []byte(releaseYAML(v, false, false, "")))
	killed, code, o := w.runKill(w.delay("build"), "build", "src", "--key", "release.key", "-r", w.recipient, "-o", out)
	after := ledgerEntries(w.ledger)
	_, statErr := os.Lstat(out)
	phase := "nothing"
	switch {
	case statErr == nil:
		phase = "committed"
	case len(after) > len(entries):
		phase = "ledger"
	case hasHidden(filepath.Dir(out)):
		phase = "writing"
	}
	where := w.count(i, "build", phase, killed, code, o)
	if statErr == nil {
		if c, o := w.run("verify", out, "--key", "release.pub"); c != 0 {
			w.failf("%s: the bundle at the output does not verify:\n%s", where, o)
		}
		if len(after) != len(entries)+1 {
			w.failf("%s: a bundle under its final name without its ledger entry", where)
		}
	}
	// The builder runs it again: it completes, and removes what was left.
	if c, o := w.build(v, out, "--force"); c != 0 {
		w.failf("%s: build again exited %d\n%s", where, c, o)
	}
	seqs := map[string]bool{}
	for _, e := range ledgerEntries(w.ledger) {
		if seqs[e[:10]] {
			w.failf("%s: sequence %s used twice in the ledger", where, e[:10])
		}
		seqs[e[:10]] = true
	}
	os.RemoveAll(out)
	w.checkAll(where)
}

// count counts a build or sign trial: a kill in its phase, or a run that
// ended first (and must have succeeded). It returns the trial's name.
func (w *world) count(i int, kind, phase string, killed bool, code int, out string) string {
	if killed {
		w.kills[kind+": "+phase]++
	} else {
		w.finished[kind]++
		if code != 0 {
			w.failf("trial %d: %s exited %d\n%s", i, kind, code, out)
		}
	}
	return fmt.Sprintf("trial %d (%s killed: %s)", i, kind, phase)
}

func ledgerEntries(ledger string) []string {
	var out []string
	ents, _ := os.ReadDir(filepath.Join(ledger, "torture", "stable"))
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".dsse.json") && len(e.Name()) > 11 {
			out = append(out, e.Name())
		}
	}
	return out
}

func hasHidden(dir string) bool {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			return true
		}
	}
	return false
}

func (w *world) signTrial(i int) {
	w.runs["sign"]++
	src, _ := w.bundle()
	form := fmt.Sprintf("signs/s%d", i)
	out := filepath.Join(w.dir, form)
	if i%2 == 1 {
		out += ".airlock"
		// The single-file form of the same bundle.
		if c, o := w.build(w.pendingV, out); c != 0 {
			log.Fatalf("build: %s", o)
		}
	} else if err := os.CopyFS(out, os.DirFS(src)); err != nil {
		log.Fatal(err)
	}
	before, _ := statementOf(out)
	killed, code, o := w.runKill(w.delay("sign"), "sign", out, "--role", "approve", "--key", "approver.key", "--verify-key", "release.pub")
	after, _ := statementOf(out)
	phase := "before"
	switch {
	case !bytes.Equal(before, after):
		phase = "statement-replaced"
	case hasHidden(filepath.Dir(out)) || hasHidden(out):
		phase = "writing"
	}
	where := w.count(i, "sign", phase, killed, code, o)
	w.checkSigned(where, out)
	// The approver signs again: it completes (or says it is signed already).
	if c, o := w.run("sign", out, "--role", "approve", "--key", "approver.key", "--verify-key", "release.pub"); c != 0 && !strings.Contains(o, "already signed") {
		w.failf("%s: sign again exited %d\n%s", where, c, o)
	}
	w.checkSigned(where+", signed again", out)
	if hasHidden(filepath.Dir(out)) || hasHidden(out) {
		w.failf("%s: temporary files left after signing again", where)
	}
	os.RemoveAll(out)
	w.checkAll(where)
}

// checkSigned checks that a bundle verifies and that its SHA256SUMS, if it
// is a folder, matches its files.
func (w *world) checkSigned(where, b string) {
	if c, o := w.run("verify", b, "--key", "release.pub"); c != 0 {
		w.failf("%s: the bundle does not verify:\n%s", where, o)
	}
	sums, err := os.ReadFile(filepath.Join(b, "SHA256SUMS"))
	if err != nil {
		return // the single-file form, rewritten atomically
	}
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		sum, name, _ := strings.Cut(line, "  ")
		data, err := os.ReadFile(filepath.Join(b, name))
		got := sha256.Sum256(data)
		if err != nil || hex.EncodeToString(got[:]) != sum {
			w.failf("%s: SHA256SUMS: %s: FAILED", where, name)
		}
	}
}

// statementOf returns a bundle's statement bytes (folder or single file).
func statementOf(b string) ([]byte, error) {
	if data, err := os.ReadFile(filepath.Join(b, "statement.dsse.json")); err == nil {
		return data, nil
	}
	data, err := os.ReadFile(b)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data) // the whole file: it changes with the statement
	return sum[:], nil
}

func (w *world) report(trials int, took time.Duration) {
	fmt.Printf("\ntorture: %d trials in %s (seed reproduces them)\n", trials, took.Round(time.Second))
	for _, k := range []string{"apply", "resume", "build", "sign", "signal"} {
		fmt.Printf("  %-7s %3d trials, %3d ended before the kill or signal\n", k, w.runs[k], w.finished[k])
	}
	var phases []string
	for p := range w.kills {
		phases = append(phases, p)
	}
	sort.Strings(phases)
	total := 0
	for _, p := range phases {
		total += w.kills[p]
	}
	fmt.Printf("  kills: %d, per phase:\n", total)
	for _, p := range phases {
		fmt.Printf("    %-36s %3d\n", p, w.kills[p])
	}
	fmt.Printf("  failures: %d\n", len(w.failures))
}

func writeFile(p string, data []byte) {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		log.Fatal(err)
	}
}

func appendFile(p, s string) {
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	f.WriteString(s)
}

// fsCases runs the file system cases in a private mount namespace: the
// program runs itself again under unshare(1) (with a user namespace when
// not root). Without unshare or the right to mount they are skipped, and
// reported so; TORTURE_REQUIRE_FS=1 (CI) makes that a failure.
func (w *world) fsCases() bool {
	ns := []string{"-m", "--propagation", "private"}
	if os.Geteuid() != 0 {
		ns = append([]string{"-r"}, ns...)
	}
	probe := exec.Command("unshare", append(ns, "sh", "-c", `mount -t tmpfs -o size=1m tmpfs "$0"`, w.dir)...)
	if out, err := probe.CombinedOutput(); err != nil {
		msg := fmt.Sprintf("file system cases: cannot mount a tmpfs in a private namespace (unshare %s): %v %s", strings.Join(ns, " "), err, out)
		if os.Getenv("TORTURE_REQUIRE_FS") == "1" {
			w.failf("%s", msg)
			return false
		}
		fmt.Println("torture: SKIPPED " + msg)
		return true
	}
	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	dir := filepath.Join(w.dir, "fs")
	os.MkdirAll(dir, 0o755)
	cmd := exec.Command("unshare", append(ns, self, "-bin", w.bin, "-fs-inner", dir)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	err = cmd.Run()
	if err != nil {
		w.failures = append(w.failures, "file system cases")
	}
	return err == nil
}

// fsCase is one file system case: a world whose folder at mount (relative)
// is a tmpfs of size bytes with free bytes left (all of it if free < 0),
// read-only if ro; run does the case and checks its outcome.
type fsCase struct {
	name   string
	mount  string
	size   int64
	free   int64
	ro     bool
	config func(w *world) // before the world is set up
	before func(w *world) // after, before the mount (or the filling)
	run    func(w *world, where string)
}

// runFSCases runs inside the namespace made by fsCases.
func runFSCases(bin, dir string) int {
	var seed [8]byte
	rand.Read(seed[:])
	cases := []fsCase{
		{name: "state directory nearly full: refuses to start, nothing changed", mount: "zone/state", size: 4 << 20, free: 512 << 10,
			run: func(w *world, where string) {
				b, _ := w.bundle()
				code, out := w.run(w.applyArgs(b)...)
				w.expect(where, code == 1 && strings.Contains(out, "not usable"), "exit %d:\n%s", code, out)
				w.expectReceipts(where, 0)
			}},
		{name: "state directory fills up while staging: nothing changed, exit 4 state-unwritable, with its receipt", mount: "zone/state", size: 32 << 20, free: 3 << 20,
			config: func(w *world) { w.blob = 8 << 20 },
			run: func(w *world, where string) {
				b, _ := w.bundle()
				code, out := w.run(w.applyArgs(b)...)
				w.expect(where, code == 4, "exit %d, want 4 (the state directory could not be written):\n%s", code, out)
				w.expectOutcome(where, 1, receipt.Refused, receipt.ReasonStateUnwritable)
			}},
		{name: "state directory fills up during a step: rolled back, with its receipt", mount: "zone/state", size: 16 << 20, free: 6 << 20,
			before: func(w *world) {
				w.mustApplyFirst()
				w.fill = true
			},
			run: func(w *world, where string) {
				b, _ := w.bundle()
				code, out := w.run(w.applyArgs(b)...)
				w.expect(where, code == 4, "exit %d, want 4 (rolled back):\n%s", code, out)
				w.expectOutcome(where, 2, receipt.RolledBack, receipt.ReasonStateUnwritable)
				w.expectCurrent(where, "releases/1")
			}},
		{name: "state directory read-only: refuses to start, nothing changed", mount: "zone/state", size: 8 << 20, free: -1, ro: true,
			before: func(w *world) { w.mustApplyFirst() },
			run: func(w *world, where string) {
				b, _ := w.bundle()
				code, out := w.run(w.applyArgs(b)...)
				w.expect(where, code == 1 && strings.Contains(out, "not usable"), "exit %d:\n%s", code, out)
				w.expectReceipts(where, 1)
				w.expectCurrent(where, "releases/1")
			}},
		{name: "media full: applied, receipt copied by resume once there is room", mount: "media", size: 64 << 10, free: 0,
			run: func(w *world, where string) { w.mediaCase(where) }},
		{name: "media read-only: applied, receipt copied by resume once writable", mount: "media", size: 1 << 20, free: -1, ro: true,
			run: func(w *world, where string) { w.mediaCase(where) }},
		{name: "media pulled out mid-apply: applied, nothing written where it was, receipt copied by resume once it is back", mount: "media", size: 1 << 20, free: -1,
			config: func(w *world) { w.pull = w.media },
			run: func(w *world, where string) {
				b, _ := w.bundle()
				code, out := w.run(w.applyArgs(b)...)
				w.expect(where, code == 0 && strings.Contains(out, "receipt NOT copied") && strings.Contains(out, "nothing was written there"), "exit %d:\n%s", code, out)
				w.expectOutcome(where, 1, receipt.Applied, receipt.ReasonOK)
				// Beneath the mount point (which held the zone's first entries
				// before the media was mounted): not the apply's receipt.
				chain := w.receiptNames(filepath.Join(w.state, "receipts"))
				w.expect(where, !slices.Contains(w.receiptNames(w.media), chain[len(chain)-1]), "the receipt was written beneath the mount point: %v", w.receiptNames(w.media))
				// The operator brings the media back (a fresh one here: a
				// tmpfs does not keep what it held).
				if err := mountSmall(w.media, 1<<20, -1, false); err != nil {
					w.failf("%s: %v", where, err)
					return
				}
				if c, o := w.run(w.resumeArgs()...); c != 0 {
					w.failf("%s: resume exited %d\n%s", where, c, o)
				}
				w.checkAll(where)
			}},
		{name: "deploy target full: the deploy step fails and rolls back", mount: "srv", size: 1 << 20, free: -1,
			config: func(w *world) { w.blob = 4 << 20 },
			run: func(w *world, where string) {
				b, _ := w.bundle()
				code, out := w.run(w.applyArgs(b)...)
				w.expect(where, code == 4, "exit %d, want 4:\n%s", code, out)
				w.expectOutcome(where, 1, receipt.RolledBack, receipt.ReasonStepFailed)
				w.expectCurrent(where, "")
			}},
	}
	failures := 0
	for i, c := range cases {
		w := newWorld(bin, filepath.Join(dir, strconv.Itoa(i)), uint64(seed[0])+uint64(i))
		os.MkdirAll(w.dir, 0o755)
		w.blob = 64 << 10
		if c.name[:5] == "state" {
			// The steps write where the state directory is, so that one
			// of them can fill it.
			w.marker = filepath.Join(w.state, "marker")
		}
		if c.config != nil {
			c.config(w)
		}
		w.setup()
		os.MkdirAll(w.media, 0o755)
		if c.before != nil {
			c.before(w)
		}
		mnt := filepath.Join(w.dir, c.mount)
		if err := mountSmall(mnt, c.size, c.free, c.ro); err != nil {
			log.Fatalf("%s: %v", c.name, err)
		}
		where := "file system case: " + c.name
		c.run(w, where)
		exec.Command("mount", "-o", "remount,rw", mnt).Run()
		os.Remove(filepath.Join(mnt, ".fill"))
		os.Remove(w.marker + ".fill")
		if c.mount != "media" {
			w.checkAll(where)
		}
		exec.Command("umount", mnt).Run()
		status := "ok  "
		if len(w.failures) > 0 {
			status = "FAIL"
			failures++
		}
		fmt.Printf("  %s %s\n", status, c.name)
	}
	fmt.Printf("torture: file system cases: %d of %d failed\n", failures, len(cases))
	if failures > 0 {
		return 1
	}
	return 0
}

// mountSmall mounts a tmpfs of size bytes at dir holding a copy of what
// dir held, fills it to leave free bytes (free < 0: no filling), and
// remounts it read-only if ro.
func mountSmall(dir string, size, free int64, ro bool) error {
	keep, err := os.MkdirTemp("", "torture-keep-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(keep)
	os.MkdirAll(dir, 0o755)
	script := fmt.Sprintf(`set -e
cp -a "$0/." %[1]q/
mount -t tmpfs -o size=%[2]d tmpfs "$0"
cp -a %[1]q/. "$0/"
if [ %[3]d -ge 0 ]; then
  dd if=/dev/zero of="$0/.fill" bs=4096 2>/dev/null || true
  truncate -s -%[3]d "$0/.fill"
fi
if [ %[4]q = true ]; then mount -o remount,ro "$0"; fi`, keep, size, free, strconv.FormatBool(ro))
	if out, err := exec.Command("sh", "-c", script, dir).CombinedOutput(); err != nil {
		return fmt.Errorf("mount a tmpfs at %s: %v\n%s", dir, err, out)
	}
	return nil
}

// mustApplyFirst applies release 1 before a case.
func (w *world) mustApplyFirst() {
	b, _ := w.bundle()
	w.must(w.applyArgs(b)...)
	w.pending = ""
}

// mediaCase: the receipt cannot be copied to the media; the apply ends
// (exit 0) with its receipt in the state directory and says so; once the
// media can be written, resume copies it.
func (w *world) mediaCase(where string) {
	b, _ := w.bundle()
	code, out := w.run(w.applyArgs(b)...)
	w.expect(where, code == 0 && strings.Contains(out, "receipt NOT copied"), "exit %d:\n%s", code, out)
	w.expectOutcome(where, 1, receipt.Applied, receipt.ReasonOK)
	exec.Command("umount", w.media).Run() // the operator brings media with room
	if c, o := w.run(w.resumeArgs()...); c != 0 {
		w.failf("%s: resume exited %d\n%s", where, c, o)
	}
	w.checkAll(where)
}

func (w *world) expect(where string, ok bool, format string, a ...any) {
	if !ok {
		w.failf("%s: "+format, append([]any{where}, a...)...)
	}
}

// expectReceipts checks that the zone's chain holds n receipts of applies
// after the two entries setup makes (the genesis record, the policy commit).
func (w *world) expectReceipts(where string, n int) {
	const control = 2
	if got := len(w.receiptNames(filepath.Join(w.state, "receipts"))) - control; got != n {
		w.failf("%s: %d receipts of applies, want %d", where, got, n)
	}
}

func (w *world) expectOutcome(where string, n int, result receipt.OutcomeResult, reason receipt.Reason) {
	w.expectReceipts(where, n)
	if p := w.lastReceipt(where); p == nil || p.Outcome.Result != result || p.Outcome.Reason != reason {
		got := "none"
		if p != nil {
			got = fmt.Sprintf("%s (%s): %s", p.Outcome.Result, p.Outcome.Reason, p.Outcome.Message)
		}
		w.failf("%s: newest receipt %s, want %s (%s)", where, got, result, reason)
	}
}

func (w *world) expectCurrent(where, want string) {
	if cur, _ := os.Readlink(filepath.Join(w.root, "current")); cur != want {
		w.failf("%s: current %q, want %q", where, cur, want)
	}
}
