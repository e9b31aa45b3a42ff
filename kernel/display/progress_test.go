package display

import (
	"strings"
	"testing"
	"time"

	"github.com/execfeed/execfeed/lib/progress"
)

func TestProgressHTML(t *testing.T) {
	h := progressHTML("train <def>: 120/300 iter (40%), 2.31 iter/s, ETA 1m17s", false)
	wellFormed(t, h)
	for _, want := range []string{"width:40%", "&lt;def&gt;", "ETA 1m17s"} {
		if !strings.Contains(h, want) {
			t.Errorf("progress HTML lacks %q: %s", want, h)
		}
	}
	if h := progressHTML("sampling: 12 step, 3.0 step/s", true); strings.Contains(h, "width:320px") {
		t.Errorf("a bar without a total draws a bar: %s", h)
	}
}

// TestLiveProgress: through the hook display sets in a notebook, each progress bar updates one
// output (its id prefixed so that a later cell's bars never update this cell's), at most once
// per interval, and always with its final state.
func TestLiveProgress(t *testing.T) {
	type update struct{ id, html string }
	var got []update
	hook := liveProgress(func(id, html string) { got = append(got, update{id, html}) }, "cell7_", time.Hour)
	old := progress.Live
	progress.Live = hook
	t.Cleanup(func() { progress.Live = old })

	a := progress.New(nil, "baseline", 4, "epoch")
	b := progress.New(nil, "def", 4, "epoch")
	for step := 1; step <= 4; step++ {
		a.Update(step, "loss 0.5")
		b.Update(step, "loss 0.7")
	}
	a.Done()
	b.Done()
	if len(got) != 4 {
		t.Fatalf("%d updates, want 4 (each bar's first state, then its last; the rest within the interval): %v", len(got), got)
	}
	if got[0].id != got[2].id || got[1].id != got[3].id || got[0].id == got[1].id || !strings.HasPrefix(got[0].id, "cell7_progress-") {
		t.Errorf("display ids %q %q %q %q: want one prefixed id per bar", got[0].id, got[1].id, got[2].id, got[3].id)
	}
	if !strings.Contains(got[0].html, "baseline: 1/4 epoch (25%)") || !strings.Contains(got[2].html, "baseline: 4/4 epoch (100%)") ||
		!strings.Contains(got[3].html, "def: 4/4") || !strings.Contains(got[3].html, "#3a9d5d") {
		t.Errorf("updates do not show the bars' states: %v", got)
	}

	got = nil
	every := liveProgress(func(id, html string) { got = append(got, update{id, html}) }, "", 0)
	for i := range 3 {
		every("progress-1", "x", i == 2)
	}
	if len(got) != 3 {
		t.Errorf("with no interval, %d of 3 states shown", len(got))
	}
}
