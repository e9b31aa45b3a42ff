package seq2seq

import (
	"fmt"
	"strings"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Lexer splits program source into the tokens the generator writes, and joins them back. A
// task's language provides it (rl.Language has these two methods).
type Lexer interface {
	Tokenize(src string) ([]string, error)
	Detokenize(tokens []string) string
}

// Policy is a Generator seen as a reinforcement-learning policy (the rl.Policy seam): prompts are
// descriptions (split into words by strings.Fields), programs are source text that Lexer splits
// into the generator's tokens.
type Policy struct {
	Gen   *Generator
	Lexer Lexer

	prompts map[string]encodedPrompt
}

type encodedPrompt struct {
	ids []int32
	err error
}

// NewPolicy wraps a generator whose program vocabulary holds lexer's tokens.
func NewPolicy(g *Generator, lexer Lexer) *Policy {
	return &Policy{Gen: g, Lexer: lexer, prompts: map[string]encodedPrompt{}}
}

// Backend is the generator's backend.
func (p *Policy) Backend() compute.Backend { return p.Gen.Backend }

// Store holds the generator's weights.
func (p *Policy) Store() *model.Store { return p.Gen.Store }

// TrainedScope is "/generator".
func (p *Policy) TrainedScope() string { return "/" + Scope }

// BatchSize is the generator's batch size.
func (p *Policy) BatchSize() int { return p.Gen.Batch }

// MaxTokens is the decoder's TgtLen.
func (p *Policy) MaxTokens() int { return p.Gen.Cfg.TgtLen }

// VocabSize is the size of the program vocabulary.
func (p *Policy) VocabSize() int { return p.Gen.Tgt.Size() }

// prompt encodes one description (cached: prompts repeat across iterations).
func (p *Policy) prompt(text string) ([]int32, error) {
	if e, ok := p.prompts[text]; ok {
		return e.ids, e.err
	}
	ids, err := p.Gen.EncodeDescription(strings.Fields(text))
	p.prompts[text] = encodedPrompt{ids, err}
	return ids, err
}

// PromptIDs encodes the descriptions as the encoder reads them: ids [B*SrcLen], PAD-padded.
func (p *Policy) PromptIDs(prompts []string) (ids, lengths []int32, width, vocab int, err error) {
	S := p.Gen.Cfg.SrcLen
	ids, lengths = make([]int32, len(prompts)*S), make([]int32, len(prompts))
	for i, text := range prompts {
		src, err := p.prompt(text)
		if err != nil {
			return nil, nil, 0, 0, err
		}
		copy(ids[i*S:], src)
		lengths[i] = int32(len(src))
	}
	return ids, lengths, S, p.Gen.Src.Size(), nil
}

// batch is the encoder input of prompts as a Batch (only Src and SrcLen are set).
func (p *Policy) batch(prompts []string) (Batch, error) {
	if len(prompts) == 0 || len(prompts) > p.Gen.Batch {
		return Batch{}, fmt.Errorf("seq2seq: %d prompts for batch size %d", len(prompts), p.Gen.Batch)
	}
	full := make([]string, p.Gen.Batch) // padding rows repeat row 0
	for i := range full {
		full[i] = prompts[0]
		if i < len(prompts) {
			full[i] = prompts[i]
		}
	}
	ids, lens, S, _, err := p.PromptIDs(full)
	if err != nil {
		return Batch{}, err
	}
	B := p.Gen.Batch
	return Batch{Src: tensors.FromFlatDataAndDimensions(ids, B, S), SrcLen: tensors.FromFlatDataAndDimensions(lens, B),
		N: len(prompts)}, nil
}

// Generate decodes one program per prompt: sampled at temperature, greedy when it is 0.
func (p *Policy) Generate(prompts []string, temperature float32) (ids []int32, logProbs []float32, lengths []int, err error) {
	b, err := p.batch(prompts)
	if err != nil {
		return nil, nil, nil, err
	}
	if temperature == 0 {
		ids, err = p.Gen.GreedyBatch(b)
	} else {
		var all []float32
		ids, all, err = p.Gen.SampleBatch(b, temperature)
		if err == nil {
			V := p.Gen.Tgt.Size()
			logProbs = make([]float32, len(ids))
			for i, id := range ids {
				logProbs[i] = all[i*V+int(id)]
			}
		}
	}
	if err != nil {
		return nil, nil, nil, err
	}
	B, T := p.Gen.Batch, p.Gen.Cfg.TgtLen
	lengths = make([]int, B)
	for r := range B {
		lengths[r] = T
		for t, id := range ids[r*T : (r+1)*T] {
			if id == EOS || id == PAD {
				lengths[r] = t + 1
				break
			}
		}
	}
	return ids, logProbs, lengths, nil
}

// Decode joins the tokens of ids (up to the first EOS or PAD) into source with the Lexer.
func (p *Policy) Decode(ids []int32) string { return p.Lexer.Detokenize(p.Gen.Tgt.Decode(ids)) }

// Encode lexes program source into ids followed by EOS.
func (p *Policy) Encode(program string) ([]int32, error) {
	toks, err := p.Lexer.Tokenize(program)
	if err != nil {
		return nil, err
	}
	ids, err := p.Gen.EncodeProgram(toks)
	if err != nil {
		return nil, err
	}
	return append(ids, EOS), nil
}

// NumInputs is 4: descriptions, their lengths, decoder input and targets.
func (p *Policy) NumInputs() int { return 4 }

// Inputs are the descriptions of prompts (padded to the batch size) and the teacher-forcing
// tensors of ids [B*T]: decoder input (BOS, then ids shifted right) and targets (ids).
func (p *Policy) Inputs(prompts []string, ids []int32) ([]*tensors.Tensor, error) {
	b, err := p.batch(prompts)
	if err != nil {
		return nil, err
	}
	B, T := p.Gen.Batch, p.Gen.Cfg.TgtLen
	if len(ids) != B*T {
		return nil, fmt.Errorf("seq2seq: %d token ids, want %d×%d", len(ids), B, T)
	}
	in := make([]int32, B*T)
	for r := range B {
		in[r*T] = BOS
		copy(in[r*T+1:(r+1)*T], ids[r*T:(r+1)*T-1])
	}
	return []*tensors.Tensor{b.Src, b.SrcLen, tensors.FromFlatDataAndDimensions(in, B, T),
		tensors.FromFlatDataAndDimensions(ids, B, T)}, nil
}

// TokenLogProbs is log π(tgt_t | tgt_<t, description) [B,T] from in = (src, srcLen, decIn, tgt).
func (p *Policy) TokenLogProbs(root *model.Scope, in []*Node) *Node {
	logp := LogSoftmax(p.Gen.Logits(root.In(Scope), in[0], in[1], in[2]), -1)
	return ReduceSum(Mul(logp, OneHot(in[3], logp.Shape().Dim(-1), logp.DType())), -1)
}
