package capture

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progressEvery is how often a ProgressPrinter writes a line when its
// output is not a terminal.
const progressEvery = 5 * time.Second

// ProgressPrinter shows an import's Progress to a person: on a terminal, a
// bar redrawn in place at each Update; otherwise a line every 5 s.
type ProgressPrinter struct {
	w       io.Writer
	tty     bool
	start   time.Time
	lastOut time.Time
}

// NewProgressPrinter returns a printer writing to w, a terminal when w is
// an *os.File on a character device. The import's elapsed time starts now.
func NewProgressPrinter(w io.Writer) *ProgressPrinter {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &ProgressPrinter{w: w, tty: tty, start: time.Now()}
}

// Elapsed returns the time since NewProgressPrinter.
func (pp *ProgressPrinter) Elapsed() time.Duration { return time.Since(pp.start) }

// Update shows p: it redraws the bar on a terminal, otherwise it writes a
// line when the last one is 5 s old.
func (pp *ProgressPrinter) Update(p Progress) {
	now := time.Now()
	if !pp.tty && now.Sub(pp.lastOut) < progressEvery {
		return
	}
	pp.lastOut = now
	if pp.tty {
		fmt.Fprintf(pp.w, "\r%s", pp.line(p))
	} else {
		fmt.Fprintln(pp.w, pp.line(p))
	}
}

// Finish draws the final bar p and ends its line on a terminal; it writes
// nothing otherwise.
func (pp *ProgressPrinter) Finish(p Progress) {
	if pp.tty {
		fmt.Fprintf(pp.w, "\r%s\n", pp.line(p))
	}
}

// line renders "[#########.....] 45%  123456 messages  23456 msg/s  ETA 12s",
// or "123456 messages  23456 msg/s" when the input size is unknown.
func (pp *ProgressPrinter) line(p Progress) string {
	el := pp.Elapsed().Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(p.Committed) / el
	}
	frac := 0.0
	if p.TotalBytes > 0 {
		frac = min(1, float64(p.Bytes)/float64(p.TotalBytes))
	}
	eta := "-"
	if frac > 0 && frac < 1 {
		eta = (time.Duration(el*(1-frac)/frac) * time.Second).Round(time.Second).String()
	}
	const width = 30
	bar := strings.Repeat("#", int(frac*width)) + strings.Repeat(".", width-int(frac*width))
	if p.TotalBytes == 0 {
		return fmt.Sprintf("%d messages  %.0f msg/s", p.Committed, rate)
	}
	return fmt.Sprintf("[%s] %3.0f%%  %d messages  %.0f msg/s  ETA %s", bar, frac*100, p.Committed, rate, eta)
}
