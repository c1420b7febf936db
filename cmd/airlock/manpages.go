//go:build manpages

package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// main writes a man page (section 1) for every command of the command
// tree airlock runs — 'make man', or go run -tags manpages ./cmd/airlock
// -dir DIR — each titled by its command (AIRLOCK-APPLY(1)), with the EXIT
// STATUS and ENVIRONMENT sections cobra's generator lacks. -gzip writes
// NAME.1.gz, as packages ship them; -completions DIR also writes the
// bash, zsh and fish completions. The pages' date is SOURCE_DATE_EPOCH's
// month (UTC) when set, and the gzip files carry no name or time, so the
// same commit gives the same bytes.
func main() {
	dir := flag.String("dir", "man", "folder to write the pages into")
	gz := flag.Bool("gzip", false, "write NAME.1.gz instead of NAME.1")
	completions := flag.String("completions", "", "also write airlock.bash, _airlock (zsh) and airlock.fish into this folder")
	flag.Parse()
	if err := generate(*dir, *gz, *completions); err != nil {
		fmt.Fprintln(os.Stderr, "airlock man pages:", err)
		os.Exit(1)
	}
}

func generate(dir string, gz bool, completions string) error {
	root := newRootCommand()
	root.DisableAutoGenTag = true // no generation date in the page's text
	date := time.Now().UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", s, err)
		}
		date = time.Unix(n, 0).UTC()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var walk func(c *cobra.Command) error
	walk = func(c *cobra.Command) error {
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() && !sub.IsAdditionalHelpTopicCommand() {
				if err := walk(sub); err != nil {
					return err
				}
			}
		}
		// Title left empty: cobra makes it the command's path (AIRLOCK-APPLY).
		header := &doc.GenManHeader{Section: "1", Date: &date, Source: "airlock " + appVersion(), Manual: "airlock manual"}
		var page bytes.Buffer
		if err := doc.GenMan(c, header, &page); err != nil {
			return err
		}
		name := filepath.Join(dir, strings.ReplaceAll(c.CommandPath(), " ", "-")+".1")
		return writePage(name, withManSections(page.Bytes(), c), gz)
	}
	if err := walk(root); err != nil {
		return err
	}
	if completions == "" {
		return nil
	}
	if err := os.MkdirAll(completions, 0o755); err != nil {
		return err
	}
	for _, sh := range []struct {
		file string
		gen  func(*bytes.Buffer) error
	}{
		{"airlock.bash", func(b *bytes.Buffer) error { return root.GenBashCompletionV2(b, true) }},
		{"_airlock", func(b *bytes.Buffer) error { return root.GenZshCompletion(b) }},
		{"airlock.fish", func(b *bytes.Buffer) error { return root.GenFishCompletion(b, true) }},
	} {
		var b bytes.Buffer
		if err := sh.gen(&b); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(completions, sh.file), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writePage writes a page, gzipped (NAME.1.gz, no name or time in the
// header) when gz is set.
func writePage(name string, page []byte, gz bool) error {
	if !gz {
		return os.WriteFile(name, page, 0o644)
	}
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := w.Write(page); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return os.WriteFile(name+".gz", b.Bytes(), 0o644)
}
