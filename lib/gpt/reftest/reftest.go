// Package reftest is an independent, plain-Go float64 GPT-2 for tests: it writes tiny random
// checkpoints in Hugging Face's layout (config.json + model.safetensors, by hand) and computes
// their logits straight from the equations, with loops, sharing no code with package gpt.
package reftest

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Tiny is a small GPT-2 with its weights by Hugging Face name, in Conv1D [in, out] layout.
type Tiny struct {
	Layers, Heads, Width, Context, Vocab int
	W                                    map[string][]float64
}

// NewTiny draws random weights (N(0, scale), LayerNorm gains around 1) from seed.
func NewTiny(layers, heads, width, context, vocab int, seed uint64) *Tiny {
	rng := rand.New(rand.NewPCG(seed, 1))
	m := &Tiny{Layers: layers, Heads: heads, Width: width, Context: context, Vocab: vocab, W: map[string][]float64{}}
	draw := func(name string, n int, mean, std float64) {
		v := make([]float64, n)
		for i := range v {
			v[i] = mean + std*rng.NormFloat64()
		}
		m.W[name] = v
	}
	C := width
	draw("transformer.wte.weight", vocab*C, 0, 0.5)
	draw("transformer.wpe.weight", context*C, 0, 0.3)
	for i := range layers {
		p := fmt.Sprintf("transformer.h.%d.", i)
		draw(p+"ln_1.weight", C, 1, 0.1)
		draw(p+"ln_1.bias", C, 0, 0.1)
		draw(p+"attn.c_attn.weight", C*3*C, 0, 0.3)
		draw(p+"attn.c_attn.bias", 3*C, 0, 0.1)
		draw(p+"attn.c_proj.weight", C*C, 0, 0.3)
		draw(p+"attn.c_proj.bias", C, 0, 0.1)
		draw(p+"ln_2.weight", C, 1, 0.1)
		draw(p+"ln_2.bias", C, 0, 0.1)
		draw(p+"mlp.c_fc.weight", C*4*C, 0, 0.3)
		draw(p+"mlp.c_fc.bias", 4*C, 0, 0.1)
		draw(p+"mlp.c_proj.weight", 4*C*C, 0, 0.2)
		draw(p+"mlp.c_proj.bias", C, 0, 0.1)
	}
	draw("transformer.ln_f.weight", C, 1, 0.1)
	draw("transformer.ln_f.bias", C, 0, 0.1)
	return m
}

// shape returns the Hugging Face shape of a weight.
func (m *Tiny) shape(name string) []int {
	C := m.Width
	for _, s := range []struct {
		suffix string
		dims   []int
	}{
		{"wte.weight", []int{m.Vocab, C}}, {"wpe.weight", []int{m.Context, C}},
		{"c_attn.weight", []int{C, 3 * C}}, {"c_attn.bias", []int{3 * C}},
		{"attn.c_proj.weight", []int{C, C}}, {"c_fc.weight", []int{C, 4 * C}},
		{"c_fc.bias", []int{4 * C}}, {"mlp.c_proj.weight", []int{4 * C, C}},
	} {
		if strings.HasSuffix(name, s.suffix) {
			return s.dims
		}
	}
	return []int{C}
}

// Write saves the model into dir as config.json + model.safetensors (float32), with
// lm_head.weight stored beside the embedding as transformers does for some checkpoints.
func (m *Tiny) Write(dir string) error {
	cfg := map[string]any{"model_type": "gpt2", "architectures": []string{"GPT2LMHeadModel"},
		"vocab_size": m.Vocab, "n_positions": m.Context, "n_embd": m.Width, "n_layer": m.Layers,
		"n_head": m.Heads, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
		"bos_token_id": m.Vocab - 1, "eos_token_id": m.Vocab - 1}
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		return err
	}
	names := make([]string, 0, len(m.W)+1)
	for n := range m.W {
		names = append(names, n)
	}
	names = append(names, "lm_head.weight")
	sort.Strings(names)
	header := map[string]any{}
	var data []byte
	for _, n := range names {
		src := n
		if n == "lm_head.weight" {
			src = "transformer.wte.weight"
		}
		shape := m.shape(src)
		start := len(data)
		for _, v := range m.W[src] {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(float32(v)))
		}
		header[n] = map[string]any{"dtype": "F32", "shape": shape, "data_offsets": []int{start, len(data)}}
	}
	hb, _ := json.Marshal(header)
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(hb)))
	return os.WriteFile(filepath.Join(dir, "model.safetensors"), append(append(out, hb...), data...), 0o644)
}

// f32 rounds to float32, as the checkpoint stores every weight.
func f32(v float64) float64 { return float64(float32(v)) }

// w returns weight name rounded to float32.
func (m *Tiny) w(name string) []float64 {
	out := make([]float64, len(m.W[name]))
	for i, v := range m.W[name] {
		out[i] = f32(v)
	}
	return out
}

// Logits computes the next-token logits [T][V] of ids at positions 0..T-1 in float64.
func (m *Tiny) Logits(ids []int) [][]float64 {
	C, T, H := m.Width, len(ids), m.Heads
	D := C / H
	wte, wpe := m.w("transformer.wte.weight"), m.w("transformer.wpe.weight")
	x := make([][]float64, T)
	for t, id := range ids {
		x[t] = make([]float64, C)
		for c := range C {
			x[t][c] = wte[id*C+c] + wpe[t*C+c]
		}
	}
	for l := range m.Layers {
		p := fmt.Sprintf("transformer.h.%d.", l)
		a := make([][]float64, T)
		for t := range T {
			a[t] = layerNorm(x[t], m.w(p+"ln_1.weight"), m.w(p+"ln_1.bias"))
		}
		qkv := matmul(a, m.w(p+"attn.c_attn.weight"), m.w(p+"attn.c_attn.bias"), 3*C)
		att := make([][]float64, T)
		for t := range T {
			att[t] = make([]float64, C)
			for h := range H {
				scores := make([]float64, t+1)
				for s := 0; s <= t; s++ {
					for d := range D {
						scores[s] += qkv[t][h*D+d] * qkv[s][C+h*D+d]
					}
					scores[s] /= math.Sqrt(float64(D))
				}
				probs := softmax(scores)
				for s := 0; s <= t; s++ {
					for d := range D {
						att[t][h*D+d] += probs[s] * qkv[s][2*C+h*D+d]
					}
				}
			}
		}
		proj := matmul(att, m.w(p+"attn.c_proj.weight"), m.w(p+"attn.c_proj.bias"), C)
		for t := range T {
			for c := range C {
				x[t][c] += proj[t][c]
			}
			a[t] = layerNorm(x[t], m.w(p+"ln_2.weight"), m.w(p+"ln_2.bias"))
		}
		hid := matmul(a, m.w(p+"mlp.c_fc.weight"), m.w(p+"mlp.c_fc.bias"), 4*C)
		for t := range T {
			for i, v := range hid[t] {
				hid[t][i] = 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
			}
		}
		out := matmul(hid, m.w(p+"mlp.c_proj.weight"), m.w(p+"mlp.c_proj.bias"), C)
		for t := range T {
			for c := range C {
				x[t][c] += out[t][c]
			}
		}
	}
	logits := make([][]float64, T)
	for t := range T {
		h := layerNorm(x[t], m.w("transformer.ln_f.weight"), m.w("transformer.ln_f.bias"))
		logits[t] = make([]float64, m.Vocab)
		for v := range m.Vocab {
			for c := range C {
				logits[t][v] += h[c] * wte[v*C+c]
			}
		}
	}
	return logits
}

// LogProbs returns log softmax of each row of logits.
func LogProbs(logits [][]float64) [][]float64 {
	out := make([][]float64, len(logits))
	for t, row := range logits {
		p := softmax(row)
		out[t] = make([]float64, len(row))
		for i := range row {
			out[t][i] = math.Log(p[i])
		}
	}
	return out
}

func matmul(x [][]float64, w, b []float64, out int) [][]float64 {
	res := make([][]float64, len(x))
	for t, row := range x {
		res[t] = make([]float64, out)
		copy(res[t], b)
		for i, xi := range row {
			for o := range out {
				res[t][o] += xi * w[i*out+o]
			}
		}
	}
	return res
}

func layerNorm(x, g, b []float64) []float64 {
	mean, vr := 0.0, 0.0
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		vr += (v - mean) * (v - mean)
	}
	vr /= float64(len(x))
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = (v-mean)/math.Sqrt(vr+1e-5)*g[i] + b[i]
	}
	return out
}

func softmax(x []float64) []float64 {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = max(mx, v)
	}
	out := make([]float64, len(x))
	sum := 0.0
	for i, v := range x {
		out[i] = math.Exp(v - mx)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}
