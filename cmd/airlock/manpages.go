//go:build manpages

package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/spf13/cobra/doc"
)

// main writes a man page (section 1) for every command of the command
// tree airlock runs: 'make man', or go run -tags manpages ./cmd/airlock
// -dir DIR. The pages' date is SOURCE_DATE_EPOCH when set.
func main() {
	dir := flag.String("dir", "man", "folder to write the pages into")
	flag.Parse()
	root := newRootCommand()
	root.DisableAutoGenTag = true // no generation date in the page's text
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "airlock man pages:", err)
		os.Exit(1)
	}
	header := &doc.GenManHeader{Title: "AIRLOCK", Section: "1", Source: "airlock " + appVersion(), Manual: "airlock manual"}
	if err := doc.GenManTree(root, header, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "airlock man pages:", err)
		os.Exit(1)
	}
}
