package gpt_test

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute/gobackend"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/execfeed/execfeed/lib/gpt"
	"github.com/execfeed/execfeed/lib/gpt/reftest"
	"github.com/execfeed/execfeed/lib/trainer"
)

// tinyCheckpoint writes reftest's random tiny GPT-2 (2 layers, 2 heads, width 8, context 16,
// vocabulary 11) in Hugging Face's layout and loads it.
func tinyCheckpoint(t *testing.T) (*reftest.Tiny, *gpt.Model, *model.Store, string) {
	t.Helper()
	ref := reftest.NewTiny(2, 2, 8, 16, 11, 7)
	dir := t.TempDir()
	if err := ref.Write(dir); err != nil {
		t.Fatal(err)
	}
	cfg, err := gpt.ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	store, err := trainer.NewStore(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := gpt.LoadWeights(store, cfg, dir); err != nil {
		t.Fatal(err)
	}
	return ref, &gpt.Model{Cfg: cfg}, store, dir
}

// logits runs Model.Logits on rows of ids and returns [B][T][V].
func logits(t *testing.T, m *gpt.Model, store *model.Store, rows [][]int32) [][][]float32 {
	t.Helper()
	exec, err := trainer.NewExec(gobackend.GetBackend(), store, "logits", func(root *model.Scope, in []*Node) []*Node {
		return []*Node{m.Logits(root.In(gpt.Scope), in[0])}
	})
	if err != nil {
		t.Fatal(err)
	}
	B, T := len(rows), len(rows[0])
	flat := make([]int32, 0, B*T)
	for _, r := range rows {
		flat = append(flat, r...)
	}
	res, err := exec.Call(tensors.FromFlatDataAndDimensions(flat, B, T))
	if err != nil {
		t.Fatal(err)
	}
	return res[0].Value().([][][]float32)
}

// TestForwardMatchesEquations loads a checkpoint written in Hugging Face's layout with known
// weights and compares the logits and log-probabilities with reftest's float64 loops.
func TestForwardMatchesEquations(t *testing.T) {
	ref, m, store, _ := tinyCheckpoint(t)
	ids := []int32{3, 1, 4, 1, 5, 9, 2, 6, 5, 3}
	got := logits(t, m, store, [][]int32{ids})[0]
	want := ref.Logits(toInts(ids))
	wantLP := reftest.LogProbs(want)
	worst := 0.0
	for i := range want {
		lp := logSoftmax(got[i])
		for v := range want[i] {
			worst = max(worst, math.Abs(float64(got[i][v])-want[i][v]), math.Abs(lp[v]-wantLP[i][v]))
		}
	}
	if worst > 2e-4 {
		t.Fatalf("largest difference from the equations %.2g, want < 2e-4", worst)
	}
	if spread := want[0][0] - want[0][1]; math.Abs(spread) < 0.01 {
		t.Fatalf("reference logits too flat (%g) to test anything", spread)
	}
}

// TestCausalMask changes the last tokens of a row: no earlier position's logits may change.
func TestCausalMask(t *testing.T) {
	_, m, store, _ := tinyCheckpoint(t)
	a := []int32{1, 2, 3, 4, 5, 6, 7, 8}
	b := []int32{1, 2, 3, 4, 5, 10, 0, 9}
	out := logits(t, m, store, [][]int32{a, b})
	for pos := range a {
		diff := 0.0
		for v := range out[0][pos] {
			diff = max(diff, math.Abs(float64(out[0][pos][v]-out[1][pos][v])))
		}
		if pos < 5 && diff != 0 {
			t.Errorf("position %d changed by %g when only positions >= 5 changed", pos, diff)
		}
		if pos >= 5 && diff < 1e-3 {
			t.Errorf("position %d did not change (%g) although its own token did", pos, diff)
		}
	}
}

// TestKVCacheEqualsFullRecompute samples with the key/value cache from left-padded prompts of
// different lengths and checks every step's logits against a full forward pass over the prompt
// and the tokens chosen so far, and one row against the float64 equations.
func TestKVCacheEqualsFullRecompute(t *testing.T) {
	ref, m, store, _ := tinyCheckpoint(t)
	backend := gobackend.GetBackend()
	const B, P, N = 3, 5, 6
	prompts := [][]int32{{10, 1, 2, 3, 4}, {10, 7}, {10, 5, 5}}
	lengths := make([]int32, B)
	flat := make([]int32, B*P)
	for r, p := range prompts {
		lengths[r] = int32(len(p))
		copy(flat[r*P+P-len(p):], p) // left padding with id 0
	}
	for _, greedy := range []bool{true, false} {
		exec, err := trainer.NewExec(backend, store, "sample", func(root *model.Scope, in []*Node) []*Node {
			scope := root.In(gpt.Scope)
			gen := m.Sample(scope, in[0], in[1], in[2], N, 99, gpt.Sampling{Greedy: greedy})
			full := m.PromptedLogits(scope, in[0], in[1], gen.Tokens)
			return []*Node{gen.Tokens, gen.Logits, full, gen.LogProbs}
		})
		if err != nil {
			t.Fatal(err)
		}
		res, err := exec.Call(tensors.FromFlatDataAndDimensions(flat, B, P), tensors.FromFlatDataAndDimensions(lengths, B), float32(1))
		if err != nil {
			t.Fatal(err)
		}
		toks := res[0].Value().([][]int32)
		cached, full := res[1].Value().([][][]float32), res[2].Value().([][][]float32)
		lps := res[3].Value().([][]float32)
		worst := 0.0
		for r := range B {
			row := append(toInts(prompts[r]), toInts(toks[r])...)
			eq := ref.Logits(row)
			for s := range N {
				lp := logSoftmax(cached[r][s])
				if d := math.Abs(lp[toks[r][s]] - float64(lps[r][s])); d > 1e-4 {
					t.Errorf("greedy=%v row %d step %d: returned log-prob %g, logits give %g", greedy, r, s, lps[r][s], lp[toks[r][s]])
				}
				for v := range cached[r][s] {
					worst = max(worst, math.Abs(float64(cached[r][s][v]-full[r][s][v])))
					worst = max(worst, math.Abs(float64(cached[r][s][v])-eq[len(prompts[r])-1+s][v]))
				}
			}
		}
		if worst > 2e-4 {
			t.Errorf("greedy=%v: cached-step logits differ from full recomputation by %.2g", greedy, worst)
		}
		t.Logf("greedy=%v tokens %v, largest difference %.2g", greedy, toks, worst)
	}
}

// TestLossFalls trains a from-scratch model on a tiny repeated corpus: the causal-LM loss on
// the completion tokens must fall well below its start (ln V for a fresh model).
func TestLossFalls(t *testing.T) {
	m := &gpt.Model{Cfg: gpt.Config{Layers: 2, Heads: 2, Width: 32, Context: 16, Vocab: 12, Epsilon: 1e-5}}
	store, err := trainer.NewStore(3)
	if err != nil {
		t.Fatal(err)
	}
	step, err := m.LMStep(gobackend.GetBackend(), store, optimizer.Adam().LearningRate(3e-3).Done())
	if err != nil {
		t.Fatal(err)
	}
	tokens, mask := lmBatch()
	first, last := 0.0, 0.0
	for i := range 60 {
		vals, err := step.Run(tokens, mask)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = vals[0]
		}
		last = vals[0]
	}
	t.Logf("loss %.3f -> %.3f", first, last)
	if math.Abs(first-math.Log(12)) > 0.3 || last > 0.3*first {
		t.Fatalf("loss %.3f -> %.3f: want a start near ln 12 = %.3f and a fall below 30%% of it", first, last, math.Log(12))
	}
}

// lmBatch is 4 rows "prompt | completion": the prompt (ids 1..3) is masked out of the loss and
// the completion counts the prompt's first token onwards.
func lmBatch() (*tensors.Tensor, *tensors.Tensor) {
	const B, L = 4, 10
	toks := make([]int32, B*(L+1))
	mask := make([]float32, B*L)
	for r := range B {
		toks[r*(L+1)] = 11
		toks[r*(L+1)+1] = int32(1 + r%3)
		for i := 2; i <= L; i++ {
			toks[r*(L+1)+i] = int32(4 + (int(toks[r*(L+1)+1])+i)%7)
			mask[r*L+i-1] = 1
		}
	}
	return tensors.FromFlatDataAndDimensions(toks, B, L+1), tensors.FromFlatDataAndDimensions(mask, B, L)
}

// TestCheckpointSameNextStep trains a few steps, saves the whole store, loads it into a fresh
// store and checks that the next step gives the loss the uninterrupted run gives.
func TestCheckpointSameNextStep(t *testing.T) {
	m := &gpt.Model{Cfg: gpt.Config{Layers: 1, Heads: 2, Width: 16, Context: 16, Vocab: 12, Epsilon: 1e-5}}
	backend := gobackend.GetBackend()
	tokens, mask := lmBatch()
	run := func(store *model.Store, n int) []float64 {
		step, err := m.LMStep(backend, store, optimizer.Adam().LearningRate(1e-2).Done())
		if err != nil {
			t.Fatal(err)
		}
		var losses []float64
		for range n {
			vals, err := step.Run(tokens, mask)
			if err != nil {
				t.Fatal(err)
			}
			losses = append(losses, vals[0])
		}
		return losses
	}
	store, _ := trainer.NewStore(5)
	run(store, 3)
	path := filepath.Join(t.TempDir(), "ckpt.gob")
	if err := trainer.Save(store, path); err != nil {
		t.Fatal(err)
	}
	cont := run(store, 2)
	fresh, _ := trainer.NewStore(99)
	if err := trainer.Load(fresh, path); err != nil {
		t.Fatal(err)
	}
	again := run(fresh, 2)
	if cont[0] != again[0] || cont[1] != again[1] {
		t.Fatalf("after load: losses %v, uninterrupted %v", again, cont)
	}
	// The Hugging Face export of the same weights gives the same logits.
	dir := t.TempDir()
	if err := gpt.SaveWeights(store, m.Cfg, dir, 11); err != nil {
		t.Fatal(err)
	}
	cfg, err := gpt.ReadConfig(dir)
	if err != nil || cfg != m.Cfg {
		t.Fatalf("config round trip: %+v, %v; want %+v", cfg, err, m.Cfg)
	}
	hf, _ := trainer.NewStore(1)
	if err := gpt.LoadWeights(hf, cfg, dir); err != nil {
		t.Fatal(err)
	}
	row := [][]int32{{11, 1, 4, 5, 6}}
	a, b := logits(t, m, store, row), logits(t, m, hf, row)
	for i := range a[0] {
		for v := range a[0][i] {
			if a[0][i][v] != b[0][i][v] {
				t.Fatalf("logits after Hugging Face save/load differ at %d,%d: %g vs %g", i, v, a[0][i][v], b[0][i][v])
			}
		}
	}
}

// TestCheckpointErrors: a missing file, another architecture and a missing tensor are errors
// that say what is wrong.
func TestCheckpointErrors(t *testing.T) {
	_, _, _, dir := tinyCheckpoint(t)
	cfg, _ := gpt.ReadConfig(dir)
	store, _ := trainer.NewStore(1)
	empty := t.TempDir()
	if _, err := gpt.ReadConfig(empty); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("missing config: %v", err)
	}
	if err := gpt.LoadWeights(store, cfg, empty); err == nil || !strings.Contains(err.Error(), "model.safetensors") {
		t.Errorf("missing weights: %v", err)
	}
	llama := filepath.Join(t.TempDir(), "config.json")
	_ = os.WriteFile(llama, []byte(`{"model_type": "llama", "architectures": ["LlamaForCausalLM"]}`), 0o644)
	if _, err := gpt.ReadConfig(filepath.Dir(llama)); err == nil || !strings.Contains(err.Error(), "unsupported architecture") {
		t.Errorf("llama config: %v", err)
	}
	small := cfg
	small.Layers = 3
	if err := gpt.LoadWeights(store, small, dir); err == nil || !strings.Contains(err.Error(), "missing tensor transformer.h.2.") {
		t.Errorf("config with more layers than the weights: %v", err)
	}
}

func toInts(ids []int32) []int {
	out := make([]int, len(ids))
	for i, v := range ids {
		out[i] = int(v)
	}
	return out
}

func logSoftmax(row []float32) []float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		mx = max(mx, float64(v))
	}
	sum := 0.0
	for _, v := range row {
		sum += math.Exp(float64(v) - mx)
	}
	out := make([]float64, len(row))
	for i, v := range row {
		out[i] = float64(v) - mx - math.Log(sum)
	}
	return out
}
