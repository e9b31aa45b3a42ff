package seq2seq

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/execfeed/execfeed/lib/rpn"
)

// Encoded is a data set turned into fixed-length id arrays, ready to be cut into batches.
type Encoded struct {
	Src    []int32 // [N, SrcLen], PAD-padded description ids
	SrcLen []int32 // [N]
	DecIn  []int32 // [N, TgtLen]: BOS, program ids, PAD...
	Tgt    []int32 // [N, TgtLen]: program ids, EOS, PAD...
	S, T   int
	// Unknown is the number of description words outside the vocabulary, encoded as UNK.
	Unknown int
}

// Len is the number of examples.
func (e *Encoded) Len() int { return len(e.SrcLen) }

// Pair is one training example as tokens: description words and program tokens.
type Pair struct {
	Description, Program []string
}

// RPNPairs turns RPN examples into pairs.
func RPNPairs(examples []rpn.Example) []Pair {
	out := make([]Pair, len(examples))
	for i, ex := range examples {
		out[i] = Pair{Description: ex.DescriptionTokens(), Program: ex.ProgramTokens()}
	}
	return out
}

// Prepare turns RPN examples into ids (PreparePairs).
func (m *Model) Prepare(examples []rpn.Example) (*Encoded, error) {
	return m.PreparePairs(RPNPairs(examples))
}

// PreparePairs turns examples into ids. A description word outside the source vocabulary is
// encoded as UNK (counted in Encoded.Unknown); a program token outside the target vocabulary, or a
// description or program longer than the configured lengths, is an error naming the example.
func (m *Model) PreparePairs(pairs []Pair) (*Encoded, error) {
	S, T := m.Cfg.SrcLen, m.Cfg.TgtLen
	n := len(pairs)
	e := &Encoded{S: S, T: T,
		Src: make([]int32, n*S), SrcLen: make([]int32, n), DecIn: make([]int32, n*T), Tgt: make([]int32, n*T)}
	for i, p := range pairs {
		src, unknown, err := m.encodeDescription(p.Description)
		if err != nil {
			return nil, fmt.Errorf("example %d: %w", i, err)
		}
		e.Unknown += unknown
		prog, err := m.EncodeProgram(p.Program)
		if err != nil {
			return nil, fmt.Errorf("example %d: %w", i, err)
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

// EncodeDescription maps description words to encoder ids, in the order the encoder reads them
// (reversed with Cfg.ReverseSource). A word outside the vocabulary is encoded as UNK (see
// Vocab.EncodeWords); an empty description or one longer than SrcLen is an error.
func (m *Model) EncodeDescription(words []string) ([]int32, error) {
	src, _, err := m.encodeDescription(words)
	return src, err
}

// encodeDescription is EncodeDescription, also counting the words encoded as UNK.
func (m *Model) encodeDescription(words []string) ([]int32, int, error) {
	src, unknown := m.Src.EncodeWords(words)
	if len(src) == 0 || len(src) > m.Cfg.SrcLen {
		return nil, 0, fmt.Errorf("description %q has %d words, want 1..%d", strings.Join(words, " "), len(src), m.Cfg.SrcLen)
	}
	if m.Cfg.ReverseSource {
		slices.Reverse(src)
	}
	return src, unknown, nil
}

// EncodeProgram maps program tokens to decoder ids (without EOS). Unknown tokens and programs
// that leave no room for EOS in TgtLen are errors.
func (m *Model) EncodeProgram(toks []string) ([]int32, error) {
	prog, err := m.Tgt.Encode(toks)
	if err != nil {
		return nil, fmt.Errorf("program %q: %w", strings.Join(toks, " "), err)
	}
	if len(prog)+1 > m.Cfg.TgtLen {
		return nil, fmt.Errorf("program has %d tokens, want at most %d", len(prog), m.Cfg.TgtLen-1)
	}
	return prog, nil
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
	return NewModelFor(cfg, RPNPairs(train), d.Tokens())
}

// NewModelFor builds the vocabularies from training pairs: description words (sorted, so the
// same data gives the same ids) and the program tokens of programTokens followed by those of the
// pairs' programs not yet listed (sorted).
func NewModelFor(cfg Config, train []Pair, programTokens []string) *Model {
	return &Model{Cfg: cfg, Src: NewVocab(sortedUnique(train, func(p Pair) []string { return p.Description }, nil)),
		Tgt: NewVocab(sortedUnique(train, func(p Pair) []string { return p.Program }, programTokens))}
}

// sortedUnique lists first, then the tokens of field over pairs that are not in first, sorted.
func sortedUnique(pairs []Pair, field func(Pair) []string, first []string) []string {
	seen := map[string]bool{}
	for _, t := range first {
		seen[t] = true
	}
	var more []string
	for _, p := range pairs {
		for _, w := range field(p) {
			if !seen[w] {
				seen[w] = true
				more = append(more, w)
			}
		}
	}
	slices.Sort(more)
	return append(slices.Clone(first), more...)
}
