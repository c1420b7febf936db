package main

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestExitStatuses holds the exit-code table against what documents it:
// the README's table lists exactly its codes, and the error schema's kinds
// are exactly its kinds.
func TestExitStatuses(t *testing.T) {
	var codes, kinds []string
	for _, s := range exitStatuses {
		code := strconv.Itoa(s.code)
		if s.code == exitSignal {
			code = "128+N"
		}
		codes = append(codes, code)
		if s.kind != "" {
			kinds = append(kinds, s.kind)
		}
		if statusOf(s.code) != s {
			t.Errorf("statusOf(%d) is not its own row", s.code)
		}
	}
	if statusOf(130).kind != kindInterrupted {
		t.Errorf("statusOf(130) = %+v, want the signal row", statusOf(130))
	}

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme[strings.Index(string(readme), "## Exit codes"):])
	section = section[:strings.Index(section[3:], "\n## ")+3]
	var documented []string
	for _, m := range regexp.MustCompile(`(?m)^\| ([0-9N+]+) \|`).FindAllStringSubmatch(section, -1) {
		documented = append(documented, m[1])
	}
	if !slices.Equal(documented, codes) {
		t.Errorf("README's exit codes %v, the table's %v", documented, codes)
	}

	var schema struct {
		Defs map[string]struct {
			Properties map[string]struct {
				Enum []string `json:"enum"`
			} `json:"properties"`
		} `json:"$defs"`
	}
	data, err := os.ReadFile("../../doc/schemas/error.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	if got := schema.Defs["error"].Properties["kind"].Enum; !slices.Equal(got, kinds) {
		t.Errorf("error.schema.json kinds %v, the table's %v", got, kinds)
	}
}
