// Package bpe is GPT-2's byte-level byte-pair-encoding tokenizer (Radford et al., 2019): text is
// split into pieces by GPT-2's pre-tokenization pattern, each piece's UTF-8 bytes are mapped to
// printable characters, and the pair of adjacent symbols with the lowest merge rank is merged
// until no listed merge applies. Every string has an encoding (any byte is a base symbol).
//
// A Tokenizer reads a Hugging Face checkpoint's vocab.json + merges.txt or tokenizer.json with no
// network, and gives exactly GPT-2's ids (the r50k vocabulary), whitespace runs and newlines
// included. Train learns a small vocabulary of the same kind from a corpus, for models trained
// from scratch.
package bpe

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// EndOfText is GPT-2's end-of-document token, used as both BOS and EOS.
const EndOfText = "<|endoftext|>"

// Tokenizer is a byte-level BPE vocabulary: ids of symbols and the ranked merges.
type Tokenizer struct {
	vocab   map[string]int32 // byte-mapped symbol -> id
	symbols []string         // id -> byte-mapped symbol ("" for ids with none)
	ranks   map[[2]string]int
	merges  [][2]string
	special map[string]int32
	cache   map[string][]int32
	// EOS is the id of EndOfText (-1 when the vocabulary has none).
	EOS int32
}

// byteToRune is GPT-2's bijection from bytes to printable runes: printable Latin-1 bytes map to
// themselves, the other 68 bytes to U+0100 onwards, so that no symbol holds whitespace or a
// control character.
var byteToRune, runeToByte = byteMaps()

func byteMaps() ([256]rune, map[rune]byte) {
	var b2r [256]rune
	r2b := map[rune]byte{}
	n := 0
	for b := range 256 {
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		if printable {
			b2r[b] = rune(b)
		} else {
			b2r[b] = rune(256 + n)
			n++
		}
		r2b[b2r[b]] = byte(b)
	}
	return b2r, r2b
}

// mapBytes returns the byte-mapped form of s.
func mapBytes(s string) string {
	var sb strings.Builder
	for i := range len(s) {
		sb.WriteRune(byteToRune[s[i]])
	}
	return sb.String()
}

// New builds a tokenizer from a vocabulary (byte-mapped symbol -> id) and merges in rank order.
// Symbols of the form <|...|> are special: matched whole in Encode's input only by EncodeSpecial.
func New(vocab map[string]int32, merges [][2]string) (*Tokenizer, error) {
	t := &Tokenizer{vocab: vocab, ranks: make(map[[2]string]int, len(merges)), merges: merges,
		special: map[string]int32{}, cache: map[string][]int32{}, EOS: -1}
	maxID := int32(-1)
	for s, id := range vocab {
		if id < 0 {
			return nil, fmt.Errorf("bpe: symbol %q has negative id %d", s, id)
		}
		maxID = max(maxID, id)
	}
	t.symbols = make([]string, maxID+1)
	for s, id := range vocab {
		t.symbols[id] = s
		if strings.HasPrefix(s, "<|") && strings.HasSuffix(s, "|>") {
			t.special[s] = id
		}
	}
	for b := range 256 {
		if _, ok := vocab[string(byteToRune[b])]; !ok {
			return nil, fmt.Errorf("bpe: vocabulary lacks the base symbol of byte %#x", b)
		}
	}
	for i, m := range merges {
		if _, ok := vocab[m[0]+m[1]]; !ok {
			return nil, fmt.Errorf("bpe: merge %d (%q %q) makes a symbol that is not in the vocabulary", i+1, m[0], m[1])
		}
		if _, dup := t.ranks[m]; !dup {
			t.ranks[m] = i
		}
	}
	if id, ok := vocab[EndOfText]; ok {
		t.EOS = id
	}
	return t, nil
}

// Load reads the tokenizer of a checkpoint directory: vocab.json + merges.txt, or else
// tokenizer.json (a Hugging Face "BPE" model).
func Load(dir string) (*Tokenizer, error) {
	vocabPath, mergesPath := filepath.Join(dir, "vocab.json"), filepath.Join(dir, "merges.txt")
	if _, err := os.Stat(vocabPath); err == nil {
		return LoadFiles(vocabPath, mergesPath)
	}
	tj := filepath.Join(dir, "tokenizer.json")
	if _, err := os.Stat(tj); err == nil {
		return LoadTokenizerJSON(tj)
	}
	return nil, fmt.Errorf("bpe: %s has neither vocab.json + merges.txt nor tokenizer.json", dir)
}

// LoadFiles reads GPT-2's vocab.json and merges.txt.
func LoadFiles(vocabPath, mergesPath string) (*Tokenizer, error) {
	vb, err := os.ReadFile(vocabPath)
	if err != nil {
		return nil, fmt.Errorf("bpe: %w", err)
	}
	var vocab map[string]int32
	if err := json.Unmarshal(vb, &vocab); err != nil {
		return nil, fmt.Errorf("bpe: %s: %w", vocabPath, err)
	}
	mb, err := os.ReadFile(mergesPath)
	if err != nil {
		return nil, fmt.Errorf("bpe: %w", err)
	}
	var merges [][2]string
	for i, line := range strings.Split(string(mb), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || (i == 0 && strings.HasPrefix(line, "#version")) {
			continue
		}
		a, b, ok := strings.Cut(line, " ")
		if !ok || a == "" || b == "" || strings.Contains(b, " ") {
			return nil, fmt.Errorf("bpe: %s line %d: want two symbols separated by one space, got %q", mergesPath, i+1, line)
		}
		merges = append(merges, [2]string{a, b})
	}
	t, err := New(vocab, merges)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, vocabPath)
	}
	return t, nil
}

// LoadTokenizerJSON reads a Hugging Face tokenizer.json whose model is byte-level BPE; merges
// may be "a b" strings or ["a","b"] pairs. Added tokens join the vocabulary.
func LoadTokenizerJSON(path string) (*Tokenizer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bpe: %w", err)
	}
	var tj struct {
		Model struct {
			Type   string            `json:"type"`
			Vocab  map[string]int32  `json:"vocab"`
			Merges []json.RawMessage `json:"merges"`
		} `json:"model"`
		AddedTokens []struct {
			ID      int32  `json:"id"`
			Content string `json:"content"`
		} `json:"added_tokens"`
	}
	if err := json.Unmarshal(b, &tj); err != nil {
		return nil, fmt.Errorf("bpe: %s: %w", path, err)
	}
	if tj.Model.Type != "BPE" {
		return nil, fmt.Errorf("bpe: %s: model type %q is not supported (want BPE)", path, tj.Model.Type)
	}
	merges := make([][2]string, len(tj.Model.Merges))
	for i, raw := range tj.Model.Merges {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			a, b, ok := strings.Cut(s, " ")
			if !ok {
				return nil, fmt.Errorf("bpe: %s: merge %d %q is not two symbols", path, i+1, s)
			}
			merges[i] = [2]string{a, b}
			continue
		}
		var pair []string
		if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
			return nil, fmt.Errorf("bpe: %s: merge %d is neither \"a b\" nor [a, b]", path, i+1)
		}
		merges[i] = [2]string{pair[0], pair[1]}
	}
	for _, at := range tj.AddedTokens {
		tj.Model.Vocab[at.Content] = at.ID
	}
	t, err := New(tj.Model.Vocab, merges)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return t, nil
}

// Save writes vocab.json and merges.txt into dir, the files Load and Hugging Face read.
func (t *Tokenizer) Save(dir string) error {
	vb, err := json.Marshal(t.vocab)
	if err != nil {
		return fmt.Errorf("bpe: %w", err)
	}
	var sb strings.Builder
	sb.WriteString("#version: 0.2\n")
	for _, m := range t.merges {
		sb.WriteString(m[0] + " " + m[1] + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "vocab.json"), vb, 0o644); err != nil {
		return fmt.Errorf("bpe: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "merges.txt"), []byte(sb.String()), 0o644); err != nil {
		return fmt.Errorf("bpe: %w", err)
	}
	return nil
}

// Size is the number of ids (one more than the largest id).
func (t *Tokenizer) Size() int { return len(t.symbols) }

// Encode returns the ids of text. Special tokens in text are encoded as ordinary text, as
// tiktoken and Hugging Face do by default.
func (t *Tokenizer) Encode(text string) []int32 {
	var ids []int32
	for _, piece := range Split(text) {
		ids = append(ids, t.encodePiece(piece)...)
	}
	return ids
}

// encodePiece applies the merges to one pre-tokenized piece.
func (t *Tokenizer) encodePiece(piece string) []int32 {
	if ids, ok := t.cache[piece]; ok {
		return ids
	}
	mapped := mapBytes(piece)
	var ids []int32
	if id, ok := t.vocab[mapped]; ok {
		ids = []int32{id}
	} else {
		syms := make([]string, 0, len(piece))
		for _, r := range mapped {
			syms = append(syms, string(r))
		}
		for len(syms) > 1 {
			best, at := -1, -1
			for i := 0; i+1 < len(syms); i++ {
				if r, ok := t.ranks[[2]string{syms[i], syms[i+1]}]; ok && (best < 0 || r < best) {
					best, at = r, i
				}
			}
			if at < 0 {
				break
			}
			// Merge every occurrence of the best pair, left to right, as GPT-2's reference does.
			pair := [2]string{syms[at], syms[at+1]}
			out := syms[:0:0]
			for i := 0; i < len(syms); i++ {
				if i+1 < len(syms) && syms[i] == pair[0] && syms[i+1] == pair[1] {
					out = append(out, pair[0]+pair[1])
					i++
				} else {
					out = append(out, syms[i])
				}
			}
			syms = out
		}
		ids = make([]int32, len(syms))
		for i, s := range syms {
			ids[i] = t.vocab[s]
		}
	}
	if len(t.cache) < 1<<16 {
		t.cache[piece] = ids
	}
	return ids
}

// Decode returns the text of ids; ids outside the vocabulary are an error. Bytes that do not
// form valid UTF-8 are kept as they are.
func (t *Tokenizer) Decode(ids []int32) (string, error) {
	var sb strings.Builder
	for _, id := range ids {
		if id < 0 || int(id) >= len(t.symbols) || t.symbols[id] == "" {
			return "", fmt.Errorf("bpe: id %d is not in the vocabulary of %d", id, len(t.symbols))
		}
		s := t.symbols[id]
		if _, ok := t.special[s]; ok {
			sb.WriteString(s)
			continue
		}
		for _, r := range s {
			b, ok := runeToByte[r]
			if !ok {
				return "", fmt.Errorf("bpe: symbol %q of id %d is not byte-mapped", s, id)
			}
			sb.WriteByte(b)
		}
	}
	return sb.String(), nil
}

// Symbol returns the byte-mapped symbol of id ("" when it has none).
func (t *Tokenizer) Symbol(id int32) string {
	if id < 0 || int(id) >= len(t.symbols) {
		return ""
	}
	return t.symbols[id]
}

// ErrNoEOS is returned where a tokenizer without EndOfText is asked for it.
var ErrNoEOS = errors.New("bpe: the vocabulary has no " + EndOfText)

// Split cuts text into GPT-2's pre-tokenization pieces, the matches of
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// written out by hand because Go's regexp has no look-ahead. Invalid UTF-8 bytes count as
// "other" characters (U+FFFD is neither a letter, a number nor a space).
func Split(text string) []string {
	var out []string
	for i := 0; i < len(text); {
		n := matchAt(text, i)
		out = append(out, text[i:i+n])
		i += n
	}
	return out
}

// class of a rune for the pattern: letter, number, space or other.
const (
	letter = iota
	number
	space
	other
)

func classOf(r rune) int {
	switch {
	case unicode.IsLetter(r):
		return letter
	case unicode.IsNumber(r):
		return number
	case unicode.IsSpace(r):
		return space
	}
	return other
}

// runeAt decodes the rune at byte i (an invalid byte is one RuneError of width 1).
func runeAt(s string, i int) (rune, int) { return utf8.DecodeRuneInString(s[i:]) }

// matchAt returns the length of the pattern's match at byte i of s (always >= 1).
func matchAt(s string, i int) int {
	if s[i] == '\'' {
		for _, c := range []string{"s", "t", "re", "ve", "m", "ll", "d"} {
			if strings.HasPrefix(s[i+1:], c) {
				return 1 + len(c)
			}
		}
	}
	start := i
	r, w := runeAt(s, i)
	c := classOf(r)
	if r == ' ' && i+1 < len(s) {
		if r2, _ := runeAt(s, i+1); classOf(r2) != space {
			i++ // the optional leading space of ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
			r, w = runeAt(s, i)
			c = classOf(r)
		}
	}
	if c != space {
		for i < len(s) {
			r, w = runeAt(s, i)
			if classOf(r) != c {
				break
			}
			i += w
		}
		return i - start
	}
	// A whitespace run: all of it at the end of text; before a non-space, all but its last
	// character (\s+(?!\S)), or the single character when the run has only one (\s+).
	end := i
	last := i
	for end < len(s) {
		r, w = runeAt(s, end)
		if classOf(r) != space {
			break
		}
		last = end
		end += w
	}
	if end == len(s) || last == start {
		return end - start
	}
	return last - start
}
