package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/execfeed/execfeed/lib/bpe"
	"github.com/execfeed/execfeed/lib/experiment"
	"github.com/execfeed/execfeed/lib/gpt"
	"github.com/execfeed/execfeed/lib/trainer"
)

func init() {
	register(command{name: "score", summary: "per-token log-probabilities of a text or ids under a GPT-2 checkpoint (JSON)",
		run: func(args []string) error { return runScore(args, os.Stdout) }})
	register(command{name: "generate", summary: "sample continuations of a prompt from a GPT-2 checkpoint (KV cache)",
		run: func(args []string) error { return runGenerate(args, os.Stdout) }})
}

// scoredToken is one token of `kernel score`'s output.
type scoredToken struct {
	ID      int32   `json:"id"`
	Text    string  `json:"text,omitempty"`
	LogProb float64 `json:"logprob"`
}

// scoreResult is `kernel score`'s output: every token's log-probability given the BOS token
// (GPT-2's <|endoftext|>) and the tokens before it.
type scoreResult struct {
	Model  string        `json:"model"`
	BOS    int32         `json:"bos"`
	Tokens []scoredToken `json:"tokens"`
	Total  float64       `json:"total_logprob"`
}

// lmFlags makes the flag set of a checkpoint command with its -model and -backend flags.
func lmFlags(name string) (fs *flag.FlagSet, dir, backend *string) {
	fs = flag.NewFlagSet(name, flag.ContinueOnError)
	dir = fs.String("model", "", "Hugging Face GPT-2 checkpoint directory (config.json, model.safetensors, vocab.json+merges.txt or tokenizer.json)")
	backend = fs.String("backend", "", "compute backend: go (default) or xla:/abs/path/plugin.so; default $GOMLX_BACKEND")
	return fs, dir, backend
}

// parseLM parses args and requires -model.
func parseLM(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.Lookup("model").Value.String() == "" {
		fs.Usage()
		return errors.New("-model is required")
	}
	return nil
}

// runScore implements `kernel score -model DIR (-text T | -ids 1,2,3)`.
func runScore(args []string, out io.Writer) error {
	fs, dir, backend := lmFlags("score")
	text := fs.String("text", "", "text to score (tokenized with the checkpoint's tokenizer)")
	file := fs.String("file", "", "file whose text to score")
	idList := fs.String("ids", "", "comma-separated token ids to score instead of a text")
	if err := parseLM(fs, args); err != nil {
		return err
	}
	cfg, err := gpt.ReadConfig(*dir)
	if err != nil {
		return err
	}
	tok, tokErr := bpe.Load(*dir)
	var ids []int32
	switch {
	case *idList != "":
		for _, f := range strings.Split(*idList, ",") {
			id, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
			if err != nil || id < 0 || int(id) >= cfg.Vocab {
				return fmt.Errorf("-ids: %q is not an id below the vocabulary size %d", f, cfg.Vocab)
			}
			ids = append(ids, int32(id))
		}
	case *text != "" || *file != "":
		if tokErr != nil {
			return tokErr
		}
		s := *text
		if *file != "" {
			b, err := os.ReadFile(*file)
			if err != nil {
				return err
			}
			s = string(b)
		}
		ids = tok.Encode(s)
	default:
		return errors.New("give -text, -file or -ids")
	}
	bos := int32(cfg.Vocab - 1)
	if tokErr == nil && tok.EOS >= 0 {
		bos = tok.EOS
	}
	res, err := scoreIDs(*dir, cfg, *backend, bos, ids)
	if err != nil {
		return err
	}
	if tokErr == nil {
		for i := range res.Tokens {
			res.Tokens[i].Text, _ = tok.Decode([]int32{res.Tokens[i].ID})
		}
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// scoreIDs runs the checkpoint over BOS + ids and returns each id's log-probability.
func scoreIDs(dir string, cfg gpt.Config, backendName string, bos int32, ids []int32) (*scoreResult, error) {
	if len(ids) == 0 || len(ids)+1 > cfg.Context {
		return nil, fmt.Errorf("%d tokens: need 1 to %d (the context minus the BOS token)", len(ids), cfg.Context-1)
	}
	backend, err := experiment.Backend(backendName)
	if err != nil {
		return nil, err
	}
	store, err := trainer.NewStore(0)
	if err != nil {
		return nil, err
	}
	if err := gpt.LoadWeights(store, cfg, dir); err != nil {
		return nil, err
	}
	m := &gpt.Model{Cfg: cfg}
	exec, err := trainer.NewExec(backend, store, "score", func(root *model.Scope, in []*Node) []*Node {
		return []*Node{gpt.TokenLogProbs(m.Logits(root.In(gpt.Scope), in[0]), in[1])}
	})
	if err != nil {
		return nil, err
	}
	L := len(ids)
	input := append([]int32{bos}, ids[:L-1]...)
	outs, err := exec.Call(tensors.FromFlatDataAndDimensions(input, 1, L), tensors.FromFlatDataAndDimensions(ids, 1, L))
	if err != nil {
		return nil, fmt.Errorf("scoring: %w", err)
	}
	lps := tensors.MustCopyFlatData[float32](outs[0])
	outs[0].FinalizeAll()
	res := &scoreResult{Model: dir, BOS: bos}
	for i, id := range ids {
		res.Tokens = append(res.Tokens, scoredToken{ID: id, LogProb: float64(lps[i])})
		res.Total += float64(lps[i])
	}
	return res, nil
}

// runGenerate implements `kernel generate -model DIR -prompt TEXT`.
func runGenerate(args []string, out io.Writer) error {
	fs, dir, backend := lmFlags("generate")
	prompt := fs.String("prompt", "", "prompt text")
	n := fs.Int("n", 64, "tokens to generate per sample (a sample stops earlier at <|endoftext|> or -stop)")
	samples := fs.Int("samples", 1, "samples drawn in one batch")
	temperature := fs.Float64("temperature", 0.8, "sampling temperature; 0 is greedy")
	topK := fs.Int("top-k", 0, "keep the k most likely tokens (0: all)")
	topP := fs.Float64("top-p", 0, "nucleus sampling: keep the most likely tokens up to this probability (0: all)")
	stop := fs.String("stop", "", "stop string (e.g. '\\ndef '), escapes as in Go strings")
	seed := fs.Int64("seed", 0, "random seed")
	asJSON := fs.Bool("json", false, "print JSON lines {text, tokens, logprob} instead of text")
	if err := parseLM(fs, args); err != nil {
		return err
	}
	b, err := experiment.Backend(*backend)
	if err != nil {
		return err
	}
	tok, err := bpe.Load(*dir)
	if err != nil {
		return err
	}
	pc := gpt.PolicyConfig{Batch: *samples, PromptLen: len(tok.Encode(*prompt)) + 1, MaxTokens: *n,
		Sampling: gpt.Sampling{TopK: *topK, TopP: *topP}}
	if *stop != "" {
		s, err := strconv.Unquote(`"` + *stop + `"`)
		if err != nil {
			return fmt.Errorf("-stop %q: %w", *stop, err)
		}
		pc.Stop = []string{s}
	}
	p, err := gpt.Load(b, *dir, *seed, pc)
	if err != nil {
		return err
	}
	prompts := make([]string, *samples)
	for i := range prompts {
		prompts[i] = *prompt
	}
	ids, lps, lens, err := p.Generate(prompts, float32(*temperature))
	if err != nil {
		return err
	}
	for r := range *samples {
		row := ids[r**n : r**n+lens[r]]
		text := p.Decode(row)
		if !*asJSON {
			fmt.Fprintf(out, "--- sample %d (%d tokens)\n%s%s\n", r+1, lens[r], *prompt, text)
			continue
		}
		total := 0.0
		if lps != nil {
			for _, lp := range lps[r**n : r**n+lens[r]] {
				total += float64(lp)
			}
		}
		line, _ := json.Marshal(map[string]any{"text": text, "tokens": row, "logprob": total})
		fmt.Fprintln(out, string(line))
	}
	return nil
}
