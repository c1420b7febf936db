//go:build unix

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// shBlocks returns the ```sh blocks of the section of doc that starts
// with heading (up to the next heading of the same level).
func shBlocks(t *testing.T, doc, heading string) []string {
	t.Helper()
	i := strings.Index(doc, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("no section %q", heading)
	}
	section := doc[i+1+len(heading):]
	level := heading[:strings.Index(heading, " ")+1]
	if j := strings.Index(section, "\n"+level); j >= 0 {
		section = section[:j]
	}
	var blocks []string
	for {
		a := strings.Index(section, "```sh\n")
		if a < 0 {
			return blocks
		}
		section = section[a+len("```sh\n"):]
		b := strings.Index(section, "```")
		blocks = append(blocks, section[:b])
		section = section[b+3:]
	}
}

// readmeShell returns bash and the README, or skips the test (-short, or
// no bash).
func readmeShell(t *testing.T, what string) (bash, readme string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs " + what)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return bash, string(data)
}

// userEnv is this process's environment as a user's shell would have it,
// in a new home: no ledger, state folder or password set, and PATH
// (holding airlock, as testscript.Main set it up) with pathFirst first.
func userEnv(home, pathFirst string) []string {
	var env []string
	for _, e := range os.Environ() {
		switch strings.SplitN(e, "=", 2)[0] {
		case "AIRLOCK_LEDGER", "XDG_STATE_HOME", "AIRLOCK_PASSWORD", "HOME", "PATH":
			continue
		}
		env = append(env, e)
	}
	path := os.Getenv("PATH")
	if pathFirst != "" {
		path = pathFirst + ":" + path
	}
	return append(env, "HOME="+home, "PATH="+path)
}

// TestREADMEQuickstart runs the README's Quickstart as it is written, in
// bash, with nothing added but a checkout to run it in (make already
// done): it must end in a passing audit. Then an apply is killed (kill -9,
// from its step), finished with the command the README's Faults section
// gives, and the same audit passes again: what the README tells users to
// type gives evidence the audit accepts. (As root, a resume without the
// operator's key gives an unattributed change, which fails the audit.)
func TestREADMEQuickstart(t *testing.T) {
	bash, readme := readmeShell(t, "the whole Quickstart")
	self, err := exec.LookPath("airlock") // this test binary, as testscript.Main set it up
	if err != nil {
		t.Fatal(err)
	}
	quick := shBlocks(t, readme, "## Quickstart")
	faults := shBlocks(t, readme, "## Faults")
	if len(quick) != 1 || len(faults) == 0 || !strings.Contains(faults[0], "apply --resume") {
		t.Fatalf("the Quickstart has %d sh blocks, want 1; the Faults section's first block must be the resume:\n%q", len(quick), faults)
	}
	// The audit again, on the state the first one kept.
	var audit string
	for _, l := range strings.SplitAfter(quick[0], "\n") {
		if strings.HasPrefix(audit, "./airlock audit ") || strings.HasPrefix(l, "./airlock audit ") {
			audit += l
		}
	}
	audit = strings.NewReplacer(" --first-audit", "", " --html report.html", "").Replace(audit)
	if !strings.Contains(audit, "--state audit.state") {
		t.Fatalf("the Quickstart's audit keeps no state:\n%s", audit)
	}

	dir := t.TempDir()
	repo := filepath.Join(dir, "airlock")
	for _, d := range []string{"bin", "fakebin", "home"} {
		if err := os.MkdirAll(filepath.Join(repo, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.CopyFS(filepath.Join(repo, "examples"), os.DirFS("../../examples")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(repo, "bin", "airlock")); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("go", "build", "-o", filepath.Join(repo, "bin", "demoservice"), "../../scripts/demoservice").CombinedOutput(); err != nil {
		t.Fatalf("build the demo service: %v\n%s", err, out)
	}
	// make build demoservice: done above.
	if err := os.WriteFile(filepath.Join(repo, "fakebin", "make"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(repo, "bin", "zone", "state", "lock")
	crash := fmt.Sprintf(`
# --- not in the README: an apply killed in its step, as by a power cut
mkdir -p crash
cat > crash/airlock.yaml <<'YAML'
apiVersion: airlock/v1
name: power-cut
version: "1"
targets: [zone:pci-east]
variables: { InstallRoot: /nonexistent, Port: "0" }   # the zone gives values to these
steps:
  - name: power cut
    run: kill -9 "$(sed 's/.*"pid":\([0-9]*\).*/\1/' %s)"
YAML
./airlock build crash --key release.key --recipients-file zone/zone.recipient -o crash.airlock
./airlock sign crash.airlock --role approve --key approver.key --verify-key release.pub
if ./airlock apply crash.airlock --trust zone/trust.yaml --operator-key jane.key --receipt-out media/receipts; then
  echo "the apply was not killed" >&2; exit 1
fi
test -f zone/state/journal.json
# --- the README's Faults section
`, lock)
	script := "set -euo pipefail\ncd " + repo + "\n" + quick[0] + crash + faults[0] + "\n# --- the audit again\n" + audit
	cmd := exec.Command(bash, "-c", script)
	cmd.Dir = repo
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = userEnv(filepath.Join(repo, "home"), filepath.Join(repo, "fakebin"))
	// A file, not a pipe: the stand-in service, started in the
	// background, holds it open until it is killed below.
	out, err := os.Create(filepath.Join(dir, "output"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the stand-in service
	data, _ := os.ReadFile(out.Name())
	text := string(data)
	if err != nil {
		t.Fatalf("the Quickstart, then a resume, as the README has them: %v\n%s", err, text)
	}
	for _, want := range []string{"outcome  applied", "finishing an interrupted apply", "PASS"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

// TestREADMEFleet runs the README's Fleets block as it is written, in
// bash, given what it starts from: a release key and the release
// (examples/fleet/shop-1.0, as shop). Every host applies or refuses the
// bundle, co-signed by the zone's operator, and the audit with the zone
// register passes.
func TestREADMEFleet(t *testing.T) {
	bash, readme := readmeShell(t, "the whole Fleets example")
	blocks := shBlocks(t, readme, "## Fleets")
	if len(blocks) != 1 || !strings.Contains(blocks[0], "airlock audit") {
		t.Fatalf("the Fleets section has %d sh blocks, want 1 that ends in an audit", len(blocks))
	}
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "shop"), os.DirFS("../../examples/fleet/shop-1.0")); err != nil {
		t.Fatal(err)
	}
	script := "set -euo pipefail\nairlock key generate --no-password release\n" + blocks[0]
	cmd := exec.Command(bash, "-c", script)
	cmd.Dir = dir
	cmd.Env = userEnv(filepath.Join(dir, "home"), "")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the Fleets block as the README has it: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"db-01: exit 3", "\nPASS "} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	for _, h := range []string{"app-01", "app-02"} {
		if cur, err := os.Readlink(filepath.Join(dir, "srv", h, "current")); err != nil || cur != "releases/1.0" {
			t.Errorf("%s: current %q %v", h, cur, err)
		}
	}
}

// readmeBlocks says, for every sh block of the README and the examples'
// READMEs (by file and section, in order), what runs it: a command
// sequence a user follows must be run by a test and end in a passing
// audit. A block added without a line here fails TestREADMEBlocksRun.
var readmeBlocks = []struct{ file, section, runBy string }{
	{"README.md", "# airlock", "make targets (demo: scripts/demo.sh, which ends in an audit; test)"},
	{"README.md", "## Install", "scripts/dist-check.sh, on a release that make dist writes (no zone, no receipts)"},
	{"README.md", "## Quickstart", "TestREADMEQuickstart, as written, ending in a passing audit"},
	{"README.md", "## Fleets", "TestREADMEFleet, as written, ending in a passing audit"},
	{"README.md", "## Delta bundles", "make delta-demo (in .ci/run): scripts/delta-demo.sh, the same sequence on the example, ending in a passing audit"},
	{"README.md", "## Keys and secrets", "pkcs11.txtar: keys in a SoftHSM2 token (no zone sequence)"},
	{"README.md", "### JSON", "an output example (verify --json), not a sequence"},
	{"README.md", "## Faults", "TestREADMEQuickstart: the resume after an apply killed, then the audit again"},
	{"README.md", "## Faults", "make torture"},
	{"examples/fleet/README.md", "# A fleet rolled out with Ansible", "TestFleetAnsible: scripts/fleet-demo.sh, ending in an audit with the register"},
	{"examples/fleet/README.md", "## Setting up the zone", "the start of the README's Fleets sequence, which TestREADMEFleet runs"},
}

// TestREADMEBlocksRun: every sh block of README.md and
// examples/*/README.md is in readmeBlocks.
func TestREADMEBlocksRun(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*/README.md")
	files = append([]string{"../../README.md"}, files...)
	var got []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		section, fenced := "", false
		for _, line := range strings.Split(string(data), "\n") {
			switch {
			case strings.HasPrefix(line, "```"):
				if !fenced && strings.HasPrefix(line, "```sh") {
					got = append(got, strings.TrimPrefix(f, "../../")+" "+section)
				}
				fenced = !fenced
			case !fenced && strings.HasPrefix(line, "#"):
				section = line
			}
		}
	}
	var want []string
	for _, b := range readmeBlocks {
		want = append(want, b.file+" "+b.section)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the sh blocks are\n%s\nreadmeBlocks lists\n%s\n(say what runs each block)", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
