// Package progress shows how far a long routine has gone: step / total, rate, the latest values
// (loss, accuracy...) and the estimated time left. On a terminal it keeps one line up to date in
// place; elsewhere (CI logs, nohup, a file) it writes a plain line at a fixed interval and one
// at the end; in a notebook, where kernel/display sets Live, it updates one output in place.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Live, when set, shows bars in place instead of writing lines: it is called with a bar's id
// (unique in the process) and its current text, and with done true for the last time. The
// notebook display (kernel/display) sets it; lib/ never imports the kernel.
var Live func(id, text string, done bool)

// PlainEvery is how often a bar writes a line when its writer is not a terminal.
var PlainEvery = 30 * time.Second

// A Bar is the progress of one routine (an epoch loop, an RL run). Its methods may be called from
// one goroutine at a time; a nil *Bar does nothing, so callers need not check.
type Bar struct {
	w        io.Writer
	label    string
	total    int
	unit     string
	start    time.Time
	lastLine time.Time
	terminal bool
	id       string
	step     int
	base     int // the step the bar started at (a resumed run starts part way)
	values   string
	width    int  // length of the last line drawn on a terminal, to blank what a shorter one leaves
	done     bool // Done was called: Printf no longer draws the bar
}

var (
	mu     sync.Mutex
	nextID int
)

// New starts a bar for a routine of total steps (total 0: unknown) named label, counting unit
// ("iter", "epoch", "step"), writing to w (nil: the bar is silent unless Live is set).
func New(w io.Writer, label string, total int, unit string) *Bar {
	mu.Lock()
	nextID++
	id := fmt.Sprintf("progress-%d", nextID)
	mu.Unlock()
	now := time.Now()
	return &Bar{w: w, label: label, total: total, unit: unit, start: now, lastLine: now, terminal: isTerminal(w), id: id}
}

// isTerminal reports whether w is a character device (a terminal), where a line can be redrawn.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}

// From says that the routine starts at step (a resumed run): the rate and the ETA count only
// the steps done since. It returns b.
func (b *Bar) From(step int) *Bar {
	if b != nil {
		b.base, b.step = step, step
	}
	return b
}

// Update records that step steps are done, with values describing the latest one (e.g.
// "loss 0.412"), and shows it: redrawn at once on a terminal or in a notebook, otherwise written
// as a line when PlainEvery has passed since the last one.
func (b *Bar) Update(step int, values string) {
	if b == nil {
		return
	}
	b.step, b.values = step, values
	switch {
	case Live != nil:
		Live(b.id, b.Text(), false)
	case b.w == nil:
	case b.terminal:
		line := b.Text()
		pad := max(b.width-len(line), 0)
		b.width = len(line)
		fmt.Fprintf(b.w, "\r%s%s", line, strings.Repeat(" ", pad))
	case time.Since(b.lastLine) >= PlainEvery:
		b.lastLine = time.Now()
		fmt.Fprintln(b.w, b.Text())
	}
}

// Printf writes a log line (format should end in a newline) to the bar's writer. On a terminal it
// blanks the bar's line first and draws the bar again under the new line, so that lines and the
// live bar do not mix; elsewhere it only writes the line.
func (b *Bar) Printf(format string, args ...any) {
	if b == nil || b.w == nil {
		return
	}
	if !b.terminal || Live != nil {
		fmt.Fprintf(b.w, format, args...)
		return
	}
	fmt.Fprint(b.w, "\r\033[K")
	fmt.Fprintf(b.w, format, args...)
	if !b.done {
		line := b.Text()
		b.width = len(line)
		fmt.Fprintf(b.w, "\r%s", line)
	}
}

// Done shows the final state: the terminal line is ended, a plain line is written, the notebook
// output is updated a last time.
func (b *Bar) Done() {
	if b == nil {
		return
	}
	b.done = true
	text := b.Text()
	switch {
	case Live != nil:
		Live(b.id, text, true)
	case b.w == nil:
	case b.terminal:
		pad := max(b.width-len(text), 0)
		fmt.Fprintf(b.w, "\r%s%s\n", text, strings.Repeat(" ", pad))
	default:
		fmt.Fprintln(b.w, text)
	}
}

// Text is the bar's current line: "label: 120/300 iter (40%), 2.31 iter/s, loss 0.41, 1m18s
// elapsed, ETA 1m17s".
func (b *Bar) Text() string {
	elapsed := time.Since(b.start)
	var s strings.Builder
	fmt.Fprintf(&s, "%s: %d", b.label, b.step)
	if b.total > 0 {
		fmt.Fprintf(&s, "/%d", b.total)
	}
	fmt.Fprintf(&s, " %s", b.unit)
	if b.total > 0 {
		fmt.Fprintf(&s, " (%.0f%%)", 100*float64(b.step)/float64(b.total))
	}
	done := b.step - b.base
	if done > 0 && elapsed > 0 {
		rate := float64(done) / elapsed.Seconds()
		if rate >= 1 {
			fmt.Fprintf(&s, ", %.2f %s/s", rate, b.unit)
		} else {
			fmt.Fprintf(&s, ", %.1fs/%s", 1/rate, b.unit)
		}
	}
	if b.values != "" {
		fmt.Fprintf(&s, ", %s", b.values)
	}
	fmt.Fprintf(&s, ", %s elapsed", Duration(elapsed))
	if b.total > 0 && done > 0 && b.step < b.total {
		left := time.Duration(float64(elapsed) * float64(b.total-b.step) / float64(done))
		fmt.Fprintf(&s, ", ETA %s", Duration(left))
	}
	return s.String()
}

// Duration writes d plainly, to the second: "45s", "3m07s", "1h02m".
func Duration(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	default:
		return fmt.Sprintf("%dh%02dm", s/3600, s/60%60)
	}
}
