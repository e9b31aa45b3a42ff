package display

import (
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// Progress bars (lib/progress) in a notebook: each bar is one output that is updated in place,
// a thin bar with the bar's line (step / total, rate, latest values, ETA) under it.

// progressEvery is the shortest interval between two updates of one bar's output in a notebook
// (the last state is always shown).
const progressEvery = 250 * time.Millisecond

var percent = regexp.MustCompile(`\((\d+)%\)`)

// progressHTML renders a progress line: a bar filled to the percentage the text shows (none when
// it shows none), green once done, and the text.
func progressHTML(text string, done bool) string {
	color := "#4a7fd4"
	if done {
		color = "#3a9d5d"
	}
	bar := ""
	if m := percent.FindStringSubmatch(text); m != nil {
		p, _ := strconv.Atoi(m[1])
		bar = fmt.Sprintf(`<div style="width:320px;height:6px;background:#e4e4e4;border-radius:3px"><div style="width:%d%%;height:6px;background:%s;border-radius:3px"></div></div>`,
			min(max(p, 0), 100), color)
	}
	return fmt.Sprintf(`<div style="font-family:monospace;font-size:12px;margin:2px 0">%s<span>%s</span></div>`, bar, esc(text))
}

// liveProgress is a progress.Live hook that shows every bar in its own output, through
// update(displayID, html): a bar's display id is prefix + its id (bar ids restart in every cell's
// process; the prefix keeps a cell from updating an earlier cell's output). A bar's output is
// updated at most every interval, and always with its last state.
func liveProgress(update func(id, html string), prefix string, every time.Duration) func(id, text string, done bool) {
	var mu sync.Mutex
	last := map[string]time.Time{}
	return func(id, text string, done bool) {
		mu.Lock()
		t, seen := last[id]
		now := time.Now()
		show := done || !seen || now.Sub(t) >= every
		if done {
			delete(last, id)
		} else if show {
			last[id] = now
		}
		mu.Unlock()
		if show {
			update(prefix+id, progressHTML(text, done))
		}
	}
}
