// Package display renders execfeed's results for notebooks: tables of results, training curves
// and progress bars that update while training runs, an RPN program as its expression tree and its execution trace,
// and a candidate program beside its reference with the divergence token highlighted.
//
// Every renderer returns a self-contained HTML string (inline SVG and inline styles, no
// JavaScript), so the package imports and tests without a running kernel and its output survives
// headless execution (jupyter nbconvert) and static notebook viewers. The Display* wrappers send
// that HTML to the GoNB front-end through gonbui; outside a GoNB kernel they do nothing.
package display

import (
	"fmt"
	"html"
	"reflect"
	"strings"

	"github.com/janpfeifer/gonb/gonbui"

	"github.com/execfeed/execfeed/lib/plot"
	"github.com/execfeed/execfeed/lib/progress"
)

// InNotebook reports whether the program runs inside a GoNB kernel.
func InNotebook() bool { return gonbui.IsNotebook }

// Display shows an HTML fragment in the notebook (no-op outside one). It waits until GoNB has
// the output: without that, a cell whose program exits right after displaying can lose it.
func Display(htmlText string) {
	if gonbui.IsNotebook {
		gonbui.DisplayHTML(htmlText)
		gonbui.Sync()
	}
}

// esc escapes text for HTML.
func esc(s string) string { return html.EscapeString(s) }

const (
	tableStyle = `border-collapse:collapse;font-family:monospace;font-size:13px;margin:4px 0`
	thStyle    = `border-bottom:2px solid #444;padding:3px 10px;text-align:left;background:#f3f3f3`
	tdStyle    = `border-bottom:1px solid #ddd;padding:3px 10px;text-align:left`
)

// Table renders rows of cells under a header as an HTML table. Cells are escaped; a cell of
// several lines (a program) keeps its lines and indentation.
func Table(header []string, rows [][]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<table style="%s">`, tableStyle)
	if len(header) > 0 {
		b.WriteString("<tr>")
		for _, h := range header {
			fmt.Fprintf(&b, `<th style="%s">%s</th>`, thStyle, esc(h))
		}
		b.WriteString("</tr>")
	}
	for _, r := range rows {
		b.WriteString("<tr>")
		for _, c := range r {
			fmt.Fprintf(&b, `<td style="%s">%s</td>`, tdStyle, cell(c))
		}
		b.WriteString("</tr>")
	}
	b.WriteString("</table>")
	return b.String()
}

// cell is a table cell's text as HTML: escaped, and kept as written (a <pre> block) when it has
// several lines, as programs do.
func cell(s string) string {
	if strings.Contains(s, "\n") {
		return `<pre style="margin:0">` + esc(s) + `</pre>`
	}
	return esc(s)
}

// DisplayTable shows Table(header, rows).
func DisplayTable(header []string, rows [][]string) { Display(Table(header, rows)) }

// Records renders a slice of structs (or pointers to structs) as a table: one column per
// exported field, named by the field's `display:"name"` tag or its name (`display:"-"` skips
// it). Floats print with 4 significant digits.
func Records(rows any) (string, error) {
	v := reflect.ValueOf(rows)
	if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
		return "", fmt.Errorf("display.Records: want a slice of structs, got %T", rows)
	}
	et := v.Type().Elem()
	if et.Kind() == reflect.Pointer {
		et = et.Elem()
	}
	if et.Kind() != reflect.Struct {
		return "", fmt.Errorf("display.Records: want a slice of structs, got %T", rows)
	}
	var header []string
	var fields []int
	for i := range et.NumField() {
		f := et.Field(i)
		tag := f.Tag.Get("display")
		if !f.IsExported() || tag == "-" {
			continue
		}
		name := f.Name
		if tag != "" {
			name = tag
		}
		header = append(header, name)
		fields = append(fields, i)
	}
	out := make([][]string, 0, v.Len())
	for i := range v.Len() {
		r := v.Index(i)
		if r.Kind() == reflect.Pointer {
			if r.IsNil() {
				continue
			}
			r = r.Elem()
		}
		row := make([]string, len(fields))
		for j, f := range fields {
			row[j] = Format(r.Field(f).Interface())
		}
		out = append(out, row)
	}
	return Table(header, out), nil
}

// DisplayRecords shows Records(rows), or the error.
func DisplayRecords(rows any) {
	h, err := Records(rows)
	if err != nil {
		h = Error(err)
	}
	Display(h)
}

// Format prints a value for a table cell: floats with 4 significant digits, the rest with %v.
func Format(x any) string { return plot.Format(x) }

// Error renders an error message in red.
func Error(err error) string {
	return `<pre style="color:#b00020">` + esc(err.Error()) + `</pre>`
}

// Curve is a training curve (lib/plot) that redraws itself in the notebook as points are added.
type Curve = plot.Curve

// NewCurve makes a curve with one series per name (plot.NewCurve).
func NewCurve(title, xLabel string, names ...string) *Curve {
	return plot.NewCurve(title, xLabel, names...)
}

// Inside GoNB, curves (including those lib/experiment returns) draw live in the notebook, and
// progress bars (lib/progress: training loops, RL runs) update one output each in place.
func init() {
	if gonbui.IsNotebook {
		update := func(id, html string) {
			gonbui.UpdateHTML(id, html)
			gonbui.Sync()
		}
		plot.Live = update
		progress.Live = liveProgress(update, "execfeed_progress_"+gonbui.UniqueId()+"_", progressEvery)
	}
}
