package experiment

import (
	"fmt"
	"html"
	"math"
	"strings"

	"github.com/execfeed/execfeed/lib/bpe"
	"github.com/execfeed/execfeed/lib/gpt"
	"github.com/execfeed/execfeed/lib/pytask"
	"github.com/execfeed/execfeed/lib/rl"
)

// Helpers of the Python experiments' notebooks (notebooks/py_*.ipynb): the experiment's
// transformer for hand-written programs, and HTML views of a program with EGCA's blamed line
// and of a row's per-token advantages. They return HTML strings; kernel/display shows them.

// HandPolicy is the transformer of Python experiment cfg before any training (weights drawn
// from seed), with the tokenizer the experiment uses: a byte-level BPE trained on the task
// family's training descriptions and programs (cfg.GPT's size, cfg.DataSeed's family), or the
// checkpoint's with cfg.ModelDir. It is sized for the given prompts and programs (one row per
// program), so that rl.RolloutOf(policy, task, rows, programs) puts hand-written programs on the
// tokens the experiment's policy writes: what EGCA blames and a policy gradient weighs.
func HandPolicy(cfg RLConfig, seed int64, prompts, programs []string) (*gpt.Policy, error) {
	if !isPython(cfg.Experiment) || cfg.model() != ModelGPT {
		return nil, fmt.Errorf("%s: HandPolicy needs a Python experiment with the transformer", cfg.Experiment)
	}
	if len(programs) == 0 {
		return nil, fmt.Errorf("%s: HandPolicy: no programs", cfg.Experiment)
	}
	backend, err := Backend(cfg.Backend)
	if err != nil {
		return nil, err
	}
	gc := cfg.gptConfig()
	d := &gptData{cfg: gpt.Config{Layers: gc.Layers, Heads: gc.Heads, Width: gc.Width, Epsilon: 1e-5}}
	if cfg.ModelDir != "" {
		if d.tok, err = bpe.Load(cfg.ModelDir); err != nil {
			return nil, fmt.Errorf("%s: -model %s: %w", cfg.Experiment, cfg.ModelDir, err)
		}
	} else {
		g := pytask.DefaultGenConfig()
		g.Seed = cfg.DataSeed
		split, err := pytask.Generate(g)
		if err != nil {
			return nil, err
		}
		var texts []string
		for _, ex := range split.Train {
			texts = append(texts, ex.Description, ex.Code)
		}
		if d.tok, err = bpe.Train(texts, gc.BPEVocab); err != nil {
			return nil, fmt.Errorf("%s: training the BPE: %w", cfg.Experiment, err)
		}
	}
	promptLen, maxTokens := 1, 2
	for _, p := range prompts {
		promptLen = max(promptLen, 1+len(d.tok.Encode(p+"\n")))
	}
	for _, p := range programs {
		maxTokens = max(maxTokens, len(d.tok.Encode(p))+1)
	}
	round := func(n int) int { return (n + 7) / 8 * 8 }
	d.pc = gpt.PolicyConfig{Batch: len(programs), PromptLen: round(promptLen), MaxTokens: round(maxTokens), Sep: "\n"}
	d.cfg.Context = d.pc.PromptLen + d.pc.MaxTokens
	return newGPT(backend, cfg, d, seed)
}

// TokenPieces are the source texts that row r's policy tokens wrote, position by position, over
// the row's generated positions (Rollout.Lengths): piece t is what decoding token t added to the
// program (as Rollout.TokenSpan measures it); the end token's piece is "". It is an error when
// the rollout has no policy or no token row r.
func TokenPieces(ro *rl.Rollout, r int) ([]string, error) {
	if ro == nil || ro.Policy == nil || r < 0 || r >= ro.N || len(ro.Lengths) <= r || len(ro.Tokens) < (r+1)*ro.T {
		return nil, fmt.Errorf("experiment: TokenPieces: no token row %d (a rollout with a policy: rl.Sample, or rl.RolloutOf with one)", r)
	}
	row := ro.Tokens[r*ro.T : r*ro.T+ro.Lengths[r]]
	out := make([]string, len(row))
	prev := ""
	for t := range row {
		s := ro.Policy.Decode(row[:t+1])
		if strings.HasPrefix(s, prev) {
			out[t] = s[len(prev):]
		}
		prev = s
	}
	return out, nil
}

// ProgramHTML shows a program's source with line numbers and the line(s) holding the bytes
// [start, end) highlighted, with the span itself in bold red: the byte span a language's
// Divergence blames (rl.Language). A span at the end of the source (start >= its length) marks
// the program's end; a negative start highlights nothing.
func ProgramHTML(src string, start, end int) string {
	src = strings.TrimSuffix(src, "\n")
	var b strings.Builder
	b.WriteString(`<pre style="line-height:1.35;padding:4px;border:1px solid #ddd">`)
	off := 0
	lines := strings.Split(src, "\n")
	for i, line := range lines {
		lo, hi := off, off+len(line)
		off = hi + 1
		hit := start >= 0 && start < len(src) && start <= hi && max(end, start+1) > lo
		style := ""
		if hit {
			style = ` style="background:#fdd"`
		}
		fmt.Fprintf(&b, `<span%s><span style="color:#999">%2d  </span>`, style, i+1)
		if hit {
			s, e := max(start, lo), min(max(end, start+1), hi)
			b.WriteString(html.EscapeString(line[:s-lo]))
			fmt.Fprintf(&b, `<b style="color:#b00">%s</b>`, html.EscapeString(line[s-lo:max(s, e)-lo]))
			b.WriteString(html.EscapeString(line[max(s, e)-lo:]))
		} else {
			b.WriteString(html.EscapeString(line))
		}
		b.WriteString("</span>\n")
	}
	if start >= len(src) {
		fmt.Fprintf(&b, `<span style="background:#fdd"><span style="color:#999">    </span><b style="color:#b00">⟨end of program⟩</b></span>`+"\n")
	}
	b.WriteString("</pre>")
	return b.String()
}

// TokenWeightsHTML shows row r of a rollout as its policy tokens laid out as the program text,
// each token's background coloured by its weight w[r*T+t] (an advantage, a policy-gradient
// weight): red for negative, green for positive, stronger for larger |w| (scaled by scale, or by
// the row's largest |w| when scale is 0), none for 0. Tokens where mask is 0 are grey and struck
// through (masked out of the loss); mask may be nil. Token boundaries are thin outlines; the end
// token shows as ⟨end⟩. Each token's title holds its weight.
func TokenWeightsHTML(ro *rl.Rollout, r int, w, mask []float32, scale float64) (string, error) {
	pieces, err := TokenPieces(ro, r)
	if err != nil {
		return "", err
	}
	if len(w) != len(ro.Tokens) || (mask != nil && len(mask) != len(ro.Tokens)) {
		return "", fmt.Errorf("experiment: TokenWeightsHTML: %d weights and %d mask entries for %d positions", len(w), len(mask), len(ro.Tokens))
	}
	if scale <= 0 {
		for t := range pieces {
			scale = max(scale, math.Abs(float64(w[r*ro.T+t])))
		}
	}
	var b strings.Builder
	b.WriteString(`<pre style="line-height:1.6;padding:4px;border:1px solid #ddd">`)
	for t, piece := range pieces {
		k := r*ro.T + t
		text := piece
		if t == len(pieces)-1 && piece == "" {
			text = "⟨end⟩"
		}
		v := float64(w[k])
		style := "outline:1px solid #ccc;"
		switch {
		case mask != nil && mask[k] == 0:
			style += "color:#aaa;text-decoration:line-through;"
		case v < 0 && scale > 0:
			style += fmt.Sprintf("background:rgba(220,40,40,%.2f);", 0.15+0.6*min(1, -v/scale))
		case v > 0 && scale > 0:
			style += fmt.Sprintf("background:rgba(40,160,60,%.2f);", 0.15+0.6*min(1, v/scale))
		}
		title := fmt.Sprintf("token %d: %+.3f", t, v)
		if mask != nil && mask[k] == 0 {
			title = fmt.Sprintf("token %d: masked out", t)
		}
		// A token holding a newline closes its outline at the line's end.
		for i, part := range strings.Split(text, "\n") {
			if i > 0 {
				b.WriteString("\n")
			}
			if part != "" || text == "" {
				fmt.Fprintf(&b, `<span style="%s" title="%s">%s</span>`, style, html.EscapeString(title), html.EscapeString(part))
			}
		}
	}
	b.WriteString("</pre>")
	return b.String(), nil
}

// Panels lays out HTML blocks side by side (wrapping when the page is narrow), each under its
// caption (HTML; "" for none): e.g. a candidate's ProgramHTML beside its reference's.
func Panels(captions, blocks []string) string {
	var b strings.Builder
	b.WriteString(`<div style="display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start">`)
	for i, block := range blocks {
		b.WriteString(`<div>`)
		if i < len(captions) && captions[i] != "" {
			fmt.Fprintf(&b, `<div style="font-size:13px;margin-bottom:2px">%s</div>`, captions[i])
		}
		b.WriteString(block)
		b.WriteString(`</div>`)
	}
	b.WriteString(`</div>`)
	return b.String()
}
