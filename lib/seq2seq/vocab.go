package seq2seq

import (
	"fmt"
	"slices"
)

// Special token ids shared by every vocabulary.
const (
	PAD = 0 // padding; ignored by the loss
	BOS = 1 // start of the decoder input
	EOS = 2 // end of a program
	UNK = 3 // an unknown description word (EncodeWords); Encode fails on unknown tokens instead
)

var specials = []string{"<pad>", "<bos>", "<eos>", "<unk>"}

// Vocab maps tokens to ids and back. Ids 0-3 are the special tokens.
type Vocab struct {
	Tokens []string
	index  map[string]int32
}

// NewVocab makes a vocabulary of the special tokens followed by tokens (duplicates removed,
// order kept).
func NewVocab(tokens []string) *Vocab {
	v := &Vocab{index: map[string]int32{}}
	for _, t := range append(slices.Clone(specials), tokens...) {
		if _, ok := v.index[t]; !ok {
			v.index[t] = int32(len(v.Tokens))
			v.Tokens = append(v.Tokens, t)
		}
	}
	return v
}

// Size is the number of ids.
func (v *Vocab) Size() int { return len(v.Tokens) }

// ID returns the id of a token and whether it is known.
func (v *Vocab) ID(tok string) (int32, bool) {
	id, ok := v.index[tok]
	return id, ok
}

// Encode maps tokens to ids; an unknown token is an error that names it.
func (v *Vocab) Encode(toks []string) ([]int32, error) {
	ids := make([]int32, len(toks))
	for i, t := range toks {
		id, ok := v.index[t]
		if !ok || id < int32(len(specials)) {
			return nil, fmt.Errorf("unknown token %q at position %d", t, i)
		}
		ids[i] = id
	}
	return ids, nil
}

// EncodeWords maps tokens to ids like Encode, but a token outside the vocabulary (or one of
// the special tokens' names) becomes UNK instead of an error; unknown counts them. No training
// token maps to UNK, so its embedding keeps its initial value: an unknown word reads as a fixed
// vector the model never learnt from.
func (v *Vocab) EncodeWords(toks []string) (ids []int32, unknown int) {
	ids = make([]int32, len(toks))
	for i, t := range toks {
		id, ok := v.index[t]
		if !ok || id < int32(len(specials)) {
			id = UNK
			unknown++
		}
		ids[i] = id
	}
	return ids, unknown
}

// Decode maps ids to tokens up to (not including) the first EOS or PAD.
func (v *Vocab) Decode(ids []int32) []string {
	var out []string
	for _, id := range ids {
		if id == EOS || id == PAD {
			break
		}
		if id < 0 || int(id) >= len(v.Tokens) {
			out = append(out, "<?>")
			continue
		}
		out = append(out, v.Tokens[id])
	}
	return out
}
