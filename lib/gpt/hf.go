package gpt

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// hfConfig is the part of a Hugging Face GPT2Config (config.json) this package reads and writes.
type hfConfig struct {
	ModelType     string   `json:"model_type"`
	Architectures []string `json:"architectures,omitempty"`
	VocabSize     int      `json:"vocab_size"`
	NPositions    int      `json:"n_positions"`
	NCtx          int      `json:"n_ctx,omitempty"`
	NEmbd         int      `json:"n_embd"`
	NLayer        int      `json:"n_layer"`
	NHead         int      `json:"n_head"`
	NInner        *int     `json:"n_inner"`
	Activation    string   `json:"activation_function"`
	Epsilon       float64  `json:"layer_norm_epsilon"`
	BOS           int      `json:"bos_token_id"`
	EOS           int      `json:"eos_token_id"`
	ScaleByIdx    bool     `json:"scale_attn_by_inverse_layer_idx,omitempty"`
	ReorderUpcast bool     `json:"reorder_and_upcast_attn,omitempty"`
	TieEmbeddings *bool    `json:"tie_word_embeddings,omitempty"`
	ScaleWeights  *bool    `json:"scale_attn_weights,omitempty"`
}

// ReadConfig reads dir/config.json and checks that it describes a GPT-2 this package can run:
// model_type gpt2, tanh GELU, 4x MLP, tied embeddings, standard attention scaling.
func ReadConfig(dir string) (Config, error) {
	path := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("gpt: checkpoint config: %w", err)
	}
	var hc hfConfig
	if err := json.Unmarshal(b, &hc); err != nil {
		return Config{}, fmt.Errorf("gpt: %s: %w", path, err)
	}
	bad := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("gpt: %s: unsupported architecture: %s", path, fmt.Sprintf(format, args...))
	}
	switch {
	case hc.ModelType != "gpt2":
		return bad("model_type %q (architectures %v); only GPT-2 (model_type gpt2) is supported", hc.ModelType, hc.Architectures)
	case hc.Activation != "gelu_new" && hc.Activation != "gelu_pytorch_tanh" && hc.Activation != "gelu_fast":
		return bad("activation_function %q; GPT-2's tanh GELU (gelu_new) is the one implemented", hc.Activation)
	case hc.NInner != nil && *hc.NInner != 4*hc.NEmbd:
		return bad("n_inner %d; the MLP must be 4 x n_embd = %d", *hc.NInner, 4*hc.NEmbd)
	case hc.ScaleByIdx || hc.ReorderUpcast:
		return bad("scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are not implemented")
	case hc.ScaleWeights != nil && !*hc.ScaleWeights:
		return bad("scale_attn_weights false is not implemented")
	case hc.TieEmbeddings != nil && !*hc.TieEmbeddings:
		return bad("tie_word_embeddings false: the output layer must be the token embedding")
	}
	eps := hc.Epsilon
	if eps == 0 {
		eps = 1e-5
	}
	cfg := Config{Layers: hc.NLayer, Heads: hc.NHead, Width: hc.NEmbd, Context: hc.NPositions, Vocab: hc.VocabSize, Epsilon: eps}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// writeConfig writes dir/config.json for cfg, loadable by transformers' GPT2LMHeadModel.
func writeConfig(dir string, cfg Config, eos int) error {
	inner := 4 * cfg.Width
	hc := hfConfig{ModelType: "gpt2", Architectures: []string{"GPT2LMHeadModel"}, VocabSize: cfg.Vocab,
		NPositions: cfg.Context, NCtx: cfg.Context, NEmbd: cfg.Width, NLayer: cfg.Layers, NHead: cfg.Heads,
		NInner: &inner, Activation: "gelu_new", Epsilon: cfg.Epsilon, BOS: eos, EOS: eos}
	b, err := json.MarshalIndent(hc, "", "  ")
	if err != nil {
		return fmt.Errorf("gpt: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
}

// hfName maps a variable path under the model's scope (e.g. /gpt/h0/attn/c_attn/weight) to its
// Hugging Face name (transformer.h.0.attn.c_attn.weight).
func hfName(path string) string {
	parts := strings.Split(strings.TrimPrefix(path, "/"+Scope+"/"), "/")
	if n, err := strconv.Atoi(strings.TrimPrefix(parts[0], "h")); err == nil && strings.HasPrefix(parts[0], "h") {
		parts = append([]string{"h", strconv.Itoa(n)}, parts[1:]...)
	}
	return "transformer." + strings.Join(parts, ".")
}

// varPath is the inverse of hfName; names without the "transformer." prefix (a GPT2Model's
// state dict, as in the original gpt2 repository) are accepted too.
func varPath(name string) string {
	name = strings.TrimPrefix(name, "transformer.")
	parts := strings.Split(name, ".")
	if len(parts) > 2 && parts[0] == "h" {
		parts = append([]string{"h" + parts[1]}, parts[2:]...)
	}
	return "/" + Scope + "/" + strings.Join(parts, "/")
}

// tensorInfo is one entry of a safetensors header.
type tensorInfo struct {
	DType   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// readSafetensors reads every tensor of a .safetensors file as float32 (F32, F16 and BF16 are
// converted), with its shape.
func readSafetensors(path string) (map[string]*tensors.Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gpt: checkpoint weights: %w", err)
	}
	if len(b) < 8 {
		return nil, fmt.Errorf("gpt: %s: too short for a safetensors file", path)
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(len(b)-8) {
		return nil, fmt.Errorf("gpt: %s: header length %d past the end of the file", path, n)
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &header); err != nil {
		return nil, fmt.Errorf("gpt: %s: header: %w", path, err)
	}
	data := b[8+n:]
	out := map[string]*tensors.Tensor{}
	for name, raw := range header {
		if name == "__metadata__" {
			continue
		}
		var ti tensorInfo
		if err := json.Unmarshal(raw, &ti); err != nil {
			return nil, fmt.Errorf("gpt: %s: tensor %s: %w", path, name, err)
		}
		size := 1
		for _, d := range ti.Shape {
			size *= d
		}
		width := map[string]int{"F32": 4, "F16": 2, "BF16": 2}[ti.DType]
		if width == 0 {
			if strings.HasSuffix(name, ".attn.bias") || strings.HasSuffix(name, ".attn.masked_bias") {
				continue // old checkpoints store the causal mask as a buffer
			}
			return nil, fmt.Errorf("gpt: %s: tensor %s has dtype %s (want F32, F16 or BF16)", path, name, ti.DType)
		}
		lo, hi := ti.Offsets[0], ti.Offsets[1]
		if lo < 0 || hi > int64(len(data)) || hi-lo != int64(size*width) {
			return nil, fmt.Errorf("gpt: %s: tensor %s: offsets %v do not hold %v %s", path, name, ti.Offsets, ti.Shape, ti.DType)
		}
		raw := data[lo:hi]
		vals := make([]float32, size)
		for i := range vals {
			switch ti.DType {
			case "F32":
				vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			case "BF16":
				vals[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16)
			case "F16":
				vals[i] = halfToFloat(binary.LittleEndian.Uint16(raw[2*i:]))
			}
		}
		out[name] = tensors.FromFlatDataAndDimensions(vals, ti.Shape...)
	}
	return out, nil
}

// halfToFloat converts an IEEE 754 half-precision number to float32.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := int(h>>10) & 0x1f
	frac := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp == 0:
		v := float32(frac) / (1 << 24)
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | uint32(exp-15+127)<<23 | frac<<13)
}

// writeSafetensors writes float32 tensors to path in the safetensors format, names sorted.
func writeSafetensors(path string, ts map[string]*tensors.Tensor) error {
	names := make([]string, 0, len(ts))
	for n := range ts {
		names = append(names, n)
	}
	sort.Strings(names)
	header := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var data []byte
	for _, n := range names {
		vals := tensors.MustCopyFlatData[float32](ts[n])
		start := len(data)
		for _, v := range vals {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
		}
		header[n] = tensorInfo{DType: "F32", Shape: slices.Clone(ts[n].Shape().Dimensions), Offsets: [2]int64{int64(start), int64(len(data))}}
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("gpt: %w", err)
	}
	for len(hb)%8 != 0 {
		hb = append(hb, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(hb)))
	out = append(append(out, hb...), data...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return fmt.Errorf("gpt: %w", err)
	}
	return nil
}

// ErrNotCheckpoint is wrapped by LoadWeights when a directory lacks model.safetensors.
var ErrNotCheckpoint = errors.New("not a Hugging Face checkpoint")

// LoadWeights reads dir/model.safetensors into store under Scope, checking every tensor's shape
// against cfg: a checkpoint that misses a weight, or has one of another shape, is an error that
// names it. lm_head.weight, when present, must equal the token embedding (tied).
func LoadWeights(store *model.Store, cfg Config, dir string) error {
	path := filepath.Join(dir, "model.safetensors")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("gpt: %s: %w: no model.safetensors (pytorch_model.bin is not read; convert it with safetensors)", dir, ErrNotCheckpoint)
	}
	ts, err := readSafetensors(path)
	if err != nil {
		return err
	}
	want := expectedShapes(cfg)
	seen := map[string]bool{}
	for name, t := range ts {
		if name == "lm_head.weight" {
			continue
		}
		p := varPath(name)
		dims, ok := want[p]
		if !ok {
			return fmt.Errorf("gpt: %s: unexpected tensor %s (is it a GPT-2 of %d layers?)", path, name, cfg.Layers)
		}
		if !slices.Equal(dims, t.Shape().Dimensions) {
			return fmt.Errorf("gpt: %s: tensor %s has shape %v, config.json implies %v", path, name, t.Shape().Dimensions, dims)
		}
		if err := setVariable(store, p, t); err != nil {
			return fmt.Errorf("gpt: %s: %w", path, err)
		}
		seen[p] = true
	}
	for p := range want {
		if !seen[p] {
			return fmt.Errorf("gpt: %s: missing tensor %s", path, hfName(p))
		}
	}
	if head, ok := ts["lm_head.weight"]; ok {
		wte := ts["transformer.wte.weight"]
		if wte == nil {
			wte = ts["wte.weight"]
		}
		if !slices.Equal(tensors.MustCopyFlatData[float32](head), tensors.MustCopyFlatData[float32](wte)) {
			return fmt.Errorf("gpt: %s: lm_head.weight differs from wte.weight; untied output layers are not supported", path)
		}
	}
	return nil
}

// setVariable sets (creating it if needed) the variable at path.
func setVariable(store *model.Store, path string, t *tensors.Tensor) error {
	if v := store.GetVariable(path); v != nil {
		return v.SetValue(t)
	}
	_, err := store.CreateVariable(path, t)
	return err
}

// expectedShapes maps every weight's variable path to its shape for cfg.
func expectedShapes(cfg Config) map[string][]int {
	C := cfg.Width
	want := map[string][]int{
		"/gpt/wte/weight": {cfg.Vocab, C}, "/gpt/wpe/weight": {cfg.Context, C},
		"/gpt/ln_f/weight": {C}, "/gpt/ln_f/bias": {C},
	}
	for i := range cfg.Layers {
		h := fmt.Sprintf("/gpt/h%d/", i)
		for name, dims := range map[string][]int{
			"ln_1/weight": {C}, "ln_1/bias": {C}, "ln_2/weight": {C}, "ln_2/bias": {C},
			"attn/c_attn/weight": {C, 3 * C}, "attn/c_attn/bias": {3 * C},
			"attn/c_proj/weight": {C, C}, "attn/c_proj/bias": {C},
			"mlp/c_fc/weight": {C, 4 * C}, "mlp/c_fc/bias": {4 * C},
			"mlp/c_proj/weight": {4 * C, C}, "mlp/c_proj/bias": {C},
		} {
			want[h+name] = dims
		}
	}
	return want
}

// SaveWeights writes the model's weights from store as dir/config.json + dir/model.safetensors
// in the layout of transformers' GPT2LMHeadModel (lm_head tied, so not stored), creating dir.
// eos is written as bos/eos_token_id.
func SaveWeights(store *model.Store, cfg Config, dir string, eos int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("gpt: %w", err)
	}
	ts := map[string]*tensors.Tensor{}
	for p := range expectedShapes(cfg) {
		v := store.GetVariable(p)
		if v == nil {
			return fmt.Errorf("gpt: saving %s: the store has no variable %s (run the model once first)", dir, p)
		}
		t, err := v.Value()
		if err != nil {
			return fmt.Errorf("gpt: saving %s: %w", p, err)
		}
		if t.DType() != dtypes.Float32 {
			return fmt.Errorf("gpt: saving %s: dtype %s", p, t.DType())
		}
		ts[hfName(p)] = t
	}
	if err := writeConfig(dir, cfg, eos); err != nil {
		return err
	}
	return writeSafetensors(filepath.Join(dir, "model.safetensors"), ts)
}
