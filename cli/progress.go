package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"

	"github.com/kirayedar/kirayedar"
)

// progress shows a migration run as its tenants finish. MigrateAll calls
// update from one goroutine at a time.
type progress interface {
	update(kirayedar.Progress)
	finish()
}

// newProgress returns a progress bar on w if w is a terminal, and plain lines
// otherwise (a pipe, a file, a CI log).
func newProgress(w io.Writer) progress {
	if isTerminal(w) {
		return &barProgress{w: w}
	}
	return lineProgress{w: w}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// lineProgress prints one line per tenant migrated or failed; tenants found
// up to date, which a run with little to do has thousands of, only count.
type lineProgress struct{ w io.Writer }

func (l lineProgress) update(p kirayedar.Progress) {
	if p.Result.Status != kirayedar.StatusUpToDate {
		_, _ = fmt.Fprintln(l.w, progressLine(p))
	}
}
func (l lineProgress) finish() {}

// progressLine is "[i/N] tenant status duration", and ": reason" if it failed.
func progressLine(p kirayedar.Progress) string {
	r := p.Result
	line := fmt.Sprintf("[%d/%d] %s %s %v", p.Done, p.Total, r.Tenant, r.Status, short(r.Duration))
	if r.Err != nil {
		line += ": " + reason(r.Tenant, r.Err)
	}
	return line
}

// barProgress draws a bar (tenant i of N), made once the first tenant
// reports the run's size. A failed tenant's line is printed above it.
type barProgress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func (b *barProgress) update(p kirayedar.Progress) {
	if b.bar == nil {
		b.bar = progressbar.NewOptions(p.Total,
			progressbar.OptionSetWriter(b.w),
			progressbar.OptionSetDescription("migrating tenants"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(65*time.Millisecond),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionOnCompletion(func() { _, _ = fmt.Fprintln(b.w) }),
		)
	}
	if p.Result.Status == kirayedar.StatusFailed {
		_ = b.bar.Clear()
		_, _ = fmt.Fprintln(b.w, progressLine(p))
	}
	_ = b.bar.Add(1)
}

func (b *barProgress) finish() {
	if b.bar != nil && !b.bar.IsFinished() {
		_ = b.bar.Exit()
	}
}
