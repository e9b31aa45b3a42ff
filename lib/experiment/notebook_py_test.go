package experiment

import (
	"strings"
	"testing"

	"github.com/execfeed/execfeed/lib/pytask"
	"github.com/execfeed/execfeed/lib/rl"
)

func TestProgramHTML(t *testing.T) {
	src := "def f(xs):\n    total = 0\n    return total < 1\n"
	start := strings.Index(src, "total = 0")
	tests := []struct {
		name       string
		start, end int
		want       []string // substrings, in order
		not        []string
	}{
		{"line 2 blamed", start, start + len("total = 0"),
			[]string{`<span style="color:#999"> 1  </span>def f(xs):</span>`, `background:#fdd"><span style="color:#999"> 2  </span>    <b style="color:#b00">total = 0</b></span>`,
				`3  </span>    return total &lt; 1</span>`},
			[]string{"end of program"}},
		{"nothing blamed", -1, -1, []string{"    total = 0</span>"}, []string{"#fdd", "<b "}},
		{"the end blamed", len(src), len(src), []string{"⟨end of program⟩"}, []string{"<b style=\"color:#b00\">total"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := ProgramHTML(src, tc.start, tc.end)
			rest := h
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("ProgramHTML(%d, %d) lacks %q (in order) in\n%s", tc.start, tc.end, w, h)
				}
				rest = rest[i+len(w):]
			}
			for _, n := range tc.not {
				if strings.Contains(h, n) {
					t.Errorf("ProgramHTML(%d, %d) has %q:\n%s", tc.start, tc.end, n, h)
				}
			}
		})
	}
}

func TestHandPolicyTokenViews(t *testing.T) {
	if _, err := HandPolicy(RLConfig{Experiment: "rpn-egca"}, 1, nil, []string{"a"}); err == nil {
		t.Error("HandPolicy accepted an RPN experiment")
	}
	cfg, err := QuickRLConfig("py-egca")
	if err != nil {
		t.Fatal(err)
	}
	prompt := "the sum of the even numbers in xs"
	programs := []string{"def f(xs):\n    return sum(x for x in xs if x % 2 == 0)\n", "def f(xs):\n    return 0\n"}
	pol, err := HandPolicy(cfg, 1, []string{prompt}, programs)
	if err != nil {
		t.Fatal(err)
	}
	if pol.BatchSize() != 2 || pol.MaxTokens()%8 != 0 {
		t.Errorf("policy batch %d, max tokens %d: want 2 and a multiple of 8", pol.BatchSize(), pol.MaxTokens())
	}
	// RolloutOf needs no executor: a task of one prompt, not run.
	task := &rl.Task{Name: "t", Lang: pytask.Language{}, Prompts: []rl.Prompt{{ID: "t/0", Text: prompt, Reference: programs[0]}}}
	ro, err := rl.RolloutOf(pol, task, []int{0, 0}, programs)
	if err != nil {
		t.Fatal(err)
	}
	for r, prog := range programs {
		pieces, err := TokenPieces(ro, r)
		if err != nil {
			t.Fatal(err)
		}
		if len(pieces) != ro.Lengths[r] || pieces[len(pieces)-1] != "" || strings.Join(pieces, "") != prog {
			t.Errorf("row %d: pieces %q (%d, the row has %d positions) do not spell %q and end with the end token", r, pieces, len(pieces), ro.Lengths[r], prog)
		}
	}
	// Row 1: the first token weighs -1, the second is masked out, the rest 0.
	w, mask := make([]float32, len(ro.Tokens)), make([]float32, len(ro.Tokens))
	for k := range ro.Lengths[1] {
		mask[ro.T+k] = 1
	}
	w[ro.T], mask[ro.T+1] = -1, 0
	h, err := TokenWeightsHTML(ro, 1, w, mask, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`background:rgba(220,40,40,0.75);" title="token 0: -1.000">def</span>`, `line-through;" title="token 1: masked out"> f</span>`, "⟨end⟩"} {
		if !strings.Contains(h, want) {
			t.Errorf("TokenWeightsHTML lacks %q:\n%s", want, h)
		}
	}
	if strings.Count(h, "rgba(220,40,40") != 1 || strings.Contains(h, "rgba(40,160,60") {
		t.Errorf("TokenWeightsHTML colours other tokens than the first:\n%s", h)
	}
	// Errors, not panics: a row that is not there, weights of the wrong length, no policy.
	if _, err := TokenWeightsHTML(ro, 2, w, mask, 0); err == nil {
		t.Error("TokenWeightsHTML accepted row 2 of a 2-row rollout")
	}
	if _, err := TokenWeightsHTML(ro, 0, w[:3], nil, 0); err == nil {
		t.Error("TokenWeightsHTML accepted 3 weights")
	}
	bare, err := rl.RolloutOf(nil, task, []int{0}, programs[:1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TokenPieces(bare, 0); err == nil {
		t.Error("TokenPieces accepted a rollout without a policy")
	}
}

func TestPanels(t *testing.T) {
	h := Panels([]string{"<b>a</b>", ""}, []string{"<pre>1</pre>", "<pre>2</pre>"})
	if !strings.Contains(h, `<b>a</b></div><pre>1</pre>`) || !strings.Contains(h, `<div><pre>2</pre></div>`) {
		t.Errorf("Panels:\n%s", h)
	}
}
