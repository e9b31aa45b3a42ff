package plot

import (
	"encoding/xml"
	"math"
	"strings"
	"testing"
	"time"
)

// wellFormed checks that an HTML/SVG fragment parses as XML (our renderers emit XHTML-style
// markup, so this catches unbalanced tags and bad escaping).
func wellFormed(t *testing.T, s string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader("<root>" + strings.ReplaceAll(s, "&nbsp;", "&#160;") + "</root>"))
	for {
		_, err := d.Token()
		if err != nil {
			if err.Error() == "EOF" {
				return
			}
			t.Fatalf("not well-formed: %v\n%s", err, s)
		}
	}
}

func TestCurve(t *testing.T) {
	c := NewCurve("loss", "step", "train", "val")
	wellFormed(t, c.SVG())
	var draws []string
	c.redraw = func(id, h string) { draws = append(draws, id) }
	c.Every = time.Nanosecond // redraw on every point
	for i := range 10 {
		val := math.NaN()
		if i%3 == 0 {
			val = 1 / float64(i+1)
		}
		c.Add(float64(i), 2/float64(i+1), val)
	}
	c.Flush()
	if len(draws) != 10 || draws[0] != draws[9] || !strings.HasPrefix(draws[0], "execfeed_curve_") {
		t.Errorf("redraws %v, want 10 updates of one display id", draws)
	}
	s := c.SVG()
	wellFormed(t, s)
	if strings.Count(s, "<polyline") != 1 || strings.Count(s, "<circle") != 4 {
		t.Errorf("want one line (train) and 4 isolated val points:\n%s", s)
	}
	if c.Len() != 10 || c.Last(0) != 0.2 {
		t.Errorf("Len %d Last %v", c.Len(), c.Last(0))
	}
	c.LogY = true
	wellFormed(t, c.SVG())
}

// TestCurveTinyRange: two series one ulp apart once made the tick loop run forever.
func TestCurveTinyRange(t *testing.T) {
	c := NewCurve("tiny", "x", "a", "b")
	c.Static = true
	c.Add(1, 0.35, math.Nextafter(0.35, 1))
	c.Add(2, 0.35, 0.35)
	if svg := c.SVG(); !strings.Contains(svg, "<svg") {
		t.Fatalf("no svg: %q", svg)
	}
	if ticks := niceTicks(0.35, math.Nextafter(0.35, 1), 5); len(ticks) > 21 {
		t.Fatalf("%d ticks", len(ticks))
	}
}
