package display

import (
	"fmt"
	"strings"

	"github.com/execfeed/execfeed/lib/rpn"
)

// ExprTree renders an expression tree as an inline SVG: operators as orange circles, variables
// as blue and constants as grey leaves, each labelled with its token; hovering a node shows the
// index of the token that produced it.
func ExprTree(e *rpn.Expr) string {
	if e == nil {
		return `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>`
	}
	const dx, dy, r, margin = 44.0, 56.0, 15.0, 24.0
	type placed struct {
		e     *rpn.Expr
		x, y  float64
		depth int
	}
	var nodes []placed
	pos := map[*rpn.Expr][2]float64{}
	slot := 0.0
	maxDepth := 0
	// In-order layout: leaves take consecutive slots, an operator sits above its children.
	var layout func(e *rpn.Expr, depth int) float64
	layout = func(e *rpn.Expr, depth int) float64 {
		maxDepth = max(maxDepth, depth)
		var x float64
		if e.IsLeaf() {
			x = slot
			slot++
		} else {
			l := layout(e.Left, depth+1)
			rr := layout(e.Right, depth+1)
			x = (l + rr) / 2
		}
		y := float64(depth)
		if _, seen := pos[e]; !seen { // dup shares a subtree: draw it once
			nodes = append(nodes, placed{e, x, y, depth})
		}
		pos[e] = [2]float64{x, y}
		return x
	}
	layout(e, 0)
	w := margin*2 + (slot-1)*dx
	h := margin*2 + float64(maxDepth)*dy
	sx := func(x float64) float64 { return margin + x*dx }
	sy := func(y float64) float64 { return margin + y*dy }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="monospace" font-size="14">`, w, h, w, h)
	var edges func(e *rpn.Expr)
	edges = func(e *rpn.Expr) {
		if e.IsLeaf() {
			return
		}
		p := pos[e]
		for _, c := range []*rpn.Expr{e.Left, e.Right} {
			q := pos[c]
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#666"/>`, sx(p[0]), sy(p[1]), sx(q[0]), sy(q[1]))
			edges(c)
		}
	}
	edges(e)
	for _, n := range nodes {
		fill := "#ffd8a8" // operator
		label := n.e.Op
		if n.e.IsLeaf() {
			label = n.e.Leaf
			fill = "#e9ecef" // constant
			if label == "a" || label == "b" || label == "c" {
				fill = "#a5d8ff"
			}
		}
		fmt.Fprintf(&b, `<g><title>token %d</title><circle cx="%.1f" cy="%.1f" r="%.0f" fill="%s" stroke="#333"/><text x="%.1f" y="%.1f" text-anchor="middle">%s</text></g>`,
			n.e.Pos, sx(n.x), sy(n.y), r, fill, sx(n.x), sy(n.y)+5, esc(label))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// ProgramTree parses an RPN program and renders its expression tree with the program and its
// infix form above it; a malformed program renders as an error message.
func ProgramTree(program string, d rpn.Dialect) string {
	e, err := rpn.Parse(rpn.Tokenize(program), d)
	if err != nil {
		return Error(fmt.Errorf("%s: %w", program, err))
	}
	return fmt.Sprintf(`<div style="font-family:monospace;margin:4px 0"><div><b>%s</b> &nbsp;=&nbsp; %s</div>%s</div>`,
		esc(program), esc(e.String()), ExprTree(e))
}

// DisplayTree shows ProgramTree(program, d).
func DisplayTree(program string, d rpn.Dialect) { Display(ProgramTree(program, d)) }

// TraceTable renders an execution trace: one row per token with the stack after it (bottom
// first). When errPos is a token index (a runtime error), that row is marked red and the rows
// after it, which never ran, are greyed.
func TraceTable(tokens []string, trace [][]int64, errPos int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<table style="%s"><tr><th style="%s">#</th><th style="%s">token</th><th style="%s">stack after (bottom → top)</th></tr>`,
		tableStyle, thStyle, thStyle, thStyle)
	for i, t := range tokens {
		style := tdStyle
		stack := ""
		switch {
		case i < len(trace):
			parts := make([]string, len(trace[i]))
			for j, v := range trace[i] {
				parts[j] = fmt.Sprint(v)
			}
			stack = "[" + strings.Join(parts, " ") + "]"
		case i == errPos:
			style += ";background:#ffe3e3;color:#b00020"
			stack = "error"
		default:
			style += ";color:#aaa"
			stack = "not run"
		}
		fmt.Fprintf(&b, `<tr><td style="%s">%d</td><td style="%s"><b>%s</b></td><td style="%s">%s</td></tr>`,
			style, i, style, esc(t), style, esc(stack))
	}
	b.WriteString(`</table>`)
	return b.String()
}

// Trace runs an RPN program on env and renders its value (or error) and its trace table.
func Trace(program string, d rpn.Dialect, env rpn.Env) string {
	toks := rpn.Tokenize(program)
	v, trace, err := rpn.Run(toks, d, env)
	head := fmt.Sprintf(`<div style="font-family:monospace">%s with a=%d b=%d c=%d → <b>%d</b></div>`, esc(program), env.A, env.B, env.C, v)
	errPos := -1
	if err != nil {
		head = fmt.Sprintf(`<div style="font-family:monospace">%s with a=%d b=%d c=%d → <b style="color:#b00020">%s</b></div>`,
			esc(program), env.A, env.B, env.C, esc(err.Error()))
		if e := rpn.AsError(err); e != nil {
			errPos = e.Pos
		}
	}
	return head + TraceTable(toks, trace, errPos)
}

// DisplayTrace shows Trace(program, d, env).
func DisplayTrace(program string, d rpn.Dialect, env rpn.Env) { Display(Trace(program, d, env)) }

// SideBySide renders a candidate program above its reference, token by token. The candidate's
// token at index divergence (the first token whose execution departs from the reference's, as
// EGCA finds it; -1 for none) is highlighted red, the reference token at the same index yellow,
// and the candidate's tokens after it greyed: the span that gets no credit.
func SideBySide(candidate, reference []string, divergence int) string {
	chip := func(tok, style string) string {
		return fmt.Sprintf(`<span style="display:inline-block;min-width:1.6em;text-align:center;padding:2px 5px;margin:1px;border:1px solid #ccc;border-radius:3px;%s">%s</span>`, style, esc(tok))
	}
	row := func(label string, toks []string, mark func(i int) string) string {
		var b strings.Builder
		fmt.Fprintf(&b, `<tr><td style="%s"><b>%s</b></td><td style="%s">`, tdStyle, label, tdStyle)
		for i, t := range toks {
			b.WriteString(chip(t, mark(i)))
		}
		b.WriteString(`</td></tr>`)
		return b.String()
	}
	cand := row("candidate", candidate, func(i int) string {
		switch {
		case divergence < 0:
			return ""
		case i == divergence:
			return "background:#ffc9c9;border-color:#e03131;font-weight:bold"
		case i > divergence:
			return "color:#aaa"
		}
		return "background:#d3f9d8"
	})
	ref := row("reference", reference, func(i int) string {
		if i == divergence {
			return "background:#fff3bf;border-color:#f08c00"
		}
		return ""
	})
	note := "no divergence"
	if divergence >= 0 {
		note = fmt.Sprintf("first divergence at token %d", divergence)
	}
	return fmt.Sprintf(`<table style="%s;font-family:monospace">%s%s<tr><td></td><td style="%s;color:#555">%s</td></tr></table>`,
		tableStyle, cand, ref, tdStyle, note)
}

// DisplaySideBySide shows SideBySide(candidate, reference, divergence).
func DisplaySideBySide(candidate, reference []string, divergence int) {
	Display(SideBySide(candidate, reference, divergence))
}

// FirstDifference returns the first index where two token sequences differ (-1 if equal): the
// simplest divergence, by text. Execution-grounded divergence (seed 003's EGCA) is the trainer's.
func FirstDifference(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}
