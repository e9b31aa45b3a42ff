package bpe_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	tiktoken "github.com/tiktoken-go/tokenizer"

	"github.com/execfeed/execfeed/lib/bpe"
)

// gpt2Files writes GPT-2's vocab.json and merges.txt into dir, derived from tiktoken-go's compiled
// r50k ranks (the ids are the ranks; the merge that makes a token is the split BPE reaches with
// the lower-ranked tokens only), the way Hugging Face converts tiktoken vocabularies.
func gpt2Files(t *testing.T, dir string) tiktoken.Codec {
	t.Helper()
	codec, err := tiktoken.Get(tiktoken.R50kBase)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50256
	tokens := make([]string, n)
	rank := make(map[string]int, n)
	for id := range n {
		s, err := codec.Decode([]uint{uint(id)})
		if err != nil {
			t.Fatal(err)
		}
		tokens[id], rank[s] = s, id
	}
	b2r := byteRunes()
	mapped := func(s string) string {
		var sb strings.Builder
		for i := range len(s) {
			sb.WriteRune(b2r[s[i]])
		}
		return sb.String()
	}
	vocab := map[string]int32{bpe.EndOfText: n}
	var merges strings.Builder
	merges.WriteString("#version: 0.2\n")
	for id, tok := range tokens {
		vocab[mapped(tok)] = int32(id)
		if len(tok) < 2 {
			continue
		}
		parts := make([]string, len(tok))
		for i := range len(tok) {
			parts[i] = tok[i : i+1]
		}
		for len(parts) > 2 {
			best, at := id, -1
			for i := 0; i+1 < len(parts); i++ {
				if r, ok := rank[parts[i]+parts[i+1]]; ok && r < best {
					best, at = r, i
				}
			}
			if at < 0 {
				break
			}
			parts = slices.Replace(parts, at, at+2, parts[at]+parts[at+1])
		}
		if len(parts) != 2 {
			t.Fatalf("token %d %q: no two-part merge (%q)", id, tok, parts)
		}
		merges.WriteString(mapped(parts[0]) + " " + mapped(parts[1]) + "\n")
	}
	writeJSON(t, filepath.Join(dir, "vocab.json"), vocab)
	if err := os.WriteFile(filepath.Join(dir, "merges.txt"), []byte(merges.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return codec
}

// byteRunes is GPT-2's bytes_to_unicode, written out independently of the package's.
func byteRunes() [256]rune {
	var out [256]rune
	var keep []int
	for b := '!'; b <= '~'; b++ {
		keep = append(keep, int(b))
	}
	for b := 0xA1; b <= 0xAC; b++ {
		keep = append(keep, b)
	}
	for b := 0xAE; b <= 0xFF; b++ {
		keep = append(keep, b)
	}
	n := 0
	for b := range 256 {
		if slices.Contains(keep, b) {
			out[b] = rune(b)
		} else {
			out[b] = rune(256 + n)
			n++
		}
	}
	return out
}

// corpus reads about limit bytes of Python source from Python's library directories on this
// machine (Go source from GOROOT where no Python is installed), files in walk order, skipping
// files that are not valid UTF-8.
func corpus(t *testing.T, limit int) []string {
	t.Helper()
	roots, _ := filepath.Glob("/usr/lib/python3*")
	ext := ".py"
	if len(roots) == 0 {
		roots, ext = []string{filepath.Join(runtime.GOROOT(), "src")}, ".go"
	}
	sort.Strings(roots)
	var texts []string
	total := 0
	for _, root := range roots {
		_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || total >= limit {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ext) {
				return nil
			}
			b, err := os.ReadFile(path)
			// Python 3 source is UTF-8; a file that is not (a Latin-1 test fixture) is not text
			// GPT-2 could have seen, and tiktoken-go replaces its bytes before splitting.
			if err == nil && utf8.Valid(b) {
				texts = append(texts, string(b))
				total += len(b)
			}
			return nil
		})
	}
	if total < limit/2 {
		t.Fatalf("corpus: only %d bytes of %s source under %v", total, ext, roots)
	}
	t.Logf("corpus: %d files, %d bytes of %s source from %v", len(texts), total, ext, roots)
	return texts
}

// TestGPT2Exact compares the tokenizer loaded from vocab.json + merges.txt with tiktoken-go's
// r50k_base (an independent implementation: a regexp2 pre-tokenizer and rank-based merging) on
// megabytes of Python source and on whitespace, newline and Unicode edge cases.
func TestGPT2Exact(t *testing.T) {
	dir := t.TempDir()
	codec := gpt2Files(t, dir)
	tok, err := bpe.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Size() != 50257 || tok.EOS != 50256 {
		t.Fatalf("size %d EOS %d, want 50257 and 50256", tok.Size(), tok.EOS)
	}
	limit := 12 << 20
	if testing.Short() {
		limit = 300 << 10
	}
	texts := append(corpus(t, limit),
		"", " ", "  ", "\n", "\n\n\n", "a  b", "a   \n  b", "x\t\ty", "   leading", "trailing   ",
		"def f(x):\n    return x  # comment\r\n\r\n", "don't I'll we've 'S 're", "naïve café 東京 1２3 🙂 ok",
		"\u00a0non\u2003breaking\u3000spaces", "x='s''t", "    \n\tif a:\n\t\tpass\n")
	tokens := 0
	for i, text := range texts {
		want, _, err := codec.Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		got := tok.Encode(text)
		tokens += len(got)
		if len(got) != len(want) || !equalIDs(got, want) {
			t.Fatalf("text %d (%d bytes): %d ids, tiktoken %d; first difference at %d\n%q",
				i, len(text), len(got), len(want), firstDiff(got, want), excerpt(text, got, want))
		}
		back, err := tok.Decode(got)
		if err != nil || back != text {
			t.Fatalf("text %d: decode does not give the text back (err %v)", i, err)
		}
	}
	t.Logf("%d texts, %d tokens identical to tiktoken r50k", len(texts), tokens)
}

func equalIDs(got []int32, want []uint) bool {
	for i := range got {
		if uint(got[i]) != want[i] {
			return false
		}
	}
	return true
}

func firstDiff(got []int32, want []uint) int {
	for i := range min(len(got), len(want)) {
		if uint(got[i]) != want[i] {
			return i
		}
	}
	return min(len(got), len(want))
}

// excerpt returns the text around the first differing token, for failure messages.
func excerpt(text string, got []int32, want []uint) string {
	i := firstDiff(got, want)
	at := 0
	for _, p := range bpe.Split(text) {
		if at >= len(text) || i <= 0 {
			break
		}
		at += len(p)
		i--
	}
	return text[max(0, at-40):min(len(text), at+40)]
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"Hello world", []string{"Hello", " world"}},
		{"a  b", []string{"a", " ", " b"}},
		{"x\n\n  y", []string{"x", "\n\n ", " y"}},
		{"end  ", []string{"end", "  "}},
		{"it's 42!!", []string{"it", "'s", " 42", "!!"}},
		{"\ty", []string{"\t", "y"}},
	} {
		if got := bpe.Split(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("Split(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

// TestTrain learns a small vocabulary, checks the first merges by hand, the round trip and
// that Save / Load keeps every id.
func TestTrain(t *testing.T) {
	texts := []string{"aaab aaab aaab", "ab ab", "a b + c *"}
	tok, err := bpe.Train(texts, 262)
	if err != nil {
		t.Fatal(err)
	}
	// Pieces: "aaab", " aaab" x2, "ab", " ab", "a", " b", " +", " c", " *". Pair counts:
	// (a, a) 2+4 = 6, (a, b) 1+2+1+1 = 5, (Ġ, a) 3: the first merge makes "aa".
	if got := tok.Symbol(256); got != "aa" {
		t.Errorf("first merged symbol %q, want aa", got)
	}
	// Four merges are learnt before no pair occurs twice: 256 bytes + 4 + EOS, below the 262
	// asked for.
	if tok.Size() != 261 || tok.EOS != 260 {
		t.Errorf("size %d EOS %d, want 261 and 260 (training stops when no pair repeats)", tok.Size(), tok.EOS)
	}
	for _, s := range append(texts, "unseen text ☃\n") {
		ids := tok.Encode(s)
		back, err := tok.Decode(ids)
		if err != nil || back != s {
			t.Errorf("round trip of %q gave %q (%v)", s, back, err)
		}
	}
	if n := len(tok.Encode(" aaab")); n >= 5 {
		t.Errorf("\" aaab\" takes %d ids after training, want fewer than its 5 bytes", n)
	}
	dir := t.TempDir()
	if err := tok.Save(dir); err != nil {
		t.Fatal(err)
	}
	again, err := bpe.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range texts {
		if a, b := tok.Encode(s), again.Encode(s); !slices.Equal(a, b) {
			t.Errorf("%q: %v before saving, %v after", s, a, b)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := bpe.Load(dir); err == nil || !strings.Contains(err.Error(), "neither vocab.json") {
		t.Errorf("empty directory: %v", err)
	}
	writeJSON(t, filepath.Join(dir, "tokenizer.json"), map[string]any{"model": map[string]any{"type": "Unigram"}})
	if _, err := bpe.Load(dir); err == nil || !strings.Contains(err.Error(), "Unigram") {
		t.Errorf("unigram tokenizer.json: %v", err)
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
