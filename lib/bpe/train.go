package bpe

import (
	"fmt"
	"sort"
)

// Train learns a byte-level BPE vocabulary of size symbols from texts (Sennrich et al., 2016, on
// GPT-2's bytes and pieces): it starts from the 256 byte symbols and EndOfText, and repeatedly
// merges the most frequent adjacent pair inside the pre-tokenized pieces (ties broken by the
// pair's text, so the result is deterministic). It stops early when no pair occurs twice.
func Train(texts []string, size int) (*Tokenizer, error) {
	if size < 257 {
		return nil, fmt.Errorf("bpe: vocabulary size %d is below the 256 bytes plus %s", size, EndOfText)
	}
	type word struct {
		syms  []string
		count int
	}
	counts := map[string]int{}
	for _, text := range texts {
		for _, p := range Split(text) {
			counts[p]++
		}
	}
	pieces := make([]string, 0, len(counts))
	for p := range counts {
		pieces = append(pieces, p)
	}
	sort.Strings(pieces)
	words := make([]word, len(pieces))
	for i, p := range pieces {
		var syms []string
		for _, r := range mapBytes(p) {
			syms = append(syms, string(r))
		}
		words[i] = word{syms, counts[p]}
	}
	vocab := map[string]int32{}
	for b := range 256 {
		vocab[string(byteToRune[b])] = int32(b)
	}
	var merges [][2]string
	for len(vocab)+1 < size {
		pairs := map[[2]string]int{}
		for _, w := range words {
			for i := 0; i+1 < len(w.syms); i++ {
				pairs[[2]string{w.syms[i], w.syms[i+1]}] += w.count
			}
		}
		var best [2]string
		bestN := 1
		for p, n := range pairs {
			if n > bestN || (n == bestN && bestN > 1 && (p[0] < best[0] || (p[0] == best[0] && p[1] < best[1]))) {
				best, bestN = p, n
			}
		}
		if bestN < 2 {
			break
		}
		merged := best[0] + best[1]
		if _, ok := vocab[merged]; !ok {
			vocab[merged] = int32(len(vocab))
		}
		merges = append(merges, best)
		for wi := range words {
			syms := words[wi].syms
			out := syms[:0]
			for i := 0; i < len(syms); i++ {
				if i+1 < len(syms) && syms[i] == best[0] && syms[i+1] == best[1] {
					out = append(out, merged)
					i++
				} else {
					out = append(out, syms[i])
				}
			}
			words[wi].syms = out
		}
	}
	vocab[EndOfText] = int32(len(vocab))
	return New(vocab, merges)
}
