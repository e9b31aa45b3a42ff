package experiment

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
)

// sweepColors are the routines' line colours, in the order they first appear.
var sweepColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"}

// SweepPlot draws test accuracy against training-set size (log scale) for one split: per
// routine a solid line for functional accuracy with a band from the seeds' minimum to maximum,
// and a dashed line for exact match (means). It is a self-contained SVG document.
func SweepPlot(res *SweepResults, split string) string {
	var pts []SweepPoint
	var routines []string
	var sizes []int
	for _, p := range res.Points {
		if p.Split != split {
			continue
		}
		pts = append(pts, p)
		if !slices.Contains(routines, p.Routine) {
			routines = append(routines, p.Routine)
		}
		if !slices.Contains(sizes, p.Size) {
			sizes = append(sizes, p.Size)
		}
	}
	const W, H, left, right, top, bottom = 640, 400, 60, 150, 40, 50
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`, W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`, W, H)
	title := fmt.Sprintf("rpn-def-sizes (%s split): test accuracy vs training-set size", split)
	if res.Quick {
		title += " [quick]"
	}
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14">%s</text>`, left, html.EscapeString(title))
	if len(pts) == 0 {
		b.WriteString(`<text x="60" y="200">no runs yet</text></svg>`)
		return b.String()
	}
	slices.Sort(sizes)
	lo, hi := math.Log10(float64(sizes[0])), math.Log10(float64(sizes[len(sizes)-1]))
	if hi-lo < 0.2 {
		lo, hi = lo-0.5, hi+0.5
	}
	pw, ph := float64(W-left-right), float64(H-top-bottom)
	x := func(n int) float64 { return left + (math.Log10(float64(n))-lo)/(hi-lo)*pw }
	y := func(a float64) float64 { return top + (1-a)*ph }
	// Axes, grid, ticks.
	for _, a := range []float64{0, 0.25, 0.5, 0.75, 1} {
		fmt.Fprintf(&b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`, left, left+pw, y(a), y(a))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%.0f%%</text>`, left-6, y(a)+4, 100*a)
	}
	for _, n := range sizes {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.1f" stroke="#eee"/>`, x(n), x(n), top, top+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%d</text>`, x(n), top+ph+16, n)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">training examples (log scale)</text>`, left+pw/2, H-10)
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`, left, top, pw, ph)
	for i, r := range routines {
		col := sweepColors[i%len(sweepColors)]
		var mine []SweepPoint
		for _, p := range pts {
			if p.Routine == r {
				mine = append(mine, p)
			}
		}
		slices.SortFunc(mine, func(a, b SweepPoint) int { return a.Size - b.Size })
		var band, fn, ex []string
		for _, p := range mine {
			band = append(band, fmt.Sprintf("%.1f,%.1f", x(p.Size), y(p.Functional.Max)))
			fn = append(fn, fmt.Sprintf("%.1f,%.1f", x(p.Size), y(p.Functional.Mean)))
			ex = append(ex, fmt.Sprintf("%.1f,%.1f", x(p.Size), y(p.Exact.Mean)))
		}
		for j := len(mine) - 1; j >= 0; j-- {
			band = append(band, fmt.Sprintf("%.1f,%.1f", x(mine[j].Size), y(mine[j].Functional.Min)))
		}
		fmt.Fprintf(&b, `<polygon points="%s" fill="%s" fill-opacity="0.15" stroke="none"/>`, strings.Join(band, " "), col)
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`, strings.Join(fn, " "), col)
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5" stroke-dasharray="5,4"/>`, strings.Join(ex, " "), col)
		for _, p := range mine { // the seeds' range as an error bar, visible also for a single size
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s"/>`, x(p.Size), x(p.Size), y(p.Functional.Min), y(p.Functional.Max), col)
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, x(p.Size), y(p.Functional.Mean), col)
		}
		ly := top + 10 + 34*i
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"/>`, W-right+10, W-right+35, ly, ly, col)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s functional</text>`, W-right+40, ly+4, html.EscapeString(r))
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="1.5" stroke-dasharray="5,4"/>`, W-right+10, W-right+35, ly+15, ly+15, col)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s exact</text>`, W-right+40, ly+19, html.EscapeString(r))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" fill="#555">mean over seeds; band and bars: min-max</text>`, left, H-26)
	b.WriteString("</svg>")
	return b.String()
}
