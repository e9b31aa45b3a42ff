package rl

import (
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Policy is the model seam: any autoregressive model that writes a program for a prompt, seen by
// the methods of this package only through these calls. The GRU encoder-decoder
// (seq2seq.Policy) and the GPT-2 transformer implement it; no method knows which it trains.
//
// Shapes are fixed so that one compiled graph serves every call: every call takes at most
// BatchSize prompts (rows past len(prompts) are padding, repeating row 0, and are ignored), and a
// generated row has MaxTokens positions. Token rows are flattened [B*T] slices of ids in the
// policy's own vocabulary; a row ends at its end token (EOS or a stop), which is part of the row.
type Policy interface {
	// Backend and Store hold the weights. TrainedScope is the absolute scope of the store whose
	// variables a method's train step updates (e.g. "/generator"); a critic or a value head
	// lives in another scope of the same store.
	Backend() compute.Backend
	Store() *model.Store
	TrainedScope() string

	// BatchSize is the number of rows of every call; MaxTokens is T, the positions of a
	// generated row, the end token included.
	BatchSize() int
	MaxTokens() int

	// Generate writes one program per prompt: sampled at temperature, or greedy when
	// temperature is 0. It returns the ids [B*T] (positions after a row's end are padding),
	// the log-probability of each chosen id under the sampling distribution [B*T] (nil when
	// greedy), and each row's length: the positions up to and including its end token (T when
	// the row never ended).
	Generate(prompts []string, temperature float32) (ids []int32, logProbs []float32, lengths []int, err error)

	// Decode turns the first n ids of a generated row into the program's source text.
	Decode(ids []int32) string
	// Encode turns program source into the ids a row would hold, end token included: the target
	// of supervised steps. A program that does not fit MaxTokens or that the vocabulary cannot
	// express is an error.
	Encode(program string) ([]int32, error)

	// Inputs builds the graph inputs of TokenLogProbs for prompts and token rows ids [B*T]
	// (teacher forcing). Methods append their own inputs after these NumInputs tensors.
	Inputs(prompts []string, ids []int32) ([]*tensors.Tensor, error)
	NumInputs() int
	// TokenLogProbs builds, inside a graph, log π(id_t | id_<t, prompt) [B,T] from the first
	// NumInputs nodes of in, reading the weights under root.
	TokenLogProbs(root *model.Scope, in []*graph.Node) *graph.Node

	// PromptIDs encodes prompts as id rows for networks that read them beside the policy (the
	// critic): ids [B*width], each row's length [B], the row width and the prompt vocabulary's
	// size.
	PromptIDs(prompts []string) (ids, lengths []int32, width, vocab int, err error)
	// VocabSize is the number of program ids.
	VocabSize() int
}
