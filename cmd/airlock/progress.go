package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"airlock.dev/airlock/internal/progress"
)

// Progress modes of --progress.
const (
	progressAuto   = "auto"   // when standard error is a terminal
	progressAlways = "always" // also when it is not
	progressNever  = "never"
)

// progressModes are the values of --progress.
var progressModes = choices{progressAuto, progressAlways, progressNever}

// progressMode is --progress: a value pflag checks as it parses, so a
// wrong one is a usage error like any flag that does not parse.
type progressMode string

func (m *progressMode) String() string { return string(*m) }
func (m *progressMode) Type() string   { return "auto|always|never" }
func (m *progressMode) Set(s string) error {
	if !slices.Contains(progressModes, s) {
		return fmt.Errorf("want %s", progressModes)
	}
	*m = progressMode(s)
	return nil
}

// progressOptions are the flags of a command that shows progress (build,
// verify, plan, apply). --quiet also silences the rest of what is not
// essential on standard error (apply's steps and their output); warnings
// and errors still show.
type progressOptions struct {
	mode  progressMode
	quiet bool
}

func (p *progressOptions) addFlags(c *cobra.Command) {
	p.mode = progressAuto
	c.Flags().Var(&p.mode, "progress", "show progress (stage, bytes, rate, time left) on standard error: auto (when it is a terminal), always or never")
	progressModes.complete(c, "progress")
	c.Flags().BoolVarP(&p.quiet, "quiet", "q", false, "no progress, and no other output on standard error that is not a warning or an error")
}

// reporter returns what draws the progress of c's operation on its
// standard error — nil when nothing is to be drawn — and a function that
// clears the bar, to call when the operation ends.
func (p progressOptions) reporter(c *cobra.Command) (progress.Reporter, func()) {
	w := c.ErrOrStderr()
	show := p.mode == progressAlways || p.mode == progressAuto && isTerminal(w)
	if p.quiet || p.mode == progressNever || !show {
		return nil, func() {}
	}
	b := &bar{w: w}
	return b, b.done
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// bar draws one stage at a time as one line: the stage, a bar, bytes done
// of the total, the rate, the time taken and the time left
// (github.com/schollz/progressbar/v3). The line is cleared when the stage
// ends; a stage of unknown size is not drawn.
type bar struct {
	w  io.Writer
	mu sync.Mutex
	b  *progressbar.ProgressBar
}

func (b *bar) Stage(name string, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.finish()
	if total <= 0 {
		return // nothing to measure it by
	}
	b.b = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionSetDescription(fmt.Sprintf("%-8s", name)),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(), // bytes done of the total, beside the rate
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetWidth(24),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionClearOnFinish(),
	)
}

func (b *bar) Add(n int64) {
	b.mu.Lock()
	if b.b != nil {
		b.b.Add64(n)
	}
	b.mu.Unlock()
}

func (b *bar) done() {
	b.mu.Lock()
	b.finish()
	b.mu.Unlock()
}

func (b *bar) finish() {
	if b.b != nil {
		b.b.Finish() // clears the line
		b.b = nil
	}
}
