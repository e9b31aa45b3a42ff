package gpt

import (
	"fmt"
	"strings"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/execfeed/execfeed/lib/bpe"
	"github.com/execfeed/execfeed/lib/trainer"
)

// PolicyConfig fixes the shapes and the text format of a Policy.
type PolicyConfig struct {
	Batch     int // rows of every call
	PromptLen int // P: prompt tokens, EOS-as-BOS and Sep included; longer prompts are an error
	MaxTokens int // T: tokens of a generated row, the end token included
	// Sep is appended to every prompt before it is encoded (e.g. "\n" between a description and
	// its program; "" for a code model that continues a function header).
	Sep string
	// Stop strings end a generated row at the first token whose text completes one of them
	// (e.g. "\ndef " for one Python function); EOS always ends a row.
	Stop []string
	// Sampling: top-k and top-p truncation for temperature > 0.
	Sampling Sampling
}

// Policy is a GPT-2 model with its tokenizer and weights, seen by the execution-feedback methods
// through rl.Policy. The model reads "EOS prompt Sep" and writes the program, then EOS.
type Policy struct {
	Model   *Model
	Tok     *bpe.Tokenizer
	Cfg     PolicyConfig
	backend compute.Backend
	store   *model.Store
	execs   map[bool]*model.Exec // sampler graphs, by greedy
}

// NewPolicy wraps a model whose weights are (or will be created) in store under Scope.
func NewPolicy(backend compute.Backend, store *model.Store, m *Model, tok *bpe.Tokenizer, cfg PolicyConfig) (*Policy, error) {
	switch {
	case tok.EOS < 0:
		return nil, bpe.ErrNoEOS
	case tok.Size() > m.Cfg.Vocab:
		return nil, fmt.Errorf("gpt: tokenizer of %d ids does not fit the model's vocabulary of %d", tok.Size(), m.Cfg.Vocab)
	case cfg.Batch < 1 || cfg.PromptLen < 1 || cfg.MaxTokens < 2:
		return nil, fmt.Errorf("gpt: policy needs batch >= 1, prompt length >= 1, max tokens >= 2: %+v", cfg)
	case cfg.PromptLen+cfg.MaxTokens > m.Cfg.Context:
		return nil, fmt.Errorf("gpt: prompt %d + program %d tokens exceed the model's context of %d", cfg.PromptLen, cfg.MaxTokens, m.Cfg.Context)
	}
	return &Policy{Model: m, Tok: tok, Cfg: cfg, backend: backend, store: store, execs: map[bool]*model.Exec{}}, nil
}

// Scratch makes a policy with fresh GPT-2-initialised weights drawn from seed; cfg.Vocab is set
// to the tokenizer's size.
func Scratch(backend compute.Backend, cfg Config, tok *bpe.Tokenizer, seed int64, pc PolicyConfig) (*Policy, error) {
	cfg.Vocab = tok.Size()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	store, err := trainer.NewStore(seed)
	if err != nil {
		return nil, err
	}
	return NewPolicy(backend, store, &Model{Cfg: cfg}, tok, pc)
}

// Load reads a Hugging Face GPT-2 checkpoint directory (config.json, model.safetensors, and
// vocab.json + merges.txt or tokenizer.json) into a policy; seed drives sampling.
func Load(backend compute.Backend, dir string, seed int64, pc PolicyConfig) (*Policy, error) {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	tok, err := bpe.Load(dir)
	if err != nil {
		return nil, err
	}
	store, err := trainer.NewStore(seed)
	if err != nil {
		return nil, err
	}
	if err := LoadWeights(store, cfg, dir); err != nil {
		return nil, err
	}
	return NewPolicy(backend, store, &Model{Cfg: cfg}, tok, pc)
}

// Save writes the policy's weights and tokenizer as a Hugging Face checkpoint directory.
func (p *Policy) Save(dir string) error {
	if err := SaveWeights(p.store, p.Model.Cfg, dir, int(p.Tok.EOS)); err != nil {
		return err
	}
	return p.Tok.Save(dir)
}

// Backend is the compute backend of every call.
func (p *Policy) Backend() compute.Backend { return p.backend }

// Store holds the weights, under TrainedScope.
func (p *Policy) Store() *model.Store { return p.store }

// TrainedScope is "/gpt".
func (p *Policy) TrainedScope() string { return "/" + Scope }

// BatchSize is the number of rows of every call.
func (p *Policy) BatchSize() int { return p.Cfg.Batch }

// MaxTokens is the length of a generated row.
func (p *Policy) MaxTokens() int { return p.Cfg.MaxTokens }

// VocabSize is the number of ids of the model's vocabulary.
func (p *Policy) VocabSize() int { return p.Model.Cfg.Vocab }

// NumInputs is 3: prompts [B,P] (left-padded), their lengths [B], program ids [B,T].
func (p *Policy) NumInputs() int { return 3 }

// promptIDs encodes prompts as "EOS prompt Sep", padding the batch with copies of row 0.
func (p *Policy) promptIDs(prompts []string) ([][]int32, error) {
	if len(prompts) == 0 || len(prompts) > p.Cfg.Batch {
		return nil, fmt.Errorf("gpt: %d prompts for a batch of %d", len(prompts), p.Cfg.Batch)
	}
	rows := make([][]int32, p.Cfg.Batch)
	for i := range rows {
		text := prompts[0]
		if i < len(prompts) {
			text = prompts[i]
		}
		ids := append([]int32{p.Tok.EOS}, p.Tok.Encode(text+p.Cfg.Sep)...)
		if len(ids) > p.Cfg.PromptLen {
			return nil, fmt.Errorf("gpt: prompt %d is %d tokens, more than the policy's %d: %.60q", i, len(ids), p.Cfg.PromptLen, text)
		}
		rows[i] = ids
	}
	return rows, nil
}

// leftPad lays rows out [B,P] with padding (id 0) on the left, and their lengths.
func (p *Policy) leftPad(rows [][]int32) (*tensors.Tensor, *tensors.Tensor) {
	B, P := len(rows), p.Cfg.PromptLen
	flat, lengths := make([]int32, B*P), make([]int32, B)
	for r, ids := range rows {
		copy(flat[r*P+P-len(ids):], ids)
		lengths[r] = int32(len(ids))
	}
	return tensors.FromFlatDataAndDimensions(flat, B, P), tensors.FromFlatDataAndDimensions(lengths, B)
}

// Generate writes one program per prompt with the key/value-cache sampler: at temperature with
// the configured top-k / top-p, or greedily when temperature is 0 (logProbs nil then). A row ends
// at EOS or at the token that completes a stop string; later positions are EOS.
func (p *Policy) Generate(prompts []string, temperature float32) ([]int32, []float32, []int, error) {
	rows, err := p.promptIDs(prompts)
	if err != nil {
		return nil, nil, nil, err
	}
	greedy := temperature == 0
	exec := p.execs[greedy]
	if exec == nil {
		s := p.Cfg.Sampling
		s.Greedy = greedy
		exec, err = trainer.NewExec(p.backend, p.store, "gpt-sample", func(root *model.Scope, in []*Node) []*Node {
			gen := p.Model.Sample(root.In(Scope), in[0], in[1], in[2], p.Cfg.MaxTokens, p.Tok.EOS, s)
			return []*Node{gen.Tokens, gen.LogProbs}
		})
		if err != nil {
			return nil, nil, nil, err
		}
		p.execs[greedy] = exec
	}
	prompt, lengths := p.leftPad(rows)
	res, err := exec.Call(prompt, lengths, max(temperature, 1e-6))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("gpt: sampling: %w", err)
	}
	ids := tensors.MustCopyFlatData[int32](res[0])
	logProbs := tensors.MustCopyFlatData[float32](res[1])
	for _, r := range res {
		r.FinalizeAll()
	}
	T := p.Cfg.MaxTokens
	lens := make([]int, p.Cfg.Batch)
	for r := range lens {
		row, lp := ids[r*T:(r+1)*T], logProbs[r*T:(r+1)*T]
		lens[r] = p.rowLength(row)
		for i := lens[r]; i < T; i++ {
			row[i], lp[i] = p.Tok.EOS, 0
		}
	}
	if greedy {
		logProbs = nil
	}
	return ids, logProbs, lens, nil
}

// rowLength is the number of positions of row up to and including its end: the first EOS, or
// the first token whose text completes a stop string; len(row) when neither occurs.
func (p *Policy) rowLength(row []int32) int {
	var text strings.Builder
	for i, id := range row {
		if id == p.Tok.EOS {
			return i + 1
		}
		if len(p.Cfg.Stop) == 0 {
			continue
		}
		s, err := p.Tok.Decode(row[i : i+1])
		if err != nil {
			return i + 1
		}
		text.WriteString(s)
		for _, stop := range p.Cfg.Stop {
			if strings.Contains(text.String(), stop) {
				return i + 1
			}
		}
	}
	return len(row)
}

// Decode turns the ids of a generated row into program text: up to its first EOS, cut before
// the first stop string.
func (p *Policy) Decode(ids []int32) string {
	for i, id := range ids {
		if id == p.Tok.EOS {
			ids = ids[:i]
			break
		}
	}
	text, err := p.Tok.Decode(ids)
	if err != nil {
		return ""
	}
	for _, stop := range p.Cfg.Stop {
		if i := strings.Index(text, stop); i >= 0 {
			text = text[:i]
		}
	}
	return text
}

// Encode turns a program into the ids a row holds, EOS included.
func (p *Policy) Encode(program string) ([]int32, error) {
	ids := append(p.Tok.Encode(program), p.Tok.EOS)
	if len(ids) > p.Cfg.MaxTokens {
		return nil, fmt.Errorf("gpt: program of %d tokens (EOS included) does not fit %d: %.60q", len(ids), p.Cfg.MaxTokens, program)
	}
	return ids, nil
}

// Inputs builds the tensors of TokenLogProbs: prompts [B,P] left-padded, their lengths [B], and
// the rows ids [B*T].
func (p *Policy) Inputs(prompts []string, ids []int32) ([]*tensors.Tensor, error) {
	B, T := p.Cfg.Batch, p.Cfg.MaxTokens
	if len(ids) != B*T {
		return nil, fmt.Errorf("gpt: %d ids, want batch %d x %d tokens", len(ids), B, T)
	}
	rows, err := p.promptIDs(prompts)
	if err != nil {
		return nil, err
	}
	prompt, lengths := p.leftPad(rows)
	return []*tensors.Tensor{prompt, lengths, tensors.FromFlatDataAndDimensions(ids, B, T)}, nil
}

// TokenLogProbs is log π(id_t | id_<t, prompt) [B,T] under the model at temperature 1, reading
// the weights under root/gpt; the prompt positions are not in the output.
func (p *Policy) TokenLogProbs(root *model.Scope, in []*Node) *Node {
	scope := root.At(Scope)
	return TokenLogProbs(p.Model.PromptedLogits(scope, in[0], in[1], in[2]), in[2])
}

// PromptIDs encodes prompts for a critic: right-padded rows [B*P] of the model's ids (padding
// 0), their lengths, P and the vocabulary size.
func (p *Policy) PromptIDs(prompts []string) (ids, lengths []int32, width, vocab int, err error) {
	rows, err := p.promptIDs(prompts)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	P := p.Cfg.PromptLen
	ids, lengths = make([]int32, len(rows)*P), make([]int32, len(rows))
	for r, row := range rows {
		copy(ids[r*P:], row)
		lengths[r] = int32(len(row))
	}
	return ids, lengths, P, p.Model.Cfg.Vocab, nil
}

// SFTStep compiles supervised fine-tuning on (prompt, program) rows: the mean of
// -log π(program token | prompt, earlier tokens) over the positions where mask [B,T] is 1. Its
// inputs are Inputs(...) followed by the mask (float32 [B,T], 1 up to and including EOS).
func (p *Policy) SFTStep(opt optimizer.Interface) (*trainer.Step, error) {
	return trainer.NewStep(p.backend, p.store, p.TrainedScope(), opt, "gpt-sft", func(root *model.Scope, in []*Node) (*Node, []*Node) {
		lp := p.TokenLogProbs(root, in)
		mask := in[3]
		return Neg(Div(ReduceAllSum(Mul(lp, mask)), MaxScalar(ReduceAllSum(mask), 1))), nil
	})
}

// SFTInputs encodes (prompt, program) pairs, at most Batch, as the inputs of SFTStep.
func (p *Policy) SFTInputs(prompts, programs []string) ([]*tensors.Tensor, error) {
	if len(prompts) != len(programs) {
		return nil, fmt.Errorf("gpt: %d prompts for %d programs", len(prompts), len(programs))
	}
	B, T := p.Cfg.Batch, p.Cfg.MaxTokens
	ids := make([]int32, B*T)
	mask := make([]float32, B*T)
	for r, prog := range programs {
		row, err := p.Encode(prog)
		if err != nil {
			return nil, err
		}
		copy(ids[r*T:], row)
		for i := range row {
			mask[r*T+i] = 1
		}
	}
	in, err := p.Inputs(prompts, ids)
	if err != nil {
		return nil, err
	}
	return append(in, tensors.FromFlatDataAndDimensions(mask, B, T)), nil
}
