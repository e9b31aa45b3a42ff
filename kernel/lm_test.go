package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/execfeed/execfeed/lib/bpe"
	"github.com/execfeed/execfeed/lib/gpt/reftest"
)

// tinyLMDir writes a tiny random GPT-2 checkpoint in Hugging Face's layout with a small BPE
// tokenizer, and returns its directory, the reference model and the tokenizer.
func tinyLMDir(t *testing.T) (string, *reftest.Tiny, *bpe.Tokenizer) {
	t.Helper()
	tok, err := bpe.Train([]string{"def f(x):\n    return x\n", "def g(y):\n    return y\n"}, 264)
	if err != nil {
		t.Fatal(err)
	}
	ref := reftest.NewTiny(2, 2, 8, 32, tok.Size(), 3)
	dir := t.TempDir()
	if err := ref.Write(dir); err != nil {
		t.Fatal(err)
	}
	if err := tok.Save(dir); err != nil {
		t.Fatal(err)
	}
	return dir, ref, tok
}

// TestScoreMatchesReference runs `kernel score` on a tiny checkpoint and compares every token's
// log-probability with reftest's float64 implementation of the equations.
func TestScoreMatchesReference(t *testing.T) {
	dir, ref, tok := tinyLMDir(t)
	text := "def f(y):\n    return x"
	var out bytes.Buffer
	if err := runScore([]string{"-model", dir, "-text", text}, &out); err != nil {
		t.Fatal(err)
	}
	var res scoreResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	ids := tok.Encode(text)
	if len(res.Tokens) != len(ids) || res.BOS != tok.EOS {
		t.Fatalf("%d tokens with BOS %d, want %d with BOS %d", len(res.Tokens), res.BOS, len(ids), tok.EOS)
	}
	row := []int{int(tok.EOS)}
	for _, id := range ids {
		row = append(row, int(id))
	}
	want := reftest.LogProbs(ref.Logits(row))
	var joined strings.Builder
	for i, st := range res.Tokens {
		w := want[i][ids[i]]
		if st.ID != ids[i] || math.Abs(st.LogProb-w) > 1e-4 {
			t.Errorf("token %d: id %d logprob %.6f, want id %d logprob %.6f", i, st.ID, st.LogProb, ids[i], w)
		}
		joined.WriteString(st.Text)
	}
	if joined.String() != text {
		t.Errorf("token texts join to %q, want %q", joined.String(), text)
	}
	// The same through -ids.
	out.Reset()
	if err := runScore([]string{"-model", dir, "-ids", "100,101,102"}, &out); err != nil {
		t.Fatal(err)
	}
	var byIDs scoreResult
	_ = json.Unmarshal(out.Bytes(), &byIDs)
	w := reftest.LogProbs(ref.Logits([]int{int(tok.EOS), 100, 101, 102}))
	if len(byIDs.Tokens) != 3 || math.Abs(byIDs.Tokens[2].LogProb-w[2][102]) > 1e-4 {
		t.Errorf("-ids: %+v, want last logprob %.6f", byIDs.Tokens, w[2][102])
	}
	if err := runScore([]string{"-model", t.TempDir(), "-text", "x"}, &out); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("directory without a checkpoint: %v", err)
	}
}

// TestGenerateGreedy runs `kernel generate` greedily and checks the continuation against the
// reference model's argmax, token by token.
func TestGenerateGreedy(t *testing.T) {
	dir, ref, tok := tinyLMDir(t)
	var out bytes.Buffer
	if err := runGenerate([]string{"-model", dir, "-prompt", "def", "-n", "5", "-temperature", "0", "-json"}, &out); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Text   string  `json:"text"`
		Tokens []int32 `json:"tokens"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	row := []int{int(tok.EOS)}
	for _, id := range tok.Encode("def") {
		row = append(row, int(id))
	}
	for i, got := range res.Tokens {
		logits := ref.Logits(row)
		last := logits[len(logits)-1]
		best := 0
		for v := range last {
			if last[v] > last[best] {
				best = v
			}
		}
		if int(got) != best {
			t.Fatalf("token %d: generated %d, reference argmax %d", i, got, best)
		}
		if best == int(tok.EOS) {
			break
		}
		row = append(row, best)
	}
	if len(res.Tokens) == 0 {
		t.Fatal("no tokens generated")
	}
}
