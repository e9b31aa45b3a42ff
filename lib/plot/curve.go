// Package plot draws execfeed's training curves as self-contained SVG (no JavaScript), so the
// library (lib/experiment) can return plots without depending on a notebook front-end; a
// front-end makes them live by setting Live (kernel/display does, for GoNB).
package plot

import (
	"fmt"
	"html"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Curve is a line plot of one or more series against a shared x (a training step, an epoch)
// that redraws itself in the notebook as points are added:
//
//	c := plot.NewCurve("training", "step", "train loss", "val loss")
//	for step := range steps {
//		c.Add(float64(step), trainLoss, valLoss)   // NaN leaves a gap
//	}
//	c.Flush()
//
// It draws through Live, which a notebook front-end sets (kernel/display does, for GoNB); without
// one it only records the points, and SVG renders them at any time.
type Curve struct {
	Title, XLabel string
	Names         []string
	// Width and Height of the plot in pixels (defaults 640x300).
	Width, Height int
	// LogY plots the y axis on a log10 scale (non-positive values are skipped).
	LogY bool
	// Every is the least time between two redraws while adding points (default 250ms).
	Every time.Duration
	// Static curves never draw themselves while points are added (for plots built from finished
	// results); call Flush or SVG to show them.
	Static bool

	mu     sync.Mutex
	x      []float64
	y      [][]float64
	id     string
	drawn  time.Time
	dirty  bool
	shown  bool
	redraw func(id, html string)
}

// NewCurve makes a curve with one series per name.
func NewCurve(title, xLabel string, names ...string) *Curve {
	return &Curve{Title: title, XLabel: xLabel, Names: names, y: make([][]float64, len(names))}
}

// Add appends a point: x and one y per series (missing values are NaN). In a notebook it
// redraws the plot, at most once per Every.
func (c *Curve) Add(x float64, ys ...float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.x = append(c.x, x)
	for i := range c.y {
		v := math.NaN()
		if i < len(ys) {
			v = ys[i]
		}
		c.y[i] = append(c.y[i], v)
	}
	c.dirty = true
	every := c.Every
	if every <= 0 {
		every = 250 * time.Millisecond
	}
	if !c.Static && time.Since(c.drawn) >= every {
		c.drawLocked()
	}
}

// Len returns the number of points added.
func (c *Curve) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.x)
}

// Last returns the latest value of series i (NaN if none).
func (c *Curve) Last(i int) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i < 0 || i >= len(c.y) || len(c.y[i]) == 0 {
		return math.NaN()
	}
	return c.y[i][len(c.y[i])-1]
}

// Flush redraws the plot with every point added so far (call it when training ends).
func (c *Curve) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dirty || !c.shown {
		c.drawLocked()
	}
}

func (c *Curve) drawLocked() {
	c.drawn = time.Now()
	c.dirty = false
	redraw := c.redraw
	if redraw == nil {
		redraw = Live
	}
	if redraw == nil {
		return
	}
	if c.id == "" {
		c.id = fmt.Sprintf("execfeed_curve_%x_%d", sessionID, curveCount.Add(1))
	}
	c.shown = true
	redraw(c.id, c.svgLocked())
}

// Live, when set, shows or updates the element id with html in the front-end (a notebook):
// curves call it as points arrive. kernel/display sets it when it runs inside GoNB.
var Live func(id, html string)

var (
	sessionID  = rand.Uint64()
	curveCount atomic.Int64
)

// SVG renders the curve as an inline SVG element.
func (c *Curve) SVG() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.svgLocked()
}

func (c *Curve) svgLocked() string {
	w, h := c.Width, c.Height
	if w <= 0 {
		w = 640
	}
	if h <= 0 {
		h = 300
	}
	const left, right, top, bottom = 60, 150, 28, 40
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	tr := func(v float64) float64 {
		if c.LogY {
			if v <= 0 {
				return math.NaN()
			}
			return math.Log10(v)
		}
		return v
	}
	xlo, xhi := math.Inf(1), math.Inf(-1)
	ylo, yhi := math.Inf(1), math.Inf(-1)
	for i, x := range c.x {
		for _, s := range c.y {
			v := tr(s[i])
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			xlo, xhi = math.Min(xlo, x), math.Max(xhi, x)
			ylo, yhi = math.Min(ylo, v), math.Max(yhi, v)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`, w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`, w, h)
	fmt.Fprintf(&b, `<text x="%d" y="16" font-size="13" font-weight="bold">%s</text>`, left, esc(c.Title))
	if math.IsInf(xlo, 1) {
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#888">no points yet</text></svg>`, left, top+int(ph/2))
		return b.String()
	}
	if xhi == xlo {
		xlo, xhi = xlo-1, xhi+1
	}
	if yhi-ylo <= 1e-9*math.Max(1, math.Abs(yhi)) {
		ylo, yhi = ylo-1, yhi+1
	}
	pad := (yhi - ylo) * 0.05
	ylo, yhi = ylo-pad, yhi+pad
	px := func(x float64) float64 { return float64(left) + (x-xlo)/(xhi-xlo)*pw }
	py := func(y float64) float64 { return float64(top) + (yhi-y)/(yhi-ylo)*ph }
	// Axes and ticks.
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#999"/>`, left, top, pw, ph)
	for _, t := range niceTicks(ylo, yhi, 5) {
		label := Format(t)
		if c.LogY {
			label = Format(math.Pow(10, t))
		}
		fmt.Fprintf(&b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`,
			left, float64(left)+pw, py(t), py(t), left-4, py(t)+4, esc(label))
	}
	for _, t := range niceTicks(xlo, xhi, 6) {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, px(t), float64(top)+ph+14, esc(Format(t)))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, float64(left)+pw/2, h-6, esc(c.XLabel))
	// Series: polylines broken at NaN.
	for si, s := range c.y {
		col := palette[si%len(palette)]
		var pts [][2]float64
		flush := func() {
			switch {
			case len(pts) == 1:
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>`, pts[0][0], pts[0][1], col)
			case len(pts) > 1:
				fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.8" points="`, col)
				for i, p := range pts {
					if i > 0 {
						b.WriteByte(' ')
					}
					fmt.Fprintf(&b, "%.1f,%.1f", p[0], p[1])
				}
				b.WriteString(`"/>`)
			}
			pts = pts[:0]
		}
		for i, x := range c.x {
			v := tr(s[i])
			if math.IsNaN(v) || math.IsInf(v, 0) {
				flush()
				continue
			}
			pts = append(pts, [2]float64{px(x), py(v)})
		}
		flush()
		name := ""
		if si < len(c.Names) {
			name = c.Names[si]
		}
		last := ""
		if n := len(s); n > 0 && !math.IsNaN(s[n-1]) {
			last = " " + Format(s[n-1])
		}
		ly := top + 12 + 16*si
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"/><text x="%d" y="%d">%s</text>`,
			w-right+10, w-right+26, ly-4, ly-4, col, w-right+30, ly, esc(name+last))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// Format prints a value for a table cell: floats with 4 significant digits, the rest with %v.
func Format(x any) string {
	switch v := x.(type) {
	case float64:
		return strconv.FormatFloat(v, 'g', 4, 64)
	case float32:
		return strconv.FormatFloat(float64(v), 'g', 4, 32)
	}
	return fmt.Sprint(x)
}

// palette colours the series of a plot.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

// niceTicks returns about n round tick values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if !(hi > lo) {
		return []float64{lo}
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	// Step by index, not by accumulation: with a range near float precision t += step would
	// never move and the loop would never end.
	var ticks []float64
	first := math.Ceil(lo / step)
	for i := 0.0; i < 4*float64(n)+1; i++ {
		t := (first + i) * step
		if t > hi+step*1e-9 {
			break
		}
		ticks = append(ticks, t)
	}
	if len(ticks) == 0 {
		ticks = []float64{lo}
	}
	return ticks
}

func esc(s string) string { return html.EscapeString(s) }
