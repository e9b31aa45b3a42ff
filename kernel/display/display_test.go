package display

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/execfeed/execfeed/lib/rpn"
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

func TestTableEscapes(t *testing.T) {
	h := Table([]string{"name", "acc"}, [][]string{{"<script>", "0.5"}})
	wellFormed(t, h)
	if strings.Contains(h, "<script>") || !strings.Contains(h, "&lt;script&gt;") {
		t.Errorf("cell not escaped: %s", h)
	}
	prog := Table([]string{"program"}, [][]string{{"def f(x):\n    return x < 1"}})
	wellFormed(t, prog)
	if !strings.Contains(prog, "<pre style=\"margin:0\">def f(x):\n    return x &lt; 1</pre>") {
		t.Errorf("a program cell lost its lines or was not escaped: %s", prog)
	}
	type row struct {
		Method string
		Acc    float64 `display:"accuracy"`
		secret int
		Skip   int `display:"-"`
	}
	r, err := Records([]row{{"CE", 0.987512, 1, 2}, {"DEF", 0.8405, 3, 4}})
	if err != nil {
		t.Fatal(err)
	}
	wellFormed(t, r)
	for _, want := range []string{">accuracy<", ">0.9875<", ">DEF<"} {
		if !strings.Contains(r, want) {
			t.Errorf("Records lacks %q: %s", want, r)
		}
	}
	if strings.Contains(r, "secret") || strings.Contains(r, "Skip") {
		t.Errorf("Records shows hidden fields: %s", r)
	}
	if _, err := Records(3); err == nil {
		t.Error("Records(3) did not fail")
	}
}

func TestExprTree(t *testing.T) {
	h := ProgramTree("a b + c *", rpn.Basic)
	wellFormed(t, h)
	if got := strings.Count(h, "<circle"); got != 5 {
		t.Errorf("%d nodes drawn, want 5", got)
	}
	if got := strings.Count(h, "<line"); got != 4 {
		t.Errorf("%d edges drawn, want 4", got)
	}
	if !strings.Contains(h, "((a + b) * c)") {
		t.Errorf("infix form missing: %s", h)
	}
	bad := ProgramTree("a +", rpn.Basic)
	if !strings.Contains(bad, "underflow") {
		t.Errorf("malformed program not reported: %s", bad)
	}
}

func TestTrace(t *testing.T) {
	h := Trace("a b + c *", rpn.Basic, rpn.Env{A: 2, B: 3, C: 4})
	wellFormed(t, h)
	for _, want := range []string{"<b>20</b>", "[2 3]", "[5 4]", "[20]"} {
		if !strings.Contains(h, want) {
			t.Errorf("trace lacks %q: %s", want, h)
		}
	}
	h = Trace("a b 0 / +", rpn.Ext, rpn.Env{A: 1, B: 2})
	wellFormed(t, h)
	if !strings.Contains(h, "division by zero") || !strings.Contains(h, ">error<") || !strings.Contains(h, ">not run<") {
		t.Errorf("runtime error not shown: %s", h)
	}
}

func TestSideBySide(t *testing.T) {
	cand, ref := rpn.Tokenize("a b - c *"), rpn.Tokenize("a b + c *")
	d := FirstDifference(cand, ref)
	if d != 2 {
		t.Fatalf("FirstDifference = %d, want 2", d)
	}
	h := SideBySide(cand, ref, d)
	wellFormed(t, h)
	if !strings.Contains(h, "font-weight:bold\">-</span>") {
		t.Errorf("divergence token not highlighted: %s", h)
	}
	if strings.Count(h, "color:#aaa") != 2 {
		t.Errorf("tokens after the divergence not greyed: %s", h)
	}
	if FirstDifference(ref, ref) != -1 || FirstDifference(ref, ref[:3]) != 3 {
		t.Error("FirstDifference on equal / prefix")
	}
}
