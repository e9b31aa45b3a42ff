package main

import (
	"encoding/json"
	"errors"
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

// lmFlags are the checkpoint flags of score and generate: -model (required) and -backend.
type lmFlags struct{ dir, backend *string }

func newLMFlags(c *cli) lmFlags {
	c.checks = append(c.checks, func() error {
		if !c.set("model") {
			return errors.New("-model is required")
		}
		return nil
	})
	return lmFlags{
		dir:     c.string("model", "", nil, "Hugging Face GPT-2 checkpoint directory (config.json, model.safetensors, vocab.json+merges.txt or tokenizer.json); required"),
		backend: c.string("backend", "", nil, "compute backend: go (default) or xla:/abs/path/plugin.so (needs a build with -tags xla); default $GOMLX_BACKEND"),
	}
}

// parseLM parses args (-h prints usage and the flags) and checks the backend,
// before anything is loaded.
func parseLM(c *cli, f lmFlags, args []string, usage string) error {
	if err := parseOrHelp(c, args, func(w io.Writer) {
		fmt.Fprintf(w, "%s\n\n", usage)
		c.printDefaults(w)
	}); err != nil {
		return err
	}
	if err := experiment.CheckBackend(*f.backend); err != nil {
		return fmt.Errorf("-backend: %w", err)
	}
	return beforeTraining()
}

// scoreOpts are `kernel score`'s flags.
type scoreOpts struct {
	lmFlags
	text, file, ids *string
}

func newScoreFlags(c *cli) *scoreOpts {
	o := &scoreOpts{lmFlags: newLMFlags(c)}
	o.text = c.string("text", "", nil, "text to score (tokenized with the checkpoint's tokenizer)")
	o.file = c.string("file", "", nil, "file whose text to score")
	o.ids = c.string("ids", "", nil, "comma-separated token ids to score instead of a text (an id may repeat)")
	c.conflict("text", "file", "ids")
	c.checks = append(c.checks, func() error {
		if !c.set("text") && !c.set("file") && !c.set("ids") {
			return errors.New("give -text, -file or -ids")
		}
		return nil
	})
	c.require("ids", func() bool { _, err := parseIDs(*o.ids); return err == nil }, "wants comma-separated non-negative integers")
	return o
}

// parseIDs reads -ids: comma-separated non-negative token ids (checked against the vocabulary
// once the checkpoint's configuration is read).
func parseIDs(s string) ([]int32, error) {
	var ids []int32
	for _, f := range strings.Split(s, ",") {
		id, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("-ids: %q is not a token id", f)
		}
		ids = append(ids, int32(id))
	}
	return ids, nil
}

// runScore implements `kernel score -model DIR (-text T | -file F | -ids 1,2,3)`.
func runScore(args []string, out io.Writer) error {
	c := newCLI("score")
	o := newScoreFlags(c)
	if err := parseLM(c, o.lmFlags, args, "usage: kernel score -model DIR (-text T | -file F | -ids 1,2,3) [flags]\n\nPrints every token's log-probability (JSON)."); err != nil {
		return err
	}
	cfg, err := gpt.ReadConfig(*o.dir)
	if err != nil {
		return err
	}
	tok, tokErr := bpe.Load(*o.dir)
	var ids []int32
	switch {
	case *o.ids != "":
		ids, _ = parseIDs(*o.ids) // checked with the flags
		for _, id := range ids {
			if int(id) >= cfg.Vocab {
				return fmt.Errorf("-ids: %d is not below the vocabulary size %d", id, cfg.Vocab)
			}
		}
	case *o.text != "" || *o.file != "":
		if tokErr != nil {
			return tokErr
		}
		s := *o.text
		if *o.file != "" {
			b, err := os.ReadFile(*o.file)
			if err != nil {
				return err
			}
			s = string(b)
		}
		ids = tok.Encode(s)
	}
	bos := int32(cfg.Vocab - 1)
	if tokErr == nil && tok.EOS >= 0 {
		bos = tok.EOS
	}
	res, err := scoreIDs(*o.dir, cfg, *o.backend, bos, ids)
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

// generateOpts are `kernel generate`'s flags.
type generateOpts struct {
	lmFlags
	prompt, stop      *string
	n, samples, topK  *int
	temperature, topP *float64
	seed              *int64
	asJSON            *bool
}

func newGenerateFlags(c *cli) *generateOpts {
	o := &generateOpts{lmFlags: newLMFlags(c)}
	o.prompt = c.string("prompt", "", nil, "prompt text (default: none, sampling starts after <|endoftext|>)")
	o.n = c.int("n", 64, 1, "tokens to generate per sample (a sample stops earlier at <|endoftext|> or -stop)")
	o.samples = c.int("samples", 1, 1, "samples drawn in one batch")
	o.temperature = c.float("temperature", 0.8, false, "sampling temperature; 0 is greedy")
	o.topK = c.int("top-k", 0, 1, "keep the k most likely tokens (default: all)")
	o.topP = c.float("top-p", 0, true, "nucleus sampling: keep the most likely tokens up to this probability, at most 1 (default: all)")
	o.stop = c.string("stop", "", nil, "stop string (e.g. '\\ndef '), escapes as in Go strings")
	o.seed = c.int64("seed", 0, "random seed (not with -temperature 0)")
	o.asJSON = c.bool("json", "print JSON lines {text, tokens, logprob} instead of text")
	c.require("top-p", func() bool { return *o.topP <= 1 }, "must be at most 1")
	c.require("stop", func() bool { _, err := unquoteStop(*o.stop); return err == nil }, "is not a Go string's contents (escapes as in \"\\ndef \")")
	sampling := func() bool { return !c.set("temperature") || *o.temperature > 0 }
	for _, name := range []string{"top-k", "top-p", "seed"} {
		c.require(name, sampling, "has no effect with -temperature 0 (greedy)")
	}
	return o
}

// runGenerate implements `kernel generate -model DIR -prompt TEXT`.
func runGenerate(args []string, out io.Writer) error {
	c := newCLI("generate")
	o := newGenerateFlags(c)
	if err := parseLM(c, o.lmFlags, args, "usage: kernel generate -model DIR [-prompt TEXT] [flags]\n\nSamples continuations of the prompt (KV cache)."); err != nil {
		return err
	}
	b, err := experiment.Backend(*o.backend)
	if err != nil {
		return err
	}
	tok, err := bpe.Load(*o.dir)
	if err != nil {
		return err
	}
	pc := gpt.PolicyConfig{Batch: *o.samples, PromptLen: len(tok.Encode(*o.prompt)) + 1, MaxTokens: *o.n,
		Sampling: gpt.Sampling{TopK: *o.topK, TopP: *o.topP}}
	if *o.stop != "" {
		s, _ := unquoteStop(*o.stop) // checked with the flags
		pc.Stop = []string{s}
	}
	p, err := gpt.Load(b, *o.dir, *o.seed, pc)
	if err != nil {
		return err
	}
	prompts := make([]string, *o.samples)
	for i := range prompts {
		prompts[i] = *o.prompt
	}
	ids, lps, lens, err := p.Generate(prompts, float32(*o.temperature))
	if err != nil {
		return err
	}
	for r := range *o.samples {
		row := ids[r**o.n : r**o.n+lens[r]]
		text := p.Decode(row)
		if !*o.asJSON {
			fmt.Fprintf(out, "--- sample %d (%d tokens)\n%s%s\n", r+1, lens[r], *o.prompt, text)
			continue
		}
		total := 0.0
		if lps != nil {
			for _, lp := range lps[r**o.n : r**o.n+lens[r]] {
				total += float64(lp)
			}
		}
		line, _ := json.Marshal(map[string]any{"text": text, "tokens": row, "logprob": total})
		fmt.Fprintln(out, string(line))
	}
	return nil
}

// unquoteStop reads -stop's value with Go's escapes.
func unquoteStop(s string) (string, error) { return strconv.Unquote(`"` + s + `"`) }
