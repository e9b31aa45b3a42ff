package seq2seq

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/execfeed/execfeed/lib/rpn"
)

// Encoded is a data set turned into fixed-length id arrays, ready to be cut into batches.
type Encoded struct {
	Examples []rpn.Example
	Src      []int32 // [N, SrcLen], PAD-padded description ids
	SrcLen   []int32 // [N]
	DecIn    []int32 // [N, TgtLen]: BOS, program ids, PAD...
	Tgt      []int32 // [N, TgtLen]: program ids, EOS, PAD...
	S, T     int
}

// Len is the number of examples.
func (e *Encoded) Len() int { return len(e.SrcLen) }

// Prepare turns examples into ids. A word or token outside the vocabularies, or a description or
// program longer than the configured lengths, is an error naming the example.
func (m *Model) Prepare(examples []rpn.Example) (*Encoded, error) {
	S, T := m.Cfg.SrcLen, m.Cfg.TgtLen
	n := len(examples)
	e := &Encoded{Examples: examples, S: S, T: T,
		Src: make([]int32, n*S), SrcLen: make([]int32, n), DecIn: make([]int32, n*T), Tgt: make([]int32, n*T)}
	for i, ex := range examples {
		src, err := m.Src.Encode(ex.DescriptionTokens())
		if err != nil {
			return nil, fmt.Errorf("example %d description %q: %w", i, ex.Description, err)
		}
		if len(src) == 0 || len(src) > S {
			return nil, fmt.Errorf("example %d: description has %d words, want 1..%d", i, len(src), S)
		}
		prog, err := m.Tgt.Encode(ex.ProgramTokens())
		if err != nil {
			return nil, fmt.Errorf("example %d program %q: %w", i, ex.Program, err)
		}
		if len(prog)+1 > T {
			return nil, fmt.Errorf("example %d: program has %d tokens, want at most %d", i, len(prog), T-1)
		}
		if m.Cfg.ReverseSource {
			slices.Reverse(src)
		}
		copy(e.Src[i*S:], src)
		e.SrcLen[i] = int32(len(src))
		e.DecIn[i*T] = BOS
		copy(e.DecIn[i*T+1:], prog)
		copy(e.Tgt[i*T:], prog)
		e.Tgt[i*T+len(prog)] = EOS
	}
	return e, nil
}

// Batch is one batch of tensors. Rows past N (when the data ran out) repeat row 0 and must be
// ignored; the loss is only computed on full batches.
type Batch struct {
	Src, SrcLen, DecIn, Tgt *tensors.Tensor
	Index                   []int // example index of each row
	N                       int   // real rows
}

// Batch gathers the rows idx into tensors of batch size B (len(idx) <= B; missing rows are padding).
func (e *Encoded) Batch(idx []int, B int) Batch {
	S, T := e.S, e.T
	src, srcLen := make([]int32, B*S), make([]int32, B)
	decIn, tgt := make([]int32, B*T), make([]int32, B*T)
	full := make([]int, B)
	for r := range B {
		i := idx[0]
		if r < len(idx) {
			i = idx[r]
		}
		full[r] = i
		copy(src[r*S:(r+1)*S], e.Src[i*S:(i+1)*S])
		srcLen[r] = e.SrcLen[i]
		copy(decIn[r*T:(r+1)*T], e.DecIn[i*T:(i+1)*T])
		copy(tgt[r*T:(r+1)*T], e.Tgt[i*T:(i+1)*T])
	}
	return Batch{
		Src: tensors.FromFlatDataAndDimensions(src, B, S), SrcLen: tensors.FromFlatDataAndDimensions(srcLen, B),
		DecIn: tensors.FromFlatDataAndDimensions(decIn, B, T), Tgt: tensors.FromFlatDataAndDimensions(tgt, B, T),
		Index: full, N: min(len(idx), B),
	}
}

// Epoch returns the batches of one pass over the data: shuffled by rng (if not nil), full
// batches only when dropLast (training), all examples otherwise (evaluation).
func (e *Encoded) Epoch(B int, rng *rand.Rand, dropLast bool) [][]int {
	order := make([]int, e.Len())
	for i := range order {
		order[i] = i
	}
	if rng != nil {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	var out [][]int
	for i := 0; i < len(order); i += B {
		if i+B > len(order) && dropLast {
			break
		}
		out = append(out, order[i:min(i+B, len(order))])
	}
	return out
}

// NewModel builds the vocabularies for a dialect: description words from the training examples
// (sorted, so the same data gives the same ids) and the dialect's program tokens.
func NewModel(cfg Config, d rpn.Dialect, train []rpn.Example) *Model {
	seen := map[string]bool{}
	var words []string
	for _, ex := range train {
		for _, w := range ex.DescriptionTokens() {
			if !seen[w] {
				seen[w] = true
				words = append(words, w)
			}
		}
	}
	slices.Sort(words)
	return &Model{Cfg: cfg, Src: NewVocab(words), Tgt: NewVocab(d.Tokens())}
}
