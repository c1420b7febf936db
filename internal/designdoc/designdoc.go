// Package designdoc reads the code tables of doc/design.md, so that tests
// can check that the document lists exactly the codes the code defines.
package designdoc

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Path is doc/design.md in this module.
func Path() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "doc", "design.md")
}

// Column returns the backquoted values in column col (0-based) of the
// first Markdown table after the first line of doc/design.md that starts
// with intro, in table order.
func Column(intro string, col int) ([]string, error) {
	data, err := os.ReadFile(Path())
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(data), "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(l, intro) {
			start = i
			break
		}
	}
	if start < 0 {
		return nil, fmt.Errorf("design.md: no line starts with %q", intro)
	}
	var out []string
	inTable := false
	for _, l := range lines[start+1:] {
		if !strings.HasPrefix(l, "|") {
			if inTable {
				break
			}
			continue
		}
		if !inTable {
			inTable = true // the header row
			continue
		}
		cells := strings.Split(strings.Trim(l, "|"), "|")
		if col >= len(cells) {
			return nil, fmt.Errorf("design.md: table after %q has a row with %d columns: %s", intro, len(cells), l)
		}
		cell := strings.TrimSpace(cells[col])
		if strings.HasPrefix(cell, "---") {
			continue
		}
		v, ok := strings.CutPrefix(cell, "`")
		if !ok || !strings.HasSuffix(v, "`") {
			return nil, fmt.Errorf("design.md: table after %q: cell %q is not a `code`", intro, cell)
		}
		out = append(out, strings.TrimSuffix(v, "`"))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("design.md: no table after %q", intro)
	}
	return out, nil
}
