package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestExamples: every command's help has examples, and each example line
// is a command line that airlock would run as written: it names this
// command (or, for a command that groups others, one under it), its
// flags exist and parse, its arguments are as many as the command takes,
// its required flags are given and its exclusive ones are not combined.
func TestExamples(t *testing.T) {
	root := newRootCommand()
	visitCommands(root, func(c *cobra.Command) {
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s: no Example", c.CommandPath())
			return
		}
		lines := 0
		for _, line := range strings.Split(c.Example, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			lines++
			if err := checkExample(root, c, line); err != nil {
				t.Errorf("%s: example %q: %v", c.CommandPath(), line, err)
			}
		}
		if lines == 0 {
			t.Errorf("%s: Example has comments only", c.CommandPath())
		}
	})
}

// checkExample parses one example line against a fresh command tree.
func checkExample(root, of *cobra.Command, line string) error {
	words, err := shellWords(line)
	if err != nil {
		return err
	}
	if len(words) == 0 || words[0] != "airlock" {
		return errorf("does not start with airlock")
	}
	fresh := newRootCommand()
	cmd, rest, err := fresh.Find(words[1:])
	if err != nil {
		return err
	}
	if cmd.CommandPath() != of.CommandPath() && !(of.HasSubCommands() && strings.HasPrefix(cmd.CommandPath(), of.CommandPath()+" ")) {
		return errorf("runs %s", cmd.CommandPath())
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return err
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		return err
	}
	if err := cmd.ValidateRequiredFlags(); err != nil {
		return err
	}
	if err := checkRequiredFlags(cmd); err != nil {
		return err
	}
	return cmd.ValidateFlagGroups()
}

func errorf(format string, a ...any) error { return usageErrorf(format, a...) }

// shellWords splits a command line as sh does for words in single or
// double quotes and plain words, up to a redirection or a pipe.
func shellWords(line string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == '\'' || ch == '"':
			j := strings.IndexByte(line[i+1:], ch)
			if j < 0 {
				return nil, errorf("unclosed quote")
			}
			w.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == ' ' || ch == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case ch == '>' || ch == '|' || ch == '<':
			if inWord {
				words = append(words, w.String())
			}
			return words, nil
		default:
			w.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// TestManPages: 'make man' writes a page per command, each titled by its
// command (AIRLOCK-APPLY(1)), with the command's examples, every exit code
// of the exit-code table, and the environment variables it reads.
func TestManPages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the generator")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not found")
	}
	dir := t.TempDir()
	cmd := exec.Command("make", "-C", filepath.Join("..", ".."), "--no-print-directory", "man", "MANDIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make man: %v\n%s", err, out)
	}
	pages := map[string]bool{}
	visitCommands(newRootCommand(), func(c *cobra.Command) {
		if !c.IsAvailableCommand() && c.HasParent() {
			return // cobra's help command
		}
		name := strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1"
		pages[name] = true
		page, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: no man page: %v", c.CommandPath(), err)
			return
		}
		first, _, _ := strings.Cut(strings.TrimSpace(c.Example), "\n")
		page = bytes.ReplaceAll(page, []byte(`\-`), []byte("-")) // roff's minus
		if !bytes.Contains(page, []byte(".SH EXAMPLE")) || !bytes.Contains(page, []byte(first)) {
			t.Errorf("%s: the man page lacks the examples", name)
		}
		title := fmt.Sprintf(".TH %q \"1\"", strings.ToUpper(strings.ReplaceAll(c.CommandPath(), " ", "-")))
		if !bytes.Contains(page, []byte(title)) {
			t.Errorf("%s: the man page is not titled %s:\n%s", name, title, page[:min(len(page), 120)])
		}
		_, status, ok := bytes.Cut(page, []byte(".SH EXIT STATUS\n"))
		if !ok {
			t.Errorf("%s: no EXIT STATUS section", name)
		}
		status, _, _ = bytes.Cut(status, []byte(".SH ")) // up to the next section
		for _, s := range exitStatuses {
			code := strconv.Itoa(s.code)
			if s.code == exitSignal {
				code = "128+N"
			}
			if !bytes.Contains(status, []byte(".TP\n\\fB"+code+"\\fP\n")) {
				t.Errorf("%s: EXIT STATUS lacks exit code %s", name, code)
			}
		}
		env := environmentOf(c)
		if len(env) == 0 || !bytes.Contains(page, []byte(".SH ENVIRONMENT\n")) {
			t.Errorf("%s: no ENVIRONMENT section (%d variables)", name, len(env))
		}
		for _, e := range env {
			if !bytes.Contains(page, []byte("\\fB"+e.name+"\\fP")) {
				t.Errorf("%s: ENVIRONMENT lacks %s", name, e.name)
			}
		}
	})
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !pages[e.Name()] {
			t.Errorf("man page %s is not of a command", e.Name())
		}
	}
	if len(ents) < 20 {
		t.Errorf("only %d man pages", len(ents))
	}
	// The generator is not in the airlock binary.
	deps, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(deps, []byte("github.com/spf13/cobra/doc")) {
		t.Error("the airlock binary links cobra's man page generator")
	}
}

// TestWrongFlagValuesAreUsageErrors: a flag value airlock cannot take is
// a usage error, exit 2, before any file is read — as are unknown flags,
// missing and exclusive ones, and wrong argument counts — with --json too.
func TestWrongFlagValuesAreUsageErrors(t *testing.T) {
	t.Chdir(t.TempDir())
	const recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
	for _, args := range [][]string{
		{"build", "--key", "k", "-r", recipient, "--compression", "max"},
		{"build", "--key", "k", "-r", recipient, "--split", "lots"},
		{"build", "--key", "k", "-r", recipient, "--split", "1K"},
		{"build", "--key", "k", "-r", recipient, "--target", "pci-east"},
		{"build", "--key", "k", "-r", recipient, "--sequence", "-1"},
		{"build", "--key", "pkcs11:token=a;object=b?pin-source=x&pin-value=y", "-r", recipient},
		{"build", "--key", "k", "-r", "not-a-recipient"},
		{"build", "--key", "k", "--frobnicate"},
		{"build", "-r", recipient},
		{"sign", "b", "--key", "k", "--role", "admin"},
		{"sign", "b", "--key", "pkcs11:=x"},
		{"verify", "b", "--trust", "t", "--key", "k"},
		{"verify", "b", "--trust", "t", "--progress", "sometimes"},
		{"build", "--key", "k", "-r", recipient, "--progress="},
		{"verify", "b"},
		{"verify"},
		{"plan", "b", "--trust", "t", "extra"},
		{"apply", "b", "--trust", "t", "--wait", "a while"},
		{"apply", "b", "--trust", "t", "--operator-key", "pkcs11:=x"},
		{"apply", "--resume", "b", "--trust", "t"},
		{"zone", "init", "z", "--zone", "PCI East", "--release-key", "r.pub"},
		{"zone", "commit-policy", "--trust", "t", "--operator", "o", "--wait", "-"},
		{"zone", "nonsense"},
		{"key", "generate", "k", "--pkcs11", "slot=1"},
		{"key", "generate", "k", "--pkcs11", "pkcs11:token=a", "--no-password"},
		{"key", "sign-blob", "f", "--key", "pkcs11:=x"},
		{"history", "--trust", "t", "-n", "-3"},
		{"status", "--trust", "t", "extra"},
		{"audit", "r", "--key", "k", "--fail-on", "info"},
		{"audit", "r", "--key", "k", "--since", "yesterday"},
		{"audit", "r", "--key", "k", "--expect", "nonsense"},
		{"audit", "r", "--key", "k", "--zone", "Not A Zone"},
		{"audit", "r", "--key", "k", "--json", "--jsonl"},
		{"audit", "r", "--key", "k", "--attest", "a.json"},
		{"receipt", "verify", "r"},
		{"version", "--json=maybe"},
	} {
		for _, asJSON := range []bool{false, true} {
			a := args
			if asJSON {
				a = append(slices.Clone(args), "--json")
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), a, strings.NewReader(""), &stdout, &stderr)
			if code != exitUsage {
				t.Errorf("airlock %s: exit %d, want %d\n%s", strings.Join(a, " "), code, exitUsage, stderr.String())
				continue
			}
			if asJSON && !strings.Contains(stdout.String(), `"kind": "usage"`) {
				t.Errorf("airlock %s: no usage error object on standard output:\n%s", strings.Join(a, " "), stdout.String())
			}
		}
	}
}

// TestFlagValueCompletion: for a flag that takes one of a few words, the
// shell is offered exactly those words, and no file names — what
// 'airlock completion bash|zsh|fish' asks airlock through __complete.
func TestFlagValueCompletion(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"build", "--compression", ""}, []string{"fastest", "default", "better", "best"}},
		{[]string{"build", "--compression", "b"}, []string{"better", "best"}},
		{[]string{"audit", "receipts", "--fail-on", "w"}, []string{"warning"}},
		{[]string{"audit", "receipts", "--fail-on", "policy-"}, []string{"policy-uncommitted", "policy-weakened", "policy-drift", "policy-change"}},
		{[]string{"sign", "drop", "--role", ""}, []string{"approve", "release"}},
		{[]string{"verify", "drop", "--progress", ""}, []string{"auto", "always", "never"}},
		{[]string{"build", "--progress", ""}, []string{"auto", "always", "never"}},
		{[]string{"plan", "drop", "--progress", "n"}, []string{"never"}},
		{[]string{"apply", "drop", "--progress", "a"}, []string{"auto", "always"}},
	} {
		var stdout, stderr bytes.Buffer
		args := append([]string{cobra.ShellCompRequestCmd}, tc.args...)
		if code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr); code != 0 {
			t.Fatalf("airlock %v: exit %d\n%s", args, code, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		got, directive := lines[:len(lines)-1], lines[len(lines)-1]
		if !slices.Equal(got, tc.want) {
			t.Errorf("completion of %v: %q, want %q", tc.args, got, tc.want)
		}
		// ":4" is cobra.ShellCompDirectiveNoFileComp: no file names.
		if want := fmt.Sprintf(":%d", cobra.ShellCompDirectiveNoFileComp); directive != want {
			t.Errorf("completion of %v ends %q, want %q (no file names)", tc.args, directive, want)
		}
	}
}
